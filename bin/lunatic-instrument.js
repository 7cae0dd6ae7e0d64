#!/usr/bin/env node
// The lunatic-instrument executable. The CLI lives in src/cli (compiled to dist/ by `npm install`,
// and bundled into one file that starts sooner: scripts/bundle-cli.ts; the modules if it is not there).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/src/cli.bundle.js', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
