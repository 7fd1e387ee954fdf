// Serves a static folder (web/dist by default) on localhost with the headers websd needs: cross-origin isolation
// (COOP/COEP), without which browsers withhold SharedArrayBuffer and the engine's wasm threads, and the strict
// Content-Security-Policy the app is tested under. Range requests
// (resumed downloads) and ETags come from serve-static.
//   node scripts/serve.mjs [--port 8080] [--root DIR] [--mount /fixtures=DIR ...]
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import finalhandler from 'finalhandler';
import serveStatic from 'serve-static';

const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin' };

// The Content-Security-Policy the app runs under (README "Hosting the app"): its own scripts only (no inline script,
// no eval; WebAssembly compiled from its own websd.wasm), its own styles, workers and frames from nowhere else;
// fetches to any https origin (models and add-ons by URL) and to its own; pictures it draws (blob:, data:).
export const CSP = ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self'",
  "style-src 'self'", "img-src 'self' blob: data:", "connect-src 'self' https:", "object-src 'none'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ');
const HEADERS = { ...ISOLATION, 'Content-Security-Policy': CSP };

// Starts a server; `mounts` maps URL prefixes ('/fixtures') to folders. `onRequest(req, res)` sees every request
// first (tests count what was fetched) and may answer it itself by returning true. Resolves to { url, close }.
export function startServer({ root, port = 0, host = '127.0.0.1', mounts = {}, onRequest = null }) {
  const options = { index: ['index.html'], setHeaders: (res) => {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
    res.setHeader('Cache-Control', 'no-cache');
  } };
  const handlers = Object.entries(mounts).map(([prefix, dir]) => [prefix.replace(/\/$/, ''), serveStatic(dir, options)]);
  const main = serveStatic(root, options);
  const server = http.createServer((req, res) => {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
    if (onRequest?.(req, res)) return;
    const done = finalhandler(req, res);
    for (const [prefix, handler] of handlers) {
      if (req.url === prefix || req.url.startsWith(prefix + '/')) {
        req.url = req.url.slice(prefix.length) || '/';
        return handler(req, res, done);
      }
    }
    main(req, res, done);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, host, () => resolve({
      url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${server.address().port}`,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
    }));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT || '8080' },
    root: { type: 'string', default: path.join(web, 'dist') }, host: { type: 'string', default: '127.0.0.1' },
    mount: { type: 'string', multiple: true, default: [] } } });
  const mounts = Object.fromEntries(values.mount.map((m) => m.split('=')));
  const s = await startServer({ root: values.root, port: Number(values.port), host: values.host, mounts });
  console.log(`websd: serving ${values.root} at ${s.url}/  (Ctrl+C stops)`);
}
