// The layering rules of ARCHITECTURE.md, checked on the import graph of server/ and views/ (type imports included):
// no cycles, and each layer imports only what its rule allows. A new file that breaks a rule fails here by name.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const importPattern = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return /\.(ts|tsx|mjs)$/.test(e.name) ? [rel] : [];
  });
}

/** file -> the project files it imports (relative imports only; packages and node: builtins are not layers). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles('server'), ...sourceFiles('views')]) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(importPattern)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) targets.push(path.normalize(path.join(path.dirname(file), spec)));
    }
    graph.set(file, targets);
  }
  return graph;
}

const graph = importGraph();
const under = (file: string, ...dirs: string[]) => dirs.some((d) => file === d || file.startsWith(`${d}/`));

/** Every import of a file under `from` that is not under one of `allowed`. */
function violations(from: string, allowed: string[]): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph)
    if (under(file, from)) for (const t of targets) if (!under(t, ...allowed)) out.push(`${file} -> ${t}`);
  return out;
}

describe('the import graph', () => {
  it('reads every source file and finds imports in it', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('server/app.ts')).toContain('server/web/routes/api-routes.ts');
  });

  it('has no import cycles, type imports included', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, stack: string[]) => {
      state.set(file, 'open');
      for (const t of graph.get(file) ?? []) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
        else if (!state.has(t) && graph.has(t)) visit(t, [...stack, t]);
      }
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file, [file]);
    expect(cycles).toEqual([]);
  });

  it('keeps server/model at the ground floor: types and tables, importing only itself and the error type', () => {
    expect(violations('server/model', ['server/model', 'server/errors.ts'])).toEqual([]);
  });

  it('keeps views to props in, HTML out: views import only views/ and server/model', () => {
    expect(violations('views', ['views', 'server/model'])).toEqual([]);
  });

  it('keeps agents pure: they import model, errors, address arithmetic and each other', () => {
    expect(
      violations('server/agents', ['server/agents', 'server/model', 'server/errors.ts', 'server/ipam/cidr.ts']),
    ).toEqual([]);
  });

  it('keeps platforms ignorant of scenarios, plans, accounts and screens', () => {
    expect(
      violations('server/platforms', [
        'server/platforms',
        'server/model',
        'server/errors.ts',
        'server/db',
        'server/secret-box.ts',
      ]),
    ).toEqual([]);
  });

  it('keeps the knowledge base, the research agent, the SSH layer and the reaper self-contained', () => {
    const shared = ['server/model', 'server/errors.ts', 'server/platforms/shared'];
    expect(violations('server/knowledge', ['server/knowledge', ...shared])).toEqual([]);
    expect(violations('server/research', ['server/research', ...shared])).toEqual([]);
    expect(violations('server/ssh', ['server/ssh', ...shared])).toEqual([]);
    expect(violations('server/reaper', ['server/reaper', ...shared, 'server/agents/credentials.ts'])).toEqual([]);
  });

  it('keeps ipam and db below the orchestrator', () => {
    expect(violations('server/ipam', ['server/ipam', 'server/model', 'server/errors.ts', 'server/db'])).toEqual([]);
    expect(violations('server/db', ['server/db', 'server/model'])).toEqual([]);
  });

  it('keeps the domain free of screens: orchestrator, accounts and access never import web, views or cli', () => {
    const screens = ['server/web', 'views', 'server/cli', 'server/app.ts', 'server/main.ts'];
    const bad = [...graph].flatMap(([file, targets]) =>
      under(file, 'server/orchestrator', 'server/accounts', 'server/access')
        ? targets.filter((t) => under(t, ...screens)).map((t) => `${file} -> ${t}`)
        : [],
    );
    expect(bad).toEqual([]);
  });

  it('keeps the overseer above the domain and below the screens: the orchestrator never imports it, it never imports web, views or cli', () => {
    expect(
      violations('server/overseer', [
        'server/overseer',
        'server/model',
        'server/errors.ts',
        'server/db',
        'server/orchestrator',
        'server/platforms',
        'server/agents',
        'server/ssh',
      ]),
    ).toEqual([]);
    const up = [...graph].flatMap(([file, targets]) =>
      under(file, 'server/orchestrator', 'server/accounts', 'server/platforms')
        ? targets.filter((t) => under(t, 'server/overseer')).map((t) => `${file} -> ${t}`)
        : [],
    );
    expect(up).toEqual([]);
  });

  it('keeps web off the database: web imports no server/db module and runs no SQL', () => {
    expect(
      violations('server/web', [
        'server/web',
        'server/model',
        'server/errors.ts',
        'server/orchestrator',
        'server/accounts',
        'server/access',
        'server/platforms',
        'server/services.ts',
        'server/tls.ts',
        'views',
      ]),
    ).toEqual([]);
    const sql = [...graph.keys()].filter(
      (f) => under(f, 'server/web') && /\$client|\.prepare\(/.test(fs.readFileSync(path.join(root, f), 'utf8')),
    );
    expect(sql).toEqual([]);
  });

  it('leaves auditing to the domain: nothing under server/web or server/cli writes the audit log itself', () => {
    const writers = [...graph.keys()].filter(
      (f) =>
        under(f, 'server/web', 'server/cli') && /audit\.record\(/.test(fs.readFileSync(path.join(root, f), 'utf8')),
    );
    expect(writers).toEqual([]);
  });

  it('keeps the CLI on the domain: it never imports web or views', () => {
    expect(
      violations('server/cli', [
        'server/cli',
        'server/model',
        'server/errors.ts',
        'server/orchestrator',
        'server/accounts',
        'server/access',
        'server/platforms',
        'server/config.ts',
        'server/services.ts',
        'server/ipam',
      ]),
    ).toEqual([]);
  });
});
