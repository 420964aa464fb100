#!/usr/bin/env node
// Entry point of the `glassdome` command: loads the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./commands.ts');
process.exitCode = await main(process.argv.slice(2));
