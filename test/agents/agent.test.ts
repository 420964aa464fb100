import { describe, expect, it } from 'vitest';
import { agentTransitions, buildBootMedia, installers, transition, type AgentState } from '../../server/agents/agent.ts';
import { osCatalog } from '../../server/orchestrator/catalog.ts';
import { AppError } from '../../server/errors.ts';
import { labScenario, machine, passwordsFor, planOf } from './lab-plan.ts';

const states: AgentState[] = ['idle', 'validating', 'running', 'completed', 'failed'];

describe('agent lifecycle', () => {
  it('walks idle -> validating -> running -> completed', () => {
    let s: AgentState = 'idle';
    for (const next of ['validating', 'running', 'completed'] as const) s = transition(s, next);
    expect(s).toBe('completed');
  });

  it('allows failing while validating or running', () => {
    expect(transition('validating', 'failed')).toBe('failed');
    expect(transition('running', 'failed')).toBe('failed');
  });

  it('rejects every move the table does not list, with an internal AppError naming both states', () => {
    let rejected = 0;
    for (const from of states)
      for (const to of states) {
        if (agentTransitions[from].includes(to)) continue;
        rejected++;
        try {
          transition(from, to);
          expect.unreachable(`${from} -> ${to} was allowed`);
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
          expect((e as AppError).code).toBe('internal');
          expect((e as AppError).message).toContain(`"${from}" to "${to}"`);
        }
      }
    expect(rejected).toBe(25 - 5);
  });

  it('treats completed and failed as final', () => {
    expect(agentTransitions.completed).toEqual([]);
    expect(agentTransitions.failed).toEqual([]);
    expect(() => transition('failed', 'running')).toThrow(/final/);
  });
});

describe('installer registry', () => {
  const plan = planOf(labScenario);
  const web = machine(plan, 'i1.web');
  const ctx = { networks: plan.networks, passwords: passwordsFor(web), instanceId: 'iid-1', secret: 's' };

  it('has an installer for every installer an OS entry can name', () => {
    for (const os of Object.values(osCatalog)) expect(installers[os.installer]).toBeTypeOf('function');
  });

  it('builds cloud-init media for a Linux machine', () => {
    const media = buildBootMedia(web, ctx);
    expect(media.kind).toBe('cloud-init');
    expect(media.userData.startsWith('#cloud-config\n')).toBe(true);
  });

  it('refuses Windows honestly instead of producing fake media', () => {
    const win = { ...web, os: 'windows-server-2022' };
    try {
      buildBootMedia(win, ctx);
      expect.unreachable('a Windows machine got boot media');
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      expect((e as AppError).code).toBe('invalid_input');
      expect((e as AppError).message).toMatch(/^Windows installs arrive with the Windows issue/);
      expect((e as AppError).message).toContain('"i1.web"');
    }
  });

  it('names the machine and the OS when the OS is unknown', () => {
    expect(() => buildBootMedia({ ...web, os: 'plan9' }, ctx)).toThrow(/machine "i1\.web": unknown OS "plan9"/);
  });
});
