// Runs the glassdome command in this process, as the shell would, and returns its exit code and both outputs.
import { Writable } from 'node:stream';
import { main } from '../../server/cli/commands.ts';

export async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({ write: (chunk, _enc, cb) => (append(String(chunk)), cb()) });
  const code = await main(
    argv,
    sink((s) => (out += s)),
    sink((s) => (err += s)),
  );
  return { code, out, err };
}
