// The demo's static HTTP server: the page and its instrumented programs from examples/browser/,
// and the runtime bundle at /lunatic-runtime.js. Loopback only, read-only, nothing outside
// those files is reachable. Used by serve.ts (npm run demo) and by test/browser.test.ts.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { projectRoot } from '../../src/project-root.js';

export const pageDir = join(projectRoot, 'examples', 'browser');
export const defaultBundle = join(projectRoot, 'dist', 'browser', 'lunatic-runtime.js');
const BUNDLE_URL = '/lunatic-runtime.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.c': 'text/plain; charset=utf-8',
  '.png': 'image/png',
};

export interface DemoServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The runtime bundle to serve (default dist/browser/lunatic-runtime.js). */
  bundle?: string;
}

export interface DemoServer {
  /** The page's address, e.g. http://127.0.0.1:8080/ */
  readonly url: string;
  close(): Promise<void>;
}

export function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const bundle = options.bundle ?? defaultBundle;
  const server = createServer((request, response) => {
    serve(request, response, bundle).catch(() => fail(response, 500, 'internal error'));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

async function serve(request: IncomingMessage, response: ServerResponse, bundle: string): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return fail(response, 405, 'only GET and HEAD');
  const path = decodedPath(request.url ?? '/');
  if (path === undefined) return fail(response, 400, 'malformed URL');
  const file = fileFor(path, bundle);
  const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
  if (!file || !info?.isFile()) return fail(response, 404, `not found: ${path}`);
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': info.size,
    'cache-control': 'no-store',
  });
  if (request.method === 'HEAD') return void response.end();
  createReadStream(file).pipe(response);
}

function decodedPath(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url, 'http://localhost').pathname);
  } catch {
    return undefined;
  }
}

/** The file behind a URL path, or undefined when it would leave the page directory. */
function fileFor(path: string, bundle: string): string | undefined {
  if (path === BUNDLE_URL) return bundle;
  if (path === `${BUNDLE_URL}.map`) return `${bundle}.map`;
  const file = normalize(join(pageDir, path.endsWith('/') ? `${path}index.html` : path));
  return file.startsWith(pageDir + sep) ? file : undefined;
}

function fail(response: ServerResponse, status: number, message: string): void {
  if (response.headersSent) return void response.destroy();
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${message}\n`);
}
