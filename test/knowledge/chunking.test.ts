import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  chunkContent,
  chunkDeployment,
  chunkMarkdown,
  chunkModule,
  chunkScenario,
  slugify,
} from '../../server/knowledge/chunking.ts';
import { fuseRanks } from '../../server/knowledge/fusion.ts';
import { ftsQuery } from '../../server/knowledge/keyword-index.ts';

const md = [
  'Preamble before any heading.',
  '',
  '# Guide',
  '',
  'Intro.',
  '',
  '## Install `it`',
  '',
  '```sh',
  '# a comment, not a heading',
  'npm start',
  '```',
  '',
  '### Details',
  'Deep text.',
  '',
  '## Install it',
  'Second section with the same anchor text.',
  '',
  '## Empty',
  '',
  '# Other top',
  'Top text.',
].join('\n');

describe('Markdown chunking', () => {
  const chunks = chunkMarkdown({ source: 'docs/guide.md', text: md });

  it('gives each section its heading path, and code fences do not open headings', () => {
    expect(chunks.map((c) => [c.headings, c.text])).toEqual([
      [[], 'Preamble before any heading.'],
      [['Guide'], 'Intro.'],
      [['Guide', 'Install it'], '```sh\n# a comment, not a heading\nnpm start\n```'],
      [['Guide', 'Install it', 'Details'], 'Deep text.'],
      [['Guide', 'Install it'], 'Second section with the same anchor text.'],
      [['Other top'], 'Top text.'],
    ]);
  });

  it('links each passage to its heading with the anchors GitHub gives, repeats numbered', () => {
    expect(chunks.map((c) => c.link)).toEqual([
      'docs/guide.md',
      'docs/guide.md#guide',
      'docs/guide.md#install-it',
      'docs/guide.md#details',
      'docs/guide.md#install-it-1',
      'docs/guide.md#other-top',
    ]);
    expect(slugify('Configuration: GLASSDOME_* (env)')).toBe('configuration-glassdome_-env');
  });

  it('takes the first heading as the title and embeds the heading path with the text', () => {
    expect(chunks.every((c) => c.title === 'Guide' && c.collection === 'docs' && c.source === 'docs/guide.md')).toBe(
      true,
    );
    expect(chunkContent(chunks[3]!)).toBe('Guide > Install it > Details\nDeep text.');
  });

  it('splits a long section at paragraph boundaries, every piece within the limit and nothing lost', () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} ${'word '.repeat(20).trim()}.`);
    const long = chunkMarkdown({ source: 'a.md', text: `# A\n\n${paragraphs.join('\n\n')}`, maxChars: 400 });
    expect(long.length).toBeGreaterThan(3);
    expect(long.every((c) => c.text.length <= 400 && c.headings[0] === 'A')).toBe(true);
    expect(long.map((c) => c.text).join('\n\n')).toBe(paragraphs.join('\n\n'));
  });

  it('cuts a single line longer than the limit at word boundaries', () => {
    const line = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    const pieces = chunkMarkdown({ source: 'a.md', text: line, maxChars: 100 });
    expect(pieces.every((c) => c.text.length <= 100)).toBe(true);
    expect(
      pieces
        .map((c) => c.text.trim())
        .join(' ')
        .split(/\s+/),
    ).toEqual(line.split(' '));
  });
});

