// The README's scenario examples are documentation users copy: they must stay valid.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateScenario } from '../server/orchestrator/scenario/parse.ts';

describe('README', () => {
  const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has scenario examples', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((b, i) => [i, b] as const))('scenario example %i validates', (_i, text) => {
    expect(validateScenario(text, 'README.md').issues).toEqual([]);
  });
});
