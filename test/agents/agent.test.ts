import { describe, expect, it } from 'vitest';
import { buildBootMedia, installers } from '../../server/agents/agent.ts';
import { osCatalog } from '../../server/model/catalog.ts';
import { labScenario, machine, passwordsFor, planOf } from './lab-plan.ts';

describe('installer registry', () => {
  const plan = planOf(labScenario);
  const web = machine(plan, 'i1.web');
  const ctx = { passwords: passwordsFor(web), secret: 's' };

  it('has an installer for every installer an OS entry can name', () => {
    for (const os of Object.values(osCatalog)) expect(installers[os.installer]).toBeTypeOf('function');
  });

  it('builds cloud-init media for a Linux machine', () => {
    const media = buildBootMedia(plan, web, ctx);
    expect(media.kind).toBe('cloud-init');
    expect(media.userData.startsWith('#cloud-config\n')).toBe(true);
  });

  it('builds Windows media for a Windows machine: the first-boot script, started by cloudbase-init on premises', () => {
    const media = buildBootMedia(plan, { ...web, os: 'windows-server-2022' }, ctx);
    expect(media.kind).toBe('windows');
    if (media.kind !== 'windows') return;
    expect(media.via).toBe('cloudbase-init');
    expect(media.script).toContain('GLASSDOME-READY');
    expect(media.script).toContain('"resource":"gd-d1-i1-web"');
  });

  it('names the machine and the OS when the OS is unknown', () => {
    expect(() => buildBootMedia(plan, { ...web, os: 'plan9' }, ctx)).toThrow(/machine "i1\.web": unknown OS "plan9"/);
  });
});
