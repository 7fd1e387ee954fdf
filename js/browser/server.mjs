// A small static server for the browser tests: the repository at /, the parity fixtures (read where they are,
// never copied into the repository) at /fixtures/, and /list/fixtures/<dir> giving a folder's files as JSON.
// Cross-origin isolation headers make SharedArrayBuffer (wasm threads) available to the page.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.txt': 'text/plain' };

function listFiles(dir, prefix = '') {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory()
    ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
}

// Resolves a URL path under `root`, refusing anything that escapes it.
function under(root, rel) {
  const p = path.resolve(root, '.' + path.posix.normalize('/' + decodeURIComponent(rel)));
  return p === root || p.startsWith(root + path.sep) ? p : null;
}

export function startServer({ root, fixtures }) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let file = null, list = false;
    if (url.pathname.startsWith('/list/fixtures/')) {
      file = under(fixtures, url.pathname.slice('/list/fixtures/'.length));
      list = true;
    } else if (url.pathname.startsWith('/fixtures/')) {
      file = under(fixtures, url.pathname.slice('/fixtures/'.length));
    } else {
      file = under(root, url.pathname.slice(1));
    }
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store' };
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404, headers).end(`not found: ${url.pathname}`);
      return;
    }
    if (list) {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(listFiles(file)));
      return;
    }
    if (fs.statSync(file).isDirectory()) {
      res.writeHead(404, headers).end(`${url.pathname} is a folder`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((r) => server.close(r)),
    }));
  });
}
