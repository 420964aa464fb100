import { createAwsPlatform } from '../../../server/platforms/aws/driver.ts';
import { testPlatform } from '../conformance.ts';
import { locateMoto, startMoto } from '../moto.ts';

testPlatform(
  'aws (moto)',
  async () => {
    const located = await locateMoto();
    if ('skip' in located) return { skip: located.skip };
    const moto = await startMoto(located.python);
    return {
      platform: createAwsPlatform(
        {
          region: 'eu-west-1',
          accessKeyId: 'AKIATESTTESTTEST0000',
          endpoint: moto.endpoint,
          poll: { minMs: 50, maxMs: 200 },
        },
        { secret: 'test-secret' },
      ),
      deploymentId: 'conf1',
      machine: { os: 'ubuntu-22.04' },
      waitMs: 10_000,
      cleanup: () => moto.stop(),
    };
  },
  {
    'reports what it can still hold':
      'EC2 has no free-capacity figure to read; vCPU quotas and instance-type capacity are checked when each instance launches (and reported with the machine)',
    'runs a program in the guest: exit code and output, a non-zero exit being a result':
      'EC2 has no channel into the guest; readiness comes from the console output',
    'starts a machine, reports its address and readiness':
      'moto answers GetConsoleOutput with a fixed text, so no first-boot line can ever appear; start and address are covered in aws/driver.test.ts, readiness in aws/readiness.test.ts through a proxy that plays the guest console',
  },
);
