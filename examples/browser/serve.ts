// `npm run demo`: serves the browser demo on http://127.0.0.1:PORT/ (default 8080, or
// `--port N` / PORT) until Ctrl-C. The runtime bundle must exist: npm run build makes it.
import { existsSync } from 'node:fs';
import { defaultBundle, startDemoServer } from './server.js';

function portFromCommandLine(): number {
  const flag = process.argv.indexOf('--port');
  const text = flag >= 0 ? process.argv[flag + 1] : process.env.PORT;
  const port = Number(text ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`serve: bad port "${text}": give a whole number from 0 to 65535\n`);
    process.exit(2);
  }
  return port;
}

async function main(): Promise<void> {
  if (!existsSync(defaultBundle)) {
    process.stderr.write(`serve: ${defaultBundle} is missing: run npm run build first\n`);
    process.exit(1);
  }
  try {
    const server = await startDemoServer({ port: portFromCommandLine() });
    process.stdout.write(`lunatic-instrument browser demo: ${server.url} (Ctrl-C stops)\n`);
  } catch (error) {
    process.stderr.write(`serve: cannot listen: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

void main();
