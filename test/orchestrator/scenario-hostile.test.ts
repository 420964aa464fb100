// Scenario files as a careless or hostile user writes them: every problem at once, located, bounded in size and
// time, and none of them deploys anything.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { validateScenario } from '../../server/orchestrator/scenario/parse.ts';
import { limits } from '../../server/orchestrator/scenario/schema.ts';
import { testServices } from './helpers.ts';

const fixture = 'test/fixtures/scenarios/no-title-and-more.yaml';
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('a scenario with schema and cross-field problems', () => {
  it('reports both kinds together, each at its line, instead of stopping at the first kind', () => {
    const r = validateScenario(read(fixture), fixture);
    expect(r.scenario).toBeUndefined();
    expect(r.issues.map((i) => `${i.at?.line} ${i.path}`)).toEqual([
      '2 glassdome',
      '7 networks[1].name',
      '11 machines[0].colour',
      '14 machines[1].os',
      '15 machines[1].networks[0]',
      '16 machines[1].dependsOn',
    ]);
    expect(r.issues.at(-1)!.message).toBe('dependency cycle: db -> app -> db');
  });
});

describe('hostile files', () => {
  it('refuses an alias bomb with a located message, in bounded time', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const started = performance.now();
    const r = validateScenario(lines.join('\n'), 'bomb.yaml');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(r.issues).toEqual([
      { path: '', message: expect.stringContaining('alias bomb'), at: { file: 'bomb.yaml', line: 1, column: 1 } },
    ]);
  });

  it('refuses 1,500 levels of nesting with a message, not a stack overflow', () => {
    const text = `glassdome: 1\nname: deep\nx: ${'['.repeat(1500)}${']'.repeat(1500)}\n`;
    const r = validateScenario(text, 'deep.yaml');
    expect(r.scenario).toBeUndefined();
    expect(r.issues.length).toBeGreaterThan(0);
    expect(r.issues.every((i) => i.at?.file === 'deep.yaml')).toBe(true);
  });

  it('refuses a file over the size limit before parsing it, saying the limit', () => {
    const text = `glassdome: 1\n# ${'x'.repeat(limits.fileBytes)}\n`;
    const r = validateScenario(text, 'big.yaml');
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.message).toBe(
      `the file is ${Buffer.byteLength(text).toLocaleString('en')} bytes; a scenario may be at most 1,000,000`,
    );
  });

  it('reports the first problems of a file full of them and counts the rest', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `junk${i}: 1`).join('\n');
    const r = validateScenario(
      `glassdome: 1\nname: junk\nnetworks: [{ name: lan }]\nmachines: [{ name: web, networks: [lan] }]\n${keys}\n`,
      'junk.yaml',
    );
    expect(r.issues).toHaveLength(limits.reportedIssues + 1);
    expect(r.issues.at(-1)!.message).toBe(`... and ${5000 - limits.reportedIssues} more problems (fix these first)`);
  });

  it('deploys none of them: nothing is stored and no pool is touched', () => {
    const s = testServices();
    const bad = [
      read(fixture),
      read('test/fixtures/scenarios/five-problems.yaml'),
      'glassdome: 1\nname: x\nnetworks: []\nmachines: []\n',
      'a: &a [1]\nb: [*a,*a]\n'.repeat(1),
      'not: [valid',
    ];
    try {
      for (const yaml of bad)
        expect(() => createDeployment(s, { yaml, file: 'bad.yaml', platform: 'simulator' })).toThrow(
          /Invalid scenario|scenario/,
        );
      expect(s.db.$client.prepare('SELECT count(*) AS n FROM deployments').get()).toEqual({ n: 0 });
      expect(s.db.$client.prepare('SELECT count(*) AS n FROM subnet_allocations').get()).toEqual({ n: 0 });
    } finally {
      void s.close();
    }
  });
});