describe('Scenario YAML chunking', () => {
  const yaml = fs.readFileSync('server/scenarios/example.yaml', 'utf8');
  const chunks = chunkScenario({ source: 'server/scenarios/example.yaml', yaml, maxChars: 800 });
  const lines = yaml.split('\n');

  it('keeps every line of the file, comments included, in order', () => {
    const kept = chunks.flatMap((c) => c.text.split('\n')).filter((l) => l.trim() !== '');
    expect(kept).toEqual(lines.filter((l) => l.trim() !== ''));
  });

  it('links each passage to the line it starts at', () => {
    for (const c of chunks) {
      const line = Number(/#L(\d+)$/.exec(c.link)![1]);
      expect(lines[line - 1]).toBe(c.text.split('\n')[0]);
    }
  });

  it('names the scenario in every passage and a long list section by item', () => {
    expect(
      chunks.every(
        (c) => c.title === 'Example range (every field, documented) (example)' && c.collection === 'scenarios',
      ),
    ).toBe(true);
    const machines = chunks
      .filter((c) => c.headings[1] === 'machines' && c.headings.length === 3)
      .map((c) => c.headings[2]);
    expect(machines.length).toBeGreaterThan(1);
    expect(machines).toContain('web');
  });

  it('indexes a file that does not parse, under its file name', () => {
    const broken = chunkScenario({ source: 'lib/broken.yaml', yaml: 'name: [unclosed\nmachines:\n  - name: a\n' });
    expect(broken.length).toBeGreaterThan(0);
    expect(broken[0]!.title).toBe('broken');
  });

  it('uses the link given for a library record', () => {
    const r = chunkScenario({
      source: 'scenario:web',
      yaml: 'glassdome: 1\nname: web\ntitle: Web\n',
      link: '/library/s1',
    });
    expect(r).toEqual([
      {
        collection: 'scenarios',
        source: 'scenario:web',
        title: 'Web (web)',
        headings: ['Web (web)'],
        link: '/library/s1#L1',
        text: 'glassdome: 1\nname: web\ntitle: Web',
      },
    ]);
  });
});

describe('Module and deployment chunking', () => {
  it('states a module’s facts, then its description', () => {
    const [c] = chunkModule({
      id: 'redis-noauth',
      title: 'Redis without authentication',
      category: 'network service',
      cwe: ['CWE-306'],
      os: { families: ['ubuntu', 'debian'] },
      description: 'Redis listens on all interfaces with no password.',
    });
    expect(c).toMatchObject({
      collection: 'modules',
      source: 'module:redis-noauth',
      headings: ['Redis without authentication'],
      link: 'module:redis-noauth',
    });
    expect(c!.text).toBe(
      'Category: network service\nCWE: CWE-306\nOS: ubuntu, debian\n\nRedis listens on all interfaces with no password.',
    );
  });

  it('gives each failure its own passage, with the fix when known, and the log in pieces', () => {
    const events = Array.from({ length: 60 }, (_, i) => ({
      at: `2025-01-01T00:00:${String(i).padStart(2, '0')}Z`,
      type: 'step.started',
      step: `m${i}`,
      message: 'started',
    }));
    const chunks = chunkDeployment(
      {
        id: 'd1',
        name: 'web-dmz',
        state: 'failed',
        error: 'one step failed',
        events,
        failures: [
          { step: 'create:web-1', target: 'web-1', reason: 'template 9000 not found', fix: 'import the template' },
        ],
      },
      500,
    );
    expect(chunks[0]!.text).toBe('Scenario web-dmz ended failed: one step failed');
    expect(chunks[1]).toMatchObject({
      headings: ['Deployment d1 of web-dmz', 'Failures', 'create:web-1'],
      text: 'Step create:web-1 on web-1 failed: template 9000 not found\nFix: import the template',
    });
    const log = chunks.filter((c) => c.headings[1] === 'Log');
    expect(log.length).toBeGreaterThan(2);
    expect(log.flatMap((c) => c.text.split('\n'))).toHaveLength(60);
  });
});

describe('Reciprocal rank fusion', () => {
  it('puts what both lists rank above what one ranks first', () => {
    const fused = fuseRanks([
      [1, 2, 3],
      [4, 2, 5],
    ]);
    expect(fused[0]).toMatchObject({ id: 2, ranks: [2, 2] });
    expect(fused[0]!.fused).toBeCloseTo(2 / 62);
    expect(fused.map((f) => f.id)).toEqual([2, 1, 4, 3, 5]);
  });

  it('counts an id once per list', () => {
    expect(fuseRanks([[7, 7, 8]])).toEqual([
      { id: 7, ranks: [1], fused: 1 / 61 },
      { id: 8, ranks: [3], fused: 1 / 63 },
    ]);
  });
});

describe('FTS5 query', () => {
  it('quotes every word so that nothing the user types is FTS5 syntax', () => {
    expect(ftsQuery('proxmox AND "token" -x NEAR(a b) *')).toBe(
      '"proxmox" OR "and" OR "token" OR "x" OR "near" OR "a" OR "b"',
    );
    expect(ftsQuery(' ?! ')).toBeUndefined();
  });
});
