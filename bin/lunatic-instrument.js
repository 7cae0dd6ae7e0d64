#!/usr/bin/env node
// The lunatic-instrument executable. The CLI lives in src/cli (compiled to dist/ by `npm install`).
import module from 'node:module';

// Node 22.1+ can keep V8's compiled code of the modules it loads between runs (in the system's
// temporary directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off). binaryen.js is 14 MB of
// JavaScript, so a build that instruments many modules starts each one faster. Node 20 has no
// such cache: nothing changes there.
module.enableCompileCache?.();
const { main } = await import('../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
