// The Debian packages the offline bundle collects are what first boot installs from the package cache.
import { describe, expect, it } from 'vitest';
import { debianPackages } from '../../offline-bundle/sources.ts';
import { qemuGuestAgent, vmwareTools } from '../../server/agents/cloud-init.ts';
import { routerSetup } from '../../server/agents/lab-router.ts';
import { defaultCatalogue, templatePackages } from '../../server/reaper/catalogue.ts';
import { machine, offlineScenario, planOf } from '../agents/lab-plan.ts';

describe("the offline bundle's Debian packages", () => {
  it("hold the guest agents, a router's packages and every package the vulnerability modules install on Debian 12", () => {
    const router = machine(planOf(offlineScenario), 'i1.router');
    const vpnKeys = { privateKey: 'k', peers: {} };
    const withVpn = {
      ...router,
      router: {
        ...router.router!,
        vpn: { ifname: 'wg-i1', port: 51820, cidr: '100.64.0.0/24', address: '100.64.0.1', peers: [] },
      },
    };
    const wanted = [
      qemuGuestAgent.package,
      vmwareTools.package,
      ...routerSetup(withVpn, vpnKeys).packages,
      ...templatePackages(defaultCatalogue(), 'debian-12'),
    ];
    expect(wanted).toContain('wireguard-tools');
    expect(wanted).toContain('vsftpd');
    expect([...debianPackages.packages].sort()).toEqual([...new Set(wanted)].sort());
  });
});
