// Builds the static site into web/dist/: the page and the engine Worker bundled by esbuild, the HTML and CSS, and
// websd.js/.wasm/.worker.js from the wasm build (cmake --preset wasm-release). Models to offer on the page:
//   node scripts/build.mjs --model NAME=PACK_DIR [--card NAME=CARD.json] [--model NAME=DIR ...]
// links each pack (websd convert makes them) as dist/models/NAME/ and lists it, in the order given, in
// dist/models/index.json, with what its card says (CARD.json: {"description", "examples": [prompts]}; the demo
// model's is models/websd-shapes.card.json). Links keep multi-GB packs out of the copy; a static host needs the
// pack copied in their place.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { drawIcon } from './icon.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(web, 'dist');
const wasmDir = process.env.WEBSD_WASM_DIR || path.join(web, '../build/wasm-release/src/wasm');

const { values } = parseArgs({ options: { model: { type: 'string', multiple: true, default: [] },
  card: { type: 'string', multiple: true, default: [] } } });
const cards = {};
for (const spec of values.card) {
  const [name, file] = spec.split('=');
  try {
    const card = JSON.parse(fs.readFileSync(file, 'utf8'));
    cards[name] = { description: String(card.description ?? ''), examples: (card.examples ?? []).map(String) };
  } catch (e) {
    console.error(`web build: --card ${spec}: expected NAME=FILE with a JSON model card (${e.message})`);
    process.exit(1);
  }
}

const engineFiles = ['websd.js', 'websd.wasm', 'websd.worker.js'];
for (const f of engineFiles) {
  if (!fs.existsSync(path.join(wasmDir, f))) {
    console.error(`web build: ${path.join(wasmDir, f)} is missing: build the engine first ` +
      '(cmake --preset wasm-release && cmake --build --preset wasm-release), or set WEBSD_WASM_DIR');
    process.exit(1);
  }
}

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
const common = { bundle: true, target: 'es2022', sourcemap: true, minify: true, logLevel: 'warning' };
await esbuild.build({ ...common, entryPoints: [path.join(web, 'src/main.ts')], format: 'esm',
  outfile: path.join(dist, 'app.js') });
// A classic Worker: it loads emscripten's websd.js with importScripts.
await esbuild.build({ ...common, entryPoints: [path.join(web, 'src/worker/engine-worker.ts')], format: 'iife',
  outfile: path.join(dist, 'engine-worker.js') });
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(web, 'src', f), path.join(dist, f));
for (const f of engineFiles) fs.copyFileSync(path.join(wasmDir, f), path.join(dist, f));
fs.copyFileSync(path.join(web, 'src/catalogue/models.json'), path.join(dist, 'catalogue.json'));
// Installable: the web app manifest and its icons.
for (const size of [192, 512]) fs.writeFileSync(path.join(dist, `icon-${size}.png`), drawIcon(size));
fs.writeFileSync(path.join(dist, 'manifest.webmanifest'), JSON.stringify({
  name: 'websd — Stable Diffusion in your browser', short_name: 'websd',
  description: 'Private, offline image generation on your own GPU: nothing leaves the browser.',
  start_url: './', scope: './', display: 'standalone', background_color: '#16181d', theme_color: '#3b6fd8',
  icons: [192, 512].map((size) => ({ src: `icon-${size}.png`, sizes: `${size}x${size}`, type: 'image/png', purpose: 'any maskable' })),
}, null, 2));
// Offline: the service worker keeps these files (the app shell) under a version made of their contents, so a new
// build is a new version and an unchanged one is not.
const shell = ['index.html', 'style.css', 'app.js', 'engine-worker.js', ...engineFiles, 'catalogue.json', 'manifest.webmanifest',
  'icon-192.png', 'icon-512.png', 'models/index.json'];

const models = [];
for (const spec of values.model) {
  const [name, dir] = spec.split('=');
  if (!name || !dir || !fs.existsSync(path.join(dir, 'manifest.json'))) {
    console.error(`web build: --model ${spec}: expected NAME=PACK_DIR with PACK_DIR/manifest.json (websd convert makes one)`);
    process.exit(1);
  }
  fs.mkdirSync(path.join(dist, 'models'), { recursive: true });
  fs.symlinkSync(path.resolve(dir), path.join(dist, 'models', name));
  models.push({ name, url: `models/${name}/manifest.json`, ...cards[name] });
}
fs.mkdirSync(path.join(dist, 'models'), { recursive: true });
fs.writeFileSync(path.join(dist, 'models/index.json'), JSON.stringify(models, null, 2));
const hash = crypto.createHash('sha256');
for (const f of shell) hash.update(f).update(fs.readFileSync(path.join(dist, f)));
const version = hash.digest('hex').slice(0, 16);
await esbuild.build({ ...common, entryPoints: [path.join(web, 'src/worker/service-worker.ts')], format: 'iife',
  outfile: path.join(dist, 'sw.js'), define: { WEBSD_SHELL: JSON.stringify(shell), WEBSD_VERSION: JSON.stringify(version) } });
const size = fs.readdirSync(dist).reduce((n, f) => n + (fs.statSync(path.join(dist, f)).isFile() ? fs.statSync(path.join(dist, f)).size : 0), 0);
console.log(`web build: ${dist} (version ${version}, ${(size / 2 ** 20).toFixed(1)} MiB${models.length ? `, models: ${models.map((m) => m.name).join(', ')}` : ''})`);
