#!/usr/bin/env node
// The lunatic-instrument executable. The CLI lives in src/cli (compiled to dist/ by `npm install`).
const { main } = await import('../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
