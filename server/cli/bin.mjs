#!/usr/bin/env node
// Entry point of the `glassdome` command: loads the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

// `glassdome list | head -1`: a reader that closes the pipe early is not an error.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });

register();
const { main } = await import('./commands.ts');
process.exitCode = await main(process.argv.slice(2));
