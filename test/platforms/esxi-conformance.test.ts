import { createEsxiPlatform } from '../../server/platforms/esxi/driver.ts';
import { testPlatform } from './conformance.ts';
import { localWsdl, locateVcsim, startVcsim } from './vcsim.ts';

testPlatform(
  'esxi (vcsim)',
  async () => {
    const located = await locateVcsim();
    const wsdl = localWsdl();
    if ('skip' in located) return { skip: located.skip };
    if (!wsdl) return { skip: 'the vim25 WSDL was not found (set GLASSDOME_VIM25_WSDL)' };
    const sim = await startVcsim(located.binary, { guestIp: '10.78.0.0/24' });
    return {
      platform: createEsxiPlatform(
        {
          host: sim.host,
          port: sim.port,
          username: sim.username,
          tls: { caFile: sim.certFile },
          templates: { 'debian-12': 'vm1' },
        },
        { wsdl, secret: sim.password },
      ),
      deploymentId: 'conf1',
      machine: { os: 'debian-12' },
      waitMs: 15_000,
      cleanup: () => sim.stop(),
    };
  },
  {
    'runs a program in the guest: exit code and output, a non-zero exit being a result':
      'the ESXi driver has no guestExec: VMware Tools guest operations are not implemented (supports.guestExec is false)',
  },
);
