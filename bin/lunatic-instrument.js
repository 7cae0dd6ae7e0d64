#!/usr/bin/env node
// The lunatic-instrument executable. The CLI lives in src/cli (compiled to dist/ by `npm install`,
// and bundled into one file that starts sooner: scripts/bundle-cli.ts; the modules if it is not there).
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+ keeps V8's compiled code of the CLI on disk (where NODE_COMPILE_CACHE says, else in
// the temporary directory), so a later start does not compile it again: 10 ms of every command.
module.enableCompileCache?.();

const bundle = new URL('../dist/src/cli.bundle.js', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
