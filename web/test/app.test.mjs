// The browser app end to end in headless Chromium (SwiftShader WebGPU), as a user drives it: load the tiny-sd1
// pack by URL (a download cut short resumes), type the fixture's prompt, pick schedulers, generate, and compare
// the canvas with diffusers' image (2 levels); cancel and generate again; PNG info from websd's own PNG and the web
// UI's; the gallery kept across reloads, deleted, zipped; offline on an origin of its own (service worker), and an
// update announced; reload and load from the cache with the
// network cut; damage a cached shard and see it fetched again; run without WebGPU on the CPU fallback, from a
// diffusers folder URL; the demo model, offered first, draws an example prompt; img2img from a picked image;
// scheduler options from a link; a GPU lost mid-generation, recovered from without a reload; every page under the
// strict Content-Security-Policy (web/scripts/serve.mjs), with
// nothing blocked.
// Screenshots land in web/test-results/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launchChromium } from '../../js/browser/chromium.mjs';
import { fixture, readReferenceJson } from '../../js/test/fixtures.mjs';
import { compareImages } from '../../js/test/image-compare.mjs';
import { readSafetensors } from '../../js/test/safetensors.mjs';
import { decodePng, encodePng, readPngText } from '../../js/lib/png.mjs';
import { unzipSync } from 'fflate';
import { startServer } from '../scripts/serve.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const results = path.join(web, 'test-results');
const websd = path.join(web, '../build/native-release/src/websd');
const reference = readReferenceJson('tiny-sd1');
const tensors = readSafetensors(fixture('tiny-sd1/reference.safetensors'));
const TIMEOUT = 10 * 60 * 1000;

let server, browser, context, page, packDir;
const requests = [];       // { path, range } of every request the server saw
let cutShardOnce = false;  // the next shard response stops halfway
let holdShardOnce = null;  // set to a function: the next shard response sends 4 MiB, then waits for it to be called

before(async () => {
  assert.ok(fs.existsSync(path.join(web, 'dist/index.html')), 'web/dist is missing: run `npm run build` in web/ first');
  assert.ok(fs.existsSync(websd), `${websd} is missing: build the native tool first (scripts/test.sh does)`);
  fs.mkdirSync(results, { recursive: true });
  packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-pack-'));
  execFileSync(websd, ['convert', fixture('tiny-sd1/model'), '-o', path.join(packDir, 'tiny-sd1')], { stdio: 'pipe' });
  server = await startServer({ root: path.join(web, 'dist'),
    mounts: { '/packs': packDir, '/fixtures': fixture('.') },
    onRequest: (req, res) => {
      requests.push({ path: decodeURIComponent(req.url), range: req.headers.range ?? '' });
      // A model repository as Hugging Face lays one out: /OWNER/NAME/resolve/main/PATH answers with a redirect to
      // where the file is stored (here the fixture's folder), and CORS headers on both.
      const hub = /^\/hub\/websd-test\/tiny-sd1\/resolve\/main\/(.*)$/.exec(req.url);
      if (hub) {
        res.writeHead(302, { Location: `/fixtures/tiny-sd1/model/${hub[1]}`, 'Access-Control-Allow-Origin': '*' });
        res.end();
        return true;
      }
      if (holdShardOnce && req.url.endsWith('.safetensors') && !req.headers.range) {
        const file = fs.readFileSync(path.join(packDir, decodeURIComponent(req.url).replace(/^\/packs\//, '')));
        res.writeHead(200, { 'Content-Length': file.length, 'Content-Type': 'application/octet-stream' });
        res.write(file.subarray(0, 4 << 20));
        const arrived = holdShardOnce;
        holdShardOnce = null;
        arrived(() => res.end(file.subarray(4 << 20)));
        return true;
      }
      if (cutShardOnce && req.url.endsWith('.safetensors') && !req.headers.range) {
        cutShardOnce = false;
        // Send the first part of the file, then drop the connection: the download must resume from there.
        const file = fs.readFileSync(path.join(packDir, decodeURIComponent(req.url).replace(/^\/packs\//, '')));
        res.writeHead(200, { 'Content-Length': file.length, 'Content-Type': 'application/octet-stream' });
        res.write(file.subarray(0, file.length >> 1), () => setTimeout(() => res.destroy(), 100));
        return true;
      }
      return false;
    } });
  browser = await launchChromium();
  // No service worker in the main context: page.route (used below) does not see what one answers. The offline test
  // runs the app with its service worker in a context and on an origin of its own.
  context = await watchCsp(await browser.newContext({ serviceWorkers: 'block' }));
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`  page ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (packDir) fs.rmSync(packDir, { recursive: true, force: true });
});

// Every page of `ctx` records what the server's Content-Security-Policy (serve.mjs CSP) blocked, in
// window.cspViolations: the app must run under it untouched.
async function watchCsp(ctx) {
  await ctx.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return ctx;
}

async function expectNoCspViolations(p) {
  const header = (await p.request.get(p.url())).headers()['content-security-policy'] ?? '';
  assert.match(header, /script-src 'self' 'wasm-unsafe-eval'/, 'the page is served under the strict CSP');
  assert.deepEqual(await p.evaluate(() => window.cspViolations), [], 'nothing the CSP blocks');
}

const state = (p = page) => p.evaluate(() => document.getElementById('app').dataset.state);

async function waitForState(states, p = page) {
  await p.waitForFunction((s) => s.includes(document.getElementById('app').dataset.state) &&
    !document.getElementById('message').textContent.startsWith('Starting'), states, { timeout: TIMEOUT, polling: 250 });
  return state(p);
}

async function canvasRgb(p = page) {
  return p.evaluate(() => {
    const c = document.getElementById('result');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const rgb = [];
    for (let i = 0; i < d.length; i += 4) rgb.push(d[i], d[i + 1], d[i + 2]);
    return { width: c.width, height: c.height, rgb };
  });
}

async function expectFixtureImage(scheduler, p = page) {
  const got = await canvasRgb(p);
  assert.deepEqual([got.width, got.height], [reference.width, reference.height], 'canvas at the native size');
  const r = compareImages(Uint8Array.from(got.rgb), tensors.get(`${scheduler}/image_u8`).data);
  console.log(`  ${scheduler}: ${r.summary}`);
  assert.ok(r.ok, `${scheduler}: ${r.summary}`);
}

async function fillFixtureSettings(scheduler, steps = reference.steps) {
  await page.fill('#prompt', reference.prompt);
  await page.fill('#negative-prompt', reference.negative_prompt);
  await page.fill('#seed', String(reference.seed));
  await page.check('#seed-lock');
  await page.fill('#steps', String(steps));
  await page.fill('#guidance', '7.5');
  await page.selectOption('#scheduler', scheduler);
}

async function generate(scheduler) {
  await fillFixtureSettings(scheduler);
  await page.click('#generate');
  assert.equal(await waitForState(['done', 'error']), 'done', await page.textContent('#message'));
  await expectFixtureImage(scheduler);
}

const shot = (name, p = page) => p.screenshot({ path: path.join(results, `${name}.png`), fullPage: true });

test('a pack loads by URL (an interrupted download resumes) and draws the pndm and euler_a images', { timeout: TIMEOUT }, async () => {
  await page.goto(`${server.url}/`);
  await waitForState(['idle']);
  assert.match(await page.textContent('#no-model'), /websd convert/);
  await shot('01-start');
  cutShardOnce = true;
  await page.fill('#model-url', `${server.url}/packs/tiny-sd1/manifest.json`);
  await page.click('#load');
  assert.equal(await waitForState(['idle', 'error']), 'error', 'the cut connection fails the first load');
  console.log(`  cut download: ${await page.textContent('#message')}`);
  await page.click('#load');
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  assert.ok(requests.some((r) => r.path.endsWith('shard-00000.safetensors') && /^bytes=[1-9]\d*-$/.test(r.range)),
    'the second load resumed the shard with a Range request');
  assert.match(await page.textContent('#model-info'), /sd1, .* 64×64, on the GPU/);
  await generate('pndm');
  await shot('02-pndm');
  await generate('euler_a');
  // The PNG download carries the pixels and the parameters.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const png = fs.readFileSync(await download.path());
  const r = compareImages(decodePng(png).rgb, tensors.get('euler_a/image_u8').data);
  assert.ok(r.ok, `downloaded PNG: ${r.summary}`);
  assert.match(png.toString('latin1'), /tEXtparameters\0a photo of an astronaut riding a horse on mars\nNegative prompt: blurry, low quality\nSteps: 5, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 64x64/);
  assert.equal(await page.locator('#gallery li').count(), 2);
  await expectNoCspViolations(page);
});

// The browser's storage fills up in the middle of a shard (the origin's quota lowered by CDP while it downloads):
// the load stops with what to do, what arrived is kept, and once there is room Load resumes it and the model draws.
test('storage that fills up during a download: a clear message, and the download resumes once there is room', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    await p.goto(`${server.url}/`);
    await waitForState(['idle'], p);
    const cdp = await ctx.newCDPSession(p);
    const release = new Promise((resolve) => { holdShardOnce = resolve; });
    await p.fill('#model-url', `${server.url}/packs/tiny-sd1/manifest.json`);
    await p.click('#load');
    const rest = await release;  // 4 MiB of the shard are on their way
    await new Promise((r) => setTimeout(r, 500));
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url, quotaSize: 5 << 20 });
    rest();
    assert.equal(await waitForState(['idle', 'error'], p), 'error', 'a full storage fails the load');
    const message = await p.textContent('#message');
    console.log(`  storage full: ${message}`);
    assert.match(message, /storage for websd is full after [\d.]+ MiB of shard-00000\.safetensors/);
    assert.match(message, /press Load again: what arrived is kept/);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url });
    const before = requests.length;
    await p.click('#load');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.ok(requests.slice(before).some((r) => r.path.endsWith('shard-00000.safetensors') && /^bytes=[1-9]\d*-$/.test(r.range)),
      'the load after it resumed the shard with a Range request');
    await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
      steps: reference.steps, scheduler: 'pndm' });
    await p.fill('#scheduler-options', '');
    await generateIn(p);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'pndm after the storage filled up');
  } finally {
    await ctx.close();
  }
});

test('cancel stops a run, and the next run is still right', { timeout: TIMEOUT }, async () => {
  await fillFixtureSettings('pndm', 200);
  await page.click('#generate');
  await page.waitForFunction(() => /step [1-9]/.test(document.getElementById('gen-status').textContent), null,
    { timeout: TIMEOUT, polling: 100 });
  await page.click('#cancel');
  assert.equal(await waitForState(['idle', 'done', 'error']), 'idle');
  assert.match(await page.textContent('#message'), /Cancelled after \d+ step/);
  await shot('03-cancelled');
  await generate('dpmpp_2m');
});

// The engine worker as an embedding page uses it (src/protocol.ts), its requests sent at once without waiting for
// replies: a generation asked for during a load waits for the model, a load asked for during a generation waits for
// it, and every reply comes in the order asked, each image diffusers' own (CPU backend).
test('the engine worker runs requests sent at once in turn: load, generate, load, generate', { timeout: TIMEOUT }, async () => {
  const url = `${server.url}/packs/tiny-sd1/manifest.json`;
  const params = { prompt: reference.prompt, negativePrompt: reference.negative_prompt, steps: reference.steps,
    guidance: reference.guidance_scale, seed: String(reference.seed), schedulerConfig: {}, width: reference.width,
    height: reference.height, count: 1, previewEvery: 0, initImage: null, strength: 0, mask: null, loras: [],
    loraMode: 'merged', literalPrompt: false, previewDecoder: '', vaeDecoder: '', hiresScale: 1, hiresStrength: 0.7,
    hiresSteps: 0, hiresUpscaler: 'latent', controlnet: null };
  const replies = await page.evaluate(({ url, params }) => new Promise((resolve) => {
    const worker = new Worker('engine-worker.js');
    const got = [];
    worker.onmessage = ({ data }) => {
      if (data.type === 'event') return;
      got.push({ id: data.id, type: data.type, message: data.message,
        rgb: data.value?.images ? Array.from(data.value.images[0].rgb) : null });
      if (got.length === 4) {
        worker.terminate();
        resolve(got);
      }
    };
    const load = { type: 'load', source: { kind: 'url', url }, backend: 'cpu' };
    worker.postMessage({ id: 1, ...load });
    worker.postMessage({ id: 2, type: 'generate', params: { ...params, scheduler: 'pndm' } });
    worker.postMessage({ id: 3, ...load });
    worker.postMessage({ id: 4, type: 'generate', params: { ...params, scheduler: 'euler_a' } });
  }), { url, params });
  assert.deepEqual(replies.map((r) => [r.id, r.type, r.message]), [[1, 'result', undefined], [2, 'result', undefined],
    [3, 'result', undefined], [4, 'result', undefined]]);
  for (const [i, scheduler] of [[1, 'pndm'], [3, 'euler_a']]) {
    const r = compareImages(Uint8Array.from(replies[i].rgb), tensors.get(`${scheduler}/image_u8`).data);
    assert.ok(r.ok, `${scheduler} from the worker: ${r.summary}`);
  }
});

// PNG info: a PNG saved by websd (the gallery's download) fills the form with what made it, a web UI PNG with its
// sampler and schedule type, hires fix and UTF-8 prompt (an iTXt chunk) too, its unknown keys listed and not lost;
// a PNG dropped on the prompt does the same; a PNG without parameters and a file that is no PNG are refused by name.
test('PNG info: a PNG\'s parameters text fills the form (websd\'s own round trip, the web UI\'s, dropped or opened)', { timeout: TIMEOUT }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-pnginfo-'));
  try {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gallery li:first-child button:has-text("PNG")')]);
    const saved = path.join(dir, download.suggestedFilename());
    await download.saveAs(saved);
    const made = readPngText(fs.readFileSync(saved)).parameters;
    assert.match(made, /Sampler: DPM\+\+ 2M, .*Scheduler: dpmpp_2m/, 'the newest image was the dpmpp_2m one');
    await page.fill('#prompt', 'something else');
    await page.fill('#steps', '3');
    await page.uncheck('#seed-lock');
    await page.selectOption('#scheduler', 'ddim');
    await page.setInputFiles('#pick-png-info', saved);
    await page.waitForFunction(() => !document.getElementById('png-info').hidden);
    assert.equal(await page.inputValue('#prompt'), reference.prompt);
    assert.equal(await page.inputValue('#negative-prompt'), reference.negative_prompt);
    assert.equal(await page.inputValue('#steps'), String(reference.steps));
    assert.equal(await page.inputValue('#seed'), String(reference.seed));
    assert.ok(await page.isChecked('#seed-lock'), 'the seed is kept, so Generate draws the same image');
    assert.equal(await page.inputValue('#scheduler'), 'dpmpp_2m');
    assert.match(await page.textContent('#png-info'), /made with the model tiny-sd1/);
    // The same settings draw the same image.
    await page.click('#generate');
    assert.equal(await waitForState(['done', 'error']), 'done', await page.textContent('#message'));
    await expectFixtureImage('dpmpp_2m');

    // The web UI's text: a Karras schedule type, a hires fix, keys websd has no use for, a Japanese prompt.
    const webui = 'a lighthouse, 夕暮れ <lora:ink:0.7>\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M, ' +
      'Schedule type: Karras, CFG scale: 6.5, Seed: 987654321, Size: 512x768, Model hash: 6ce0161689, Model: ' +
      'v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 10, Hires ' +
      'upscaler: Latent, ControlNet 0: "Module: canny, Model: control_canny, Weight: 1", Version: v1.10.1';
    const png = encodePng({ width: 8, height: 8, rgb: new Uint8Array(192) }, { parameters: webui });
    assert.ok(Buffer.from(png).includes('iTXt'), 'a UTF-8 prompt is stored in an iTXt chunk');
    const dt = await page.evaluateHandle((bytes) => {
      const t = new DataTransfer();
      t.items.add(new File([Uint8Array.from(bytes)], 'webui.png', { type: 'image/png' }));
      return t;
    }, Array.from(png));
    await page.dispatchEvent('#prompt', 'drop', { dataTransfer: dt });
    await page.waitForFunction(() => /webui\.png/.test(document.getElementById('png-info').textContent));
    assert.equal(await page.inputValue('#prompt'), 'a lighthouse, 夕暮れ <lora:ink:0.7>');
    assert.equal(await page.inputValue('#negative-prompt'), 'blurry');
    assert.deepEqual(await Promise.all(['#steps', '#guidance', '#seed', '#scheduler', '#width', '#height', '#hires-scale',
      '#hires-steps', '#hires-strength', '#hires-upscaler'].map((id) => page.inputValue(id))),
    ['28', '6.5', '987654321', 'dpmpp_2m_karras', '512', '768', '2', '10', '0.45', 'latent']);
    assert.deepEqual(await page.locator('#png-info-unused li').allTextContents(), ['Model hash: 6ce0161689',
      'Clip skip: 2', 'ControlNet 0: Module: canny, Model: control_canny, Weight: 1', 'Version: v1.10.1']);
    assert.match(await page.textContent('#png-info'), /made with the model v1-5-pruned-emaonly; tiny-sd1 is loaded/);
    await shot('05-png-info');

    // Refused, by name.
    const plain = path.join(dir, 'plain.png');
    fs.writeFileSync(plain, encodePng({ width: 2, height: 2, rgb: new Uint8Array(12) }));
    await page.setInputFiles('#pick-png-info', plain);
    await page.waitForFunction(() => /plain\.png has no "parameters" text/.test(document.getElementById('message').textContent));
    const notPng = path.join(dir, 'notes.png');
    fs.writeFileSync(notPng, 'not an image');
    await page.setInputFiles('#pick-png-info', notPng);
    await page.waitForFunction(() => /notes\.png is not a PNG file/.test(document.getElementById('message').textContent));
    assert.equal(await page.inputValue('#steps'), '28', 'a refused file changes nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // Back to the fixture's settings for the tests after this one (the hires fields are in a closed panel).
  await fillFixtureSettings('dpmpp_2m');
  await page.evaluate(() => {
    for (const [id, value] of [['width', ''], ['height', ''], ['hires-scale', '1'], ['hires-steps', '0'], ['hires-strength', '0.7']]) {
      const e = document.getElementById(id);
      e.value = value;
      e.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
});

// The gallery is kept in the browser: after a reload the same images (pixel for pixel) with their parameters; one
// deleted stays deleted; "Download all" is a zip of the PNGs with their parameters; "Delete all" empties it.
test('the gallery stays: images survive a reload, delete one or all, download all as a zip', { timeout: TIMEOUT }, async () => {
  const galleryState = () => page.evaluate(() => [...document.querySelectorAll('#gallery li')].map((li) => {
    const c = li.querySelector('canvas');
    return { params: li.querySelector('.params').textContent, timing: li.querySelector('.timing').textContent,
      pixels: c.width ? Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) : [] };
  }));
  const waitDrawn = (n) => page.waitForFunction((n) => document.querySelectorAll('#gallery li').length === n &&
    [...document.querySelectorAll('#gallery canvas')].every((c) => c.width > 0), n, { timeout: 30000 });
  const before = await galleryState();
  assert.ok(before.length >= 4, `images made by the tests before: ${before.length}`);
  assert.match(before[0].timing, /^64×64 · [\d.]+ s · [\d.]+ it\/s$/);
  assert.match(await page.textContent('#gallery-summary'), new RegExp(`^${before.length} images, [\\d.]+ KiB kept in this browser$`));
  await page.reload();
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  await waitDrawn(before.length);
  assert.deepEqual(await galleryState(), before, 'the same images, newest first, after a reload');
  assert.match(await page.textContent('#cache-panel summary'), /models [\d.]+ MiB, images [\d.]+ KiB/);

  await page.click('#gallery li:nth-child(2) button:has-text("Delete")');
  await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length === n, before.length - 1);
  await page.reload();
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  await waitDrawn(before.length - 1);
  const left = await galleryState();
  assert.deepEqual(left.map((i) => i.params), [before[0], ...before.slice(2)].map((i) => i.params), 'the deleted one stays deleted');
  await shot('06-gallery');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gallery-download-all')]);
  assert.equal(download.suggestedFilename(), 'websd-gallery.zip');
  const files = unzipSync(fs.readFileSync(await download.path()));
  const names = Object.keys(files);
  assert.equal(names.length, left.length);
  assert.deepEqual(names.map((n) => readPngText(files[n]).parameters).sort(), left.map((i) => i.params).sort(),
    'each PNG of the zip has its parameters');
  assert.ok(names.every((n) => /^websd-\d+(-\d+)?\.png$/.test(n)), names.join(', '));

  page.once('dialog', (d) => d.accept());
  await page.click('#gallery-delete-all');
  await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 0);
  await page.reload();
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  assert.equal(await page.locator('#gallery li').count(), 0);
  assert.equal(await page.textContent('#gallery-summary'), 'none yet');
});

// Offline: on an origin of its own (a second server), the first visit installs the service worker and stores a
// model; with the network gone (every request refused) the page opens again, loads the model from the browser and
// draws diffusers' image. A new build of the app (another sw.js) is announced once the network is back, with
// "Reload now"; the model stays stored through the update.
test('offline: once a model is stored the app opens and generates with no network; an update is announced and keeps the model', { timeout: TIMEOUT }, async () => {
  let offline = false, swBody = null;
  const seen = [];
  const own = await startServer({ root: path.join(web, 'dist'), mounts: { '/packs': packDir },
    onRequest: (req, res) => {
      seen.push({ path: req.url, offline });
      if (offline) {
        res.destroy();
        return true;
      }
      if (swBody && req.url.startsWith('/sw.js')) {
        res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-cache' });
        res.end(swBody);
        return true;
      }
      return false;
    } });
  const ctx = await watchCsp(await browser.newContext());
  try {
    const p = await ctx.newPage();
    await p.goto(`${own.url}/`);
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    await p.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60000 });
    assert.equal(await p.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('websd-app-')).length), 1);
    await p.fill('#model-url', `${own.url}/packs/tiny-sd1/manifest.json`);
    await p.click('#load');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));

    offline = true;
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#model-info'), /tiny-sd1.*from this browser's storage/);
    await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
      steps: reference.steps, scheduler: 'pndm' });
    await p.fill('#scheduler-options', '');
    await generateIn(p);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'pndm with no network');
    assert.ok(seen.some((r) => r.offline), 'the page did try the network');
    await shot('07-offline', p);
    await expectNoCspViolations(p).catch(() => {});  // the header check needs the network: the violations alone
    assert.deepEqual(await p.evaluate(() => window.cspViolations), [], 'nothing the CSP blocks, offline');

    // A new build: the browser finds the changed sw.js, installs it beside the running one and the page says so.
    offline = false;
    const dist = fs.readFileSync(path.join(web, 'dist/sw.js'), 'utf8');
    const version = /websd-app-([0-9a-f]{16})/.exec(dist)?.[1] ?? /"([0-9a-f]{16})"/.exec(dist)[1];
    swBody = dist.replaceAll(version, '0123456789abcdef');
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    await p.waitForFunction(() => !document.getElementById('update-note').hidden, null, { timeout: 60000 });
    assert.match(await p.textContent('#update-note'), /A new version of websd is ready/);
    await p.click('#update-reload');
    await p.waitForFunction(() => /websd was updated \(version 0123456789abcdef\)/.test(document.getElementById('update-text').textContent),
      null, { timeout: 60000 });
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#model-info'), /from this browser's storage/, 'the stored model survived the update');
    assert.deepEqual(await p.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('websd-app-'))),
      ['websd-app-0123456789abcdef'], 'the old version\'s files are gone');
  } finally {
    await ctx.close();
    await own.close();
  }
});

test('after a reload the model loads from the cache with the network cut', { timeout: TIMEOUT }, async () => {
  await page.route('**/packs/**', (route) => route.abort('internetdisconnected'));
  try {
    await reloadFromCache();
  } finally {
    await page.unroute('**/packs/**');
  }
});

async function reloadFromCache() {
  const before = requests.length;
  await page.reload();
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  assert.match(await page.textContent('#model-info'), /from this browser's storage/);
  assert.equal(requests.slice(before).filter((r) => r.path.startsWith('/packs/')).length, 0, 'no pack request reached the server');
  // Settings survived the reload.
  assert.equal(await page.inputValue('#prompt'), reference.prompt);
  assert.equal(await page.inputValue('#scheduler'), 'dpmpp_2m');
  assert.match(await page.textContent('#cache-list'), /tiny-sd1 — [\d.]+ MiB/);
  await shot('04-from-cache');
}

test('a damaged cached shard is found and fetched again', { timeout: TIMEOUT }, async () => {
  await page.evaluate(async () => {
    const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('websd-models');
    for await (const [, dir] of models.entries()) {
      const shard = await dir.getFileHandle('shard-00000.safetensors');
      const w = await shard.createWritable({ keepExistingData: true });
      await w.seek(200000);
      await w.write(new Uint8Array(64).fill(0x5a));
      await w.close();
    }
  });
  const before = requests.length;
  await page.reload();
  assert.equal(await waitForState(['idle', 'error']), 'idle', await page.textContent('#message'));
  assert.equal(requests.slice(before).filter((r) => r.path.endsWith('shard-00000.safetensors')).length, 1,
    'the damaged shard was fetched once more');
  await generate('pndm');
  // Removing the stored model empties the list and the storage.
  await page.click('#cache-panel summary');
  await page.click('#cache-list button:has-text("Remove")');
  await page.waitForFunction(() => document.getElementById('cache-list').children.length === 0, null, { timeout: 30000 });
  assert.equal(await page.textContent('#cache-total'), '0 B');
});

test('without WebGPU the CPU fallback loads a diffusers folder URL and matches', { timeout: TIMEOUT }, async () => {
  const nogpu = await launchChromium({ webgpu: false });
  try {
    const p = await nogpu.newPage();
    const q = new URLSearchParams({ model: `${server.url}/fixtures/tiny-sd1/model/`, prompt: reference.prompt,
      negative_prompt: reference.negative_prompt, seed: String(reference.seed), steps: String(reference.steps),
      guidance: '7.5', scheduler: 'euler', autostart: '1' });
    await p.goto(`${server.url}/?${q}`);
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    assert.match(await p.textContent('#adapter'), /no WebGPU/);
    assert.match(await p.textContent('#capability-note'), /WebGPU is not available .* run on the CPU/);
    assert.match(await p.textContent('#model-info'), /on the CPU/);
    await expectFixtureImage('euler', p);
    await shot('05-cpu-fallback', p);
    // A folder picked from the disk loads the same way (read in place, not copied into the page).
    await p.setInputFiles('#pick-folder', fixture('tiny-sd1/model'));
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#model-info'), /^model: sd1, .* on the CPU/);
    await p.selectOption('#scheduler', 'ddim');
    await p.click('#generate');
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    await expectFixtureImage('ddim', p);
  } finally {
    await nogpu.close();
  }
});

// The demo model's acceptance rule (tests/test_demo_model.cpp), on one canvas: each pixel takes the nearest palette
// colour; the named colour is the commonest non-background colour in the named cell of the 3x3 grid, and the
// background the commonest in a border 4 pixels wide.
const evaluation = JSON.parse(fs.readFileSync(path.join(web, '../tools/demo-model/evaluation.json'), 'utf8'));
function demoScore({ width: w, height: h, rgb }, { colour, position, background }) {
  const names = Object.keys(evaluation.palette);
  const cls = (x, y) => {
    const i = (y * w + x) * 3;
    let best = 0, bestD = Infinity;
    names.forEach((n, k) => {
      const [r, g, b] = evaluation.palette[n];
      const d = (rgb[i] - r) ** 2 + (rgb[i + 1] - g) ** 2 + (rgb[i + 2] - b) ** 2;
      if (d < bestD) [best, bestD] = [k, d];
    });
    return best;
  };
  const commonest = (counts) => counts.indexOf(Math.max(...counts));
  const bg = names.indexOf(background);
  const [col, row] = evaluation.grid[position];
  const fg = names.map(() => 0), border = names.map(() => 0);
  for (let y = Math.floor(row * h / 3); y < Math.floor((row + 1) * h / 3); y++)
    for (let x = Math.floor(col * w / 3); x < Math.floor((col + 1) * w / 3); x++) {
      const k = cls(x, y);
      if (k !== bg) fg[k]++;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) if (y < 4 || y >= h - 4 || x < 4 || x >= w - 4) border[cls(x, y)]++;
  return { colour: fg.some((n) => n > 0) && names[commonest(fg)] === colour, background: names[commonest(border)] === background };
}

test('the demo model comes first, and an example prompt loads it and draws what it says (CPU backend)', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    await p.goto(`${server.url}/`);
    await waitForState(['idle'], p);
    assert.match(await p.textContent('#shipped p:first-child'), /^Load websd-shapes websd's own demo model/);
    // On the CPU backend: SwiftShader's WebGPU takes about 4 minutes for this model's 20 steps, wasm 3 s.
    await p.selectOption('#backend', 'cpu');
    await p.fill('#seed', '1234');
    await p.check('#seed-lock');
    await p.click('#shipped .examples button:has-text("a big red circle on the left on a blue background")');
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    assert.match(await p.textContent('#model-info'), /^websd-shapes: sd1, .* 128×128, on the CPU/);
    console.log(`  demo model in the browser (wasm, cpu): ${await p.textContent('#message')}`);
    assert.equal(await p.inputValue('#prompt'), 'a big red circle on the left on a blue background');
    const got = await canvasRgb(p);
    assert.deepEqual([got.width, got.height], [128, 128]);
    assert.deepEqual(demoScore(got, { colour: 'red', position: 'left', background: 'blue' }),
      { colour: true, background: true });
    await shot('06-demo-model', p);
  } finally {
    await ctx.close();
  }
});

test('img2img: a start image from the disk draws what the native tool draws from it, and a result can be the next start', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-img2img-'));
  try {
    const demo = path.join(web, '../models/websd-shapes');
    const init = path.join(dir, 'start.png'), native = path.join(dir, 'native.png');
    execFileSync(websd, ['generate', '--model', demo, '-p', 'a big red circle on the left on a blue background',
      '--seed', '5', '-q', '-o', init]);
    const args = ['-p', 'a big yellow star on the right on a green background', '--seed', '9', '--steps', '10',
      '--strength', '0.6'];
    execFileSync(websd, ['generate', '--model', demo, ...args, '--init-image', init, '-q', '-o', native]);
    const p = await ctx.newPage();
    await p.goto(`${server.url}/`);
    await waitForState(['idle'], p);
    await p.selectOption('#backend', 'cpu');
    await p.click('#shipped button:has-text("Load websd-shapes")');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    await p.setInputFiles('#pick-init', init);
    await p.waitForFunction(() => document.getElementById('init-info').textContent.includes('128×128'));
    assert.match(await p.textContent('#init-info'), /^start\.png, 128×128/);
    await p.fill('#prompt', args[1]);
    await p.fill('#negative-prompt', '');
    await p.fill('#seed', '9');
    await p.check('#seed-lock');
    await p.fill('#steps', '10');
    await p.fill('#guidance', '7.5');
    await p.fill('#strength', '0.6');
    await p.click('#generate');
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    assert.doesNotMatch(await p.textContent('#message'), /resized/);
    assert.match(await p.textContent('#result-params'), /Denoising strength: 0\.6/);
    const got = await canvasRgb(p);
    const want = decodePng(fs.readFileSync(native));
    const r = compareImages(Uint8Array.from(got.rgb), want.rgb);
    console.log(`  img2img in the page (wasm cpu) vs the native tool: ${r.summary}`);
    assert.ok(r.ok, r.summary);
    await shot('07-img2img', p);
    await p.click('#use-as-init');
    assert.match(await p.textContent('#init-info'), /^the result, 128×128/);
    await p.click('#clear-init');
    assert.match(await p.textContent('#init-info'), /^None/);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('scheduler options from a link reach the engine: SD-Turbo style sampling draws diffusers\' turbo_1step image', { timeout: TIMEOUT }, async () => {
  const extra = readReferenceJson('tiny-sd1', 'reference_extra.json');
  const want = readSafetensors(fixture('tiny-sd1/reference_extra.safetensors')).get('turbo_1step/image_u8');
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    const q = new URLSearchParams({ model: `${server.url}/fixtures/tiny-sd1/model/`, prompt: extra.runs.turbo_1step.args.prompt,
      negative_prompt: '', seed: '7', steps: '1', guidance: '0', scheduler: 'euler_a',
      scheduler_options: 'timestep_spacing=trailing', width: '64', height: '64', backend: 'cpu', autostart: '1' });
    await p.goto(`${server.url}/?${q}`);
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    assert.equal(await p.inputValue('#scheduler-options'), 'timestep_spacing=trailing');
    assert.match(await p.textContent('#result-params'), /Scheduler config: timestep_spacing=trailing/);
    const got = await canvasRgb(p);
    const r = compareImages(Uint8Array.from(got.rgb), want.data);
    console.log(`  turbo_1step from a link (wasm cpu): ${r.summary}`);
    assert.ok(r.ok, r.summary);
  } finally {
    await ctx.close();
  }
});

// ---- add-ons, inpainting, hires fix, prompt weighting ----

const creative = readReferenceJson('tiny-sd1-creative');
const creativeImages = readSafetensors(fixture('tiny-sd1-creative/reference.safetensors'));

async function expectImage(p, want, label) {
  const got = await canvasRgb(p);
  const r = compareImages(Uint8Array.from(got.rgb), want);
  console.log(`  ${label}: ${r.summary}`);
  assert.ok(r.ok, `${label}: ${r.summary}`);
}

// The form as a creative run's arguments ask (with "leading" timestep spacing, as diffusers kept it).
async function fillRun(p, { prompt, negative, seed, steps, scheduler }) {
  await p.fill('#prompt', prompt);
  await p.fill('#negative-prompt', negative);
  await p.fill('#seed', String(seed));
  await p.check('#seed-lock');
  await p.fill('#steps', String(steps));
  await p.fill('#guidance', '7.5');
  await p.selectOption('#scheduler', scheduler);
  await p.fill('#scheduler-options', 'timestep_spacing=leading');
}

// A new page of `ctx` with tiny-sd1 loaded by its ?model= link, idle.
async function openTinyModel(ctx) {
  const p = await ctx.newPage();
  const q = new URLSearchParams({ model: `${server.url}/fixtures/tiny-sd1/model/` });
  await p.goto(`${server.url}/?${q}`);
  assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
  return p;
}

async function generateIn(p) {
  await p.click('#generate');
  assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
}

test('add-ons from the disk or a URL, stored in the browser: a LoRA at 0.8 (merged and at run time), an embedding\'s word and a TAESD decoder draw diffusers\' images (WebGPU)', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await openTinyModel(ctx);
    assert.match(await p.textContent('#model-info'), /on the GPU/);
    await p.click('#adapter-panel summary');
    // A LoRA: stored, ticked at scale 1 when added; set to the run's 0.8.
    await p.setInputFiles('#add-lora', fixture('tiny-sd1-creative/lora_kohya.safetensors'));
    await p.waitForFunction(() => document.querySelectorAll('#lora-list li').length === 1, null, { timeout: 30000 });
    assert.match(await p.textContent('#lora-list'), /lora_kohya — /);
    assert.equal(await p.isChecked('#lora-list input[type=checkbox]'), true);
    await p.fill('#lora-list input.scale', '0.8');
    await p.dispatchEvent('#lora-list input.scale', 'change');
    const run = creative.runs.lora_kohya_s08.args;
    await fillRun(p, { prompt: run.prompt, negative: run.negative_prompt, seed: 2468, steps: 6, scheduler: 'euler_a' });
    await generateIn(p);
    await expectImage(p, creativeImages.get('lora_kohya_s08/image_u8').data, 'lora_kohya_s08 in the page (WebGPU)');
    assert.match(await p.textContent('#result-params'), /<lora:lora_kohya:0\.8>/);
    await shot('08-lora', p);
    // The same LoRA applied at run time (beside the weights) draws the same image.
    await p.selectOption('#lora-mode', 'runtime');
    await generateIn(p);
    await expectImage(p, creativeImages.get('lora_kohya_s08/image_u8').data, 'lora_kohya_s08 at run time (WebGPU)');
    await p.selectOption('#lora-mode', 'merged');
    // An embedding: its word (the file's name) in the prompt is enough. The fixture's word is <tiny-style>; file
    // names cannot hold < or >, and the tokenizer cuts either word out alike, so the token ids are the same.
    await p.uncheck('#lora-list input[type=checkbox]');
    await p.setInputFiles('#add-embedding', fixture('tiny-sd1-creative/tiny-style.safetensors'));
    await p.waitForFunction(() => document.querySelectorAll('#embedding-list li').length === 1, null, { timeout: 30000 });
    const ti = creative.runs.ti_dpmpp_2m.args;
    await fillRun(p, { prompt: ti.prompt.replace('<tiny-style>', 'tiny-style'), negative: ti.negative_prompt, seed: 1357,
      steps: 6, scheduler: 'dpmpp_2m' });
    await generateIn(p);
    await expectImage(p, creativeImages.get('ti_dpmpp_2m/image_u8').data, 'ti_dpmpp_2m in the page (WebGPU)');
    // A TAESD folder draws the final image.
    await p.setInputFiles('#add-taesd', fixture('tiny-taesd/taesd'));
    await p.waitForFunction(() => document.querySelectorAll('#taesd-list li').length === 1, null, { timeout: 30000 });
    await p.selectOption('#vae-decoder', 'taesd');
    assert.equal(await p.inputValue('#preview-decoder'), 'taesd', 'the first TAESD stored draws the previews');
    const taesd = readReferenceJson('tiny-taesd');
    await fillRun(p, { prompt: taesd.prompt, negative: taesd.negative_prompt, seed: taesd.seed, steps: taesd.steps,
      scheduler: 'pndm' });
    await generateIn(p);
    await expectImage(p, readSafetensors(fixture('tiny-taesd/reference.safetensors')).get('pndm/image_u8').data,
      'tiny-taesd pndm in the page (WebGPU)');
    await shot('09-addons', p);
    // They survive a reload, with the choices made.
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#adapter-summary'), /1 LoRA, 1 embedding\(s\), 1 TAESD, 0 ControlNet; 0 LoRA in use/);
    assert.equal(await p.inputValue('#vae-decoder'), 'taesd');
    // Removing one takes it out of the lists.
    await p.click('#adapter-panel summary');
    await p.click('#taesd-list button:has-text("Remove")');
    await p.waitForFunction(() => document.querySelectorAll('#taesd-list li').length === 0, null, { timeout: 30000 });
    assert.equal(await p.inputValue('#vae-decoder'), '');
    // From a URL: the LoRA removed, then fetched back under its file's name.
    await p.click('#lora-list button:has-text("Remove")');
    await p.waitForFunction(() => document.querySelectorAll('#lora-list li').length === 0, null, { timeout: 30000 });
    await p.fill('#adapter-url', `${server.url}/fixtures/tiny-sd1-creative/lora_kohya.safetensors`);
    await p.selectOption('#adapter-url-kind', 'lora');
    await p.click('#adapter-url-add');
    await p.waitForFunction(() => document.querySelectorAll('#lora-list li').length === 1, null, { timeout: 30000 });
    assert.match(await p.textContent('#lora-list'), /lora_kohya — 202 KiB/);
    // A URL that answers 404 stores nothing and says so.
    await p.fill('#adapter-url', `${server.url}/fixtures/tiny-sd1-creative/missing.safetensors`);
    await p.click('#adapter-url-add');
    await p.waitForFunction(() => /404|not found|could not/i.test(document.getElementById('message').textContent), null,
      { timeout: 30000 });
    assert.equal(await p.locator('#lora-list li').count(), 1);
    // A pickled file is refused before anything is stored.
    const pickled = path.join(os.tmpdir(), 'websd-style.pt');
    fs.writeFileSync(pickled, 'not safetensors');
    await p.setInputFiles('#add-embedding', pickled);
    await p.waitForFunction(() => /pickled/.test(document.getElementById('message').textContent), null, { timeout: 30000 });
    fs.rmSync(pickled);
  } finally {
    await ctx.close();
  }
});

test('a ControlNet folder stored in the browser guides the image: the page draws diffusers\' controlnet_pndm (WebGPU), shows the map it reads, records it in the PNG text and the link', { timeout: TIMEOUT }, async () => {
  const ctx = await watchCsp(await browser.newContext());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-control-'));
  try {
    // The fixture's control image (white shapes on black: exact in 8 bits), a wider copy of it, and a file that is
    // no image.
    const c = creativeImages.get('control_image');
    const rgb = Uint8Array.from(c.data, (v) => Math.round(v * 255));
    const image = path.join(dir, 'control.png'), wide = path.join(dir, 'wide.png'), bad = path.join(dir, 'bad.png');
    fs.writeFileSync(image, encodePng({ width: 64, height: 64, rgb }));
    const twice = new Uint8Array(128 * 64 * 3);
    for (let y = 0; y < 64; ++y) {
      for (let x = 0; x < 128; ++x) twice.set(rgb.subarray((y * 64 + (x % 64)) * 3, (y * 64 + (x % 64)) * 3 + 3), (y * 128 + x) * 3);
    }
    fs.writeFileSync(wide, encodePng({ width: 128, height: 64, rgb: twice }));
    fs.writeFileSync(bad, 'GIF89a not a png');
    const p = await openTinyModel(ctx);
    await p.click('#controlnet-panel summary');
    await p.setInputFiles('#add-controlnet-folder', fixture('tiny-sd1-creative/controlnet'));
    await p.waitForFunction(() => document.getElementById('controlnet').value === 'controlnet', null, { timeout: 30000 });
    // A ControlNet without its image is stopped before any work, with what to do.
    const run = creative.runs.controlnet_pndm.args;
    await fillRun(p, { prompt: run.prompt, negative: run.negative_prompt, seed: 97531, steps: 6, scheduler: 'pndm' });
    await p.click('#generate');
    await p.waitForFunction(() => /needs a control image/.test(document.getElementById('message').textContent), null,
      { timeout: 30000 });
    // Something that is no image is refused by name; the control image then shows as the map it is.
    await p.setInputFiles('#pick-control', bad);
    await p.waitForFunction(() => /bad\.png is not an image/.test(document.getElementById('message').textContent), null,
      { timeout: 30000 });
    await p.setInputFiles('#pick-control', image);
    await p.waitForFunction(() => !document.getElementById('control-map').hidden, null, { timeout: 30000 });
    const map = await p.evaluate(() => {
      const m = document.getElementById('control-map');
      return { width: m.width, height: m.height };
    });
    assert.deepEqual([map.width, map.height], [64, 64]);
    await generateIn(p);
    await expectImage(p, creativeImages.get('controlnet_pndm/image_u8').data, 'controlnet_pndm in the page (WebGPU)');
    assert.match(await p.textContent('#result-params'), /ControlNet 0: "Module: none, Model: controlnet, Weight: 1,/);
    assert.match(await p.textContent('#controlnet-summary'), /controlnet at 1/);
    await shot('10-controlnet', p);
    // Canny edges and another shape: the map is the engine's, and the panel says how the picture was fitted.
    await p.selectOption('#control-preprocessor', 'canny');
    await p.setInputFiles('#pick-control', wide);
    await p.waitForFunction(() => /128×64, scaled and cropped to 64×64/.test(document.getElementById('control-info').textContent),
      null, { timeout: 30000 });
    const link = await p.evaluate(async () => {
      let copied = '';
      navigator.clipboard.writeText = async (text) => { copied = text; };
      document.getElementById('share').click();
      await new Promise((r) => setTimeout(r, 200));
      return copied;
    });
    assert.match(link, /controlnet=controlnet/);
    assert.match(link, /control_preprocessor=canny/);
    // The choices survive a reload (the picture is opened again, as a link's follower would).
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.equal(await p.inputValue('#controlnet'), 'controlnet');
    assert.equal(await p.inputValue('#control-preprocessor'), 'canny');
    await expectNoCspViolations(p);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('inpainting with a painted mask and a LoRA draws what the native tool draws from the saved mask; hires fix doubles the size (CPU backend)', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext({ acceptDownloads: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-inpaint-'));
  try {
    const model = fixture('tiny-sd1/model'), lora = fixture('tiny-sd1-creative/lora_kohya.safetensors');
    const init = path.join(dir, 'start.png');
    execFileSync(websd, ['generate', '--model', model, '-p', 'a red house', '--seed', '3', '--steps', '4', '-q', '-o', init]);
    const p = await ctx.newPage();
    const q = new URLSearchParams({ model: `${server.url}/fixtures/tiny-sd1/model/`, backend: 'cpu' });
    await p.goto(`${server.url}/?${q}`);
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    await p.click('#adapter-panel summary');
    await p.setInputFiles('#add-lora', lora);
    await p.waitForFunction(() => document.querySelectorAll('#lora-list li').length === 1, null, { timeout: 30000 });
    await p.fill('#lora-list input.scale', '0.8');
    await p.dispatchEvent('#lora-list input.scale', 'change');
    await p.setInputFiles('#pick-init', init);
    await p.waitForFunction(() => document.getElementById('init-info').textContent.includes('64×64'));
    assert.match(await p.textContent('#mask-info'), /No mask/);
    // Paint a stroke across the left half, a dab on the right, then undo the dab (Ctrl+Z on the mask).
    await p.fill('#mask-size', '10');
    // The box after anything that scrolls (fill does): mouse positions are the viewport's.
    await p.locator('#mask-canvas').scrollIntoViewIfNeeded();
    const box = await p.locator('#mask-canvas').boundingBox();
    const at = (x, y) => [box.x + (x / 64) * box.width, box.y + (y / 64) * box.height];
    await p.mouse.move(...at(8, 16));
    await p.mouse.down();
    await p.mouse.move(...at(20, 32), { steps: 5 });
    await p.mouse.move(...at(8, 48), { steps: 5 });
    await p.mouse.up();
    await p.mouse.move(...at(56, 56));
    await p.mouse.down();
    await p.mouse.up();
    await p.keyboard.press('Control+z');
    assert.match(await p.textContent('#mask-info'), /Inpainting: the painted part is redrawn/);
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('#mask-save')]);
    const maskFile = path.join(dir, 'mask.png');
    fs.copyFileSync(await download.path(), maskFile);
    const m = decodePng(fs.readFileSync(maskFile));
    const grey = (x, y) => m.rgb[(y * m.width + x) * 3];
    assert.deepEqual([m.width, m.height], [64, 64]);
    assert.equal(grey(20, 32), 255, 'painted where the stroke went');
    assert.equal(grey(50, 10), 0, 'not painted away from it');
    assert.equal(grey(56, 56), 0, 'the undone dab is gone');
    const args = ['-p', 'a blue door', '-n', 'blurry', '--seed', '11', '--steps', '5', '--scheduler', 'euler_a'];
    await fillRun(p, { prompt: 'a blue door', negative: 'blurry', seed: 11, steps: 5, scheduler: 'euler_a' });
    await p.fill('#scheduler-options', '');
    await p.fill('#strength', '1');
    await generateIn(p);
    assert.match(await p.textContent('#result-params'), /<lora:lora_kohya:0\.8>.*Denoising strength: 1/s);
    await shot('10-inpaint', p);
    const native = path.join(dir, 'native.png');
    execFileSync(websd, ['generate', '--model', model, ...args, '--init-image', init, '--mask', maskFile,
      '--strength', '1', '--lora', `${lora}:0.8`, '-q', '-o', native]);
    await expectImage(p, decodePng(fs.readFileSync(native)).rgb, 'inpainting in the page (wasm cpu) vs the native tool');
    // A mask picture of another size is stretched over the start image, and the page says so.
    const other = path.join(dir, 'other-mask.png');
    fs.writeFileSync(other, encodePng({ width: 32, height: 16, rgb: new Uint8Array(32 * 16 * 3).fill(255) }));
    await p.setInputFiles('#pick-mask', other);
    await p.waitForFunction(() => /stretched/.test(document.getElementById('mask-info').textContent), null, { timeout: 30000 });
    assert.match(await p.textContent('#mask-info'), /32×16: stretched to the start image's 64×64/);
    // The hires fix: twice the size, recorded in the parameters.
    await p.click('#clear-init');
    await p.click('#hires-panel summary');
    await p.fill('#hires-scale', '2');
    await p.fill('#hires-strength', '0.5');
    assert.match(await p.textContent('#hires-summary'), /×2 at strength 0\.5/);
    await generateIn(p);
    const got = await canvasRgb(p);
    assert.deepEqual([got.width, got.height], [128, 128]);
    assert.match(await p.textContent('#result-params'), /Hires upscale: 2, Hires upscaler: Latent/);
    await shot('11-hires', p);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('prompt weighting is highlighted as the engine reads it, with a token counter', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    const q = new URLSearchParams({ model: `${server.url}/fixtures/tiny-sd1/model/`, backend: 'cpu' });
    await p.goto(`${server.url}/?${q}`);
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    await p.fill('#prompt', 'a (red:1.3) fox BREAK [snow], ((sky))');
    const spans = async () => p.evaluate(() => [...document.querySelectorAll('#prompt-highlight span')]
      .map((s) => `${s.className}:${s.textContent}`));
    await p.waitForFunction(() => document.querySelectorAll('#prompt-highlight span.w-up').length > 0, null, { timeout: 30000 });
    const got = await spans();
    assert.ok(got.includes('w-up:red'), got.join(' | '));
    assert.ok(got.includes('w-break:BREAK'), got.join(' | '));
    assert.ok(got.includes('w-down:snow'), got.join(' | '));
    assert.ok(got.includes('w-up:sky'), got.join(' | '));
    assert.match(await p.textContent('#prompt-tokens'), /^\d+\/150 tokens \(2 chunks\)$/);
    await shot('12-weights', p);
    await p.check('#literal-prompt');
    await p.waitForFunction(() => document.querySelectorAll('#prompt-highlight span.w-up').length === 0, null, { timeout: 30000 });
    assert.match(await p.textContent('#prompt-tokens'), /^\d+\/75 tokens$/);
  } finally {
    await ctx.close();
  }
});

// The GPU process crashes in the middle of a generation (Chromium's Browser.crashGpuProcess, what a driver reset
// or an unplugged GPU does to a page): the page says so, opens the model again on a fresh device by itself, and the
// next generation draws diffusers' image, with no reload. Last: the crash reaches every page of the browser.
test('a GPU lost in the middle of a generation is reported, the model is opened again on a fresh device, and the next image is right (WebGPU)', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await openTinyModel(ctx);
    await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
      steps: 200, scheduler: 'pndm' });
    await p.fill('#scheduler-options', '');
    await p.click('#generate');
    await p.waitForFunction(() => /step [2-9]/.test(document.getElementById('gen-status').textContent), null,
      { timeout: TIMEOUT });
    const cdp = await browser.newBrowserCDPSession();
    await cdp.send('Browser.crashGpuProcess');
    await p.waitForFunction(() => /GPU was reset/.test(document.getElementById('message').textContent), null,
      { timeout: TIMEOUT, polling: 250 });
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    const message = await p.textContent('#message');
    console.log(`  after the crash: ${message.replace(/\n/g, ' / ')}`);
    assert.match(message, /device was lost/);
    assert.match(message, /opened again on a fresh GPU device/);
    await p.fill('#steps', String(reference.steps));
    await generateIn(p);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'pndm after a lost GPU (WebGPU)');
  } finally {
    await ctx.close();
  }
});

test('GPU kernel tuning in the page: cancelled it keeps nothing; done it is stored for this GPU, the image still matches diffusers, it survives a reload and can be forgotten', { timeout: TIMEOUT }, async () => {
  const ctx = await browser.newContext();
  try {
    const p = await openTinyModel(ctx);
    assert.equal(await p.textContent('#tuning-summary'), 'built-in rules');
    await p.click('#tuning-panel summary');
    // Cancelled as soon as the first problem is done.
    await p.click('#tune');
    await p.waitForFunction(() => document.getElementById('tune-progress').value >= 1, null, { timeout: 120000 });
    await p.click('#cancel');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#message'), /Tuning cancelled: nothing was stored/);
    assert.equal(await p.textContent('#tuning-summary'), 'built-in rules');
    // Done: stored, and the model opened again with it draws diffusers' image.
    const t0 = Date.now();
    await p.click('#tune');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    console.log(`  page tuning of tiny-sd1: ${((Date.now() - t0) / 1000).toFixed(0)} s; ${await p.textContent('#message')}`);
    assert.match(await p.textContent('#message'), /Tuned in .*problems run faster here/);
    assert.match(await p.textContent('#tuning-summary'), /^tuned, \d+ of \d+ problems faster$/);
    await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
      steps: reference.steps, scheduler: 'pndm' });
    await p.fill('#scheduler-options', '');
    await generateIn(p);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'tiny-sd1 pndm with tuned kernels (WebGPU)');
    await shot('12-tuning', p);
    // A reload finds it; forgetting it goes back to the rules.
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#tuning-summary'), /^tuned, /);
    await p.click('#tuning-panel summary');
    await p.click('#tuning-reset');
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.equal(await p.textContent('#tuning-summary'), 'built-in rules');
    await p.reload();
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.equal(await p.textContent('#tuning-summary'), 'built-in rules');
  } finally {
    await ctx.close();
  }
});

// The model catalogue: the shipped list is well formed (every entry a repository URL, a license, sizes); against a
// local server laid out as a model repository (redirects included), an entry too big for the storage says so and is
// refused, and one click loads a model that fits and draws diffusers' image; it then shows as stored.
test('the model catalogue: entries say whether they fit; one click loads a model from a repository layout with redirects', { timeout: TIMEOUT }, async () => {
  const shipped = JSON.parse(fs.readFileSync(path.join(web, 'dist/catalogue.json'), 'utf8')).models;
  assert.ok(shipped.length >= 8);
  for (const m of shipped) {
    assert.equal(m.url, `https://huggingface.co/${m.repository}/resolve/main/`, m.id);
    assert.ok(m.license && m.family && m.downloadBytes > 0 && m.gpuBytes >= 0, m.id);
    assert.ok(['model', 'taesd'].includes(m.kind), m.id);
  }
  for (const id of ['sd15', 'sd21-base', 'sd-turbo', 'sdxl-turbo', 'sdxl-base', 'lcm-dreamshaper-v7', 'taesd', 'taesdxl']) {
    assert.ok(shipped.some((m) => m.id === id), `the catalogue offers ${id}`);
  }
  const model = fixture('tiny-sd1/model');
  const size = (dir) => fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) =>
    n + (e.isDirectory() ? size(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
  const local = { models: [
    { id: 'tiny', name: 'tiny-sd1 (test repository)', kind: 'model', family: 'SD 1.x', repository: 'websd-test/tiny-sd1',
      url: `${server.url}/hub/websd-test/tiny-sd1/resolve/main/`, license: 'test', native: 64, variant: 'f32',
      downloadBytes: size(model), gpuBytes: 64 << 20, estimate: false, description: 'the fixture, served as a repository',
      examples: [reference.prompt] },
    { id: 'huge', name: 'A huge model', kind: 'model', family: 'SDXL', repository: 'websd-test/huge',
      url: `${server.url}/hub/websd-test/huge/resolve/main/`, license: 'test', native: 1024, variant: 'f16',
      downloadBytes: 2 ** 44, gpuBytes: 2 ** 34, estimate: true, description: 'more than any browser stores' },
  ] };
  const ctx = await watchCsp(await browser.newContext({ serviceWorkers: 'block' }));
  try {
    const p = await ctx.newPage();
    await p.route('**/catalogue.json', (route) => route.fulfill({ json: local }));
    await p.goto(`${server.url}/`);
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.ok(await p.evaluate(() => document.getElementById('catalogue-panel').open), 'open while nothing is stored');
    const fit = (id) => p.textContent(`#catalogue li[data-id="${id}"] .fit`);
    assert.match(await fit('tiny'), /^Fits: [\d.]+ MiB to download, .* of storage free; needs 64 MiB of GPU memory \(browsers do not say how much a GPU has\)/);
    assert.match(await fit('huge'), /^Does not fit: needs 16 TiB of storage but this browser has .* free for websd/);
    await shot('08-catalogue', p);
    await p.click('#catalogue li[data-id="huge"] button');
    assert.equal(await waitForState(['error'], p), 'error');
    assert.match(await p.textContent('#message'), /A huge model does not fit: needs 16 TiB of storage/);

    const before = requests.length;
    await p.click('#catalogue li[data-id="tiny"] button');
    await p.waitForFunction(() => document.getElementById('app').dataset.state !== 'error');  // the refusal's, before
    assert.equal(await waitForState(['idle', 'error'], p), 'idle', await p.textContent('#message'));
    assert.match(await p.textContent('#model-info'), /^websd-test\/tiny-sd1: sd1, /);
    const hubRequests = requests.slice(before).filter((r) => r.path.startsWith('/hub/'));
    assert.ok(hubRequests.some((r) => r.path.endsWith('/unet/diffusion_pytorch_model.safetensors')), 'weights came by the repository URL');
    await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
      steps: reference.steps, scheduler: 'pndm' });
    await p.fill('#scheduler-options', '');
    await generateIn(p);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'tiny-sd1 from the catalogue');
    assert.match(await fit('tiny'), /^Fits: stored in this browser: loads with no download/);
    // Its example prompt, one click away, draws with the form's settings.
    await p.fill('#prompt', 'something else');
    await p.click(`#catalogue li[data-id="tiny"] .examples button`);
    assert.equal(await waitForState(['done', 'error'], p), 'done', await p.textContent('#message'));
    assert.equal(await p.inputValue('#prompt'), reference.prompt);
    await expectImage(p, tensors.get('pndm/image_u8').data, 'tiny-sd1 from its example prompt');
    await expectNoCspViolations(p);
  } finally {
    await ctx.close();
  }
});

// Accessibility and layout: axe-core's WCAG 2.1 A/AA and best-practice rules find nothing on the page with a model
// loaded, an image made and every panel open, in the light and the dark theme (which follows the system); the
// layout holds on a phone (nothing wider than the screen) and on a wide screen. Screenshots of each land in
// web/test-results/.
test('accessibility (axe-core) in light and dark, and a layout that holds on a phone and a wide screen', { timeout: TIMEOUT }, async () => {
  const axe = fs.readFileSync(path.join(web, 'node_modules/axe-core/axe.min.js'), 'utf8');
  for (const colorScheme of ['light', 'dark']) {
    const ctx = await watchCsp(await browser.newContext({ serviceWorkers: 'block', colorScheme, viewport: { width: 1400, height: 900 } }));
    try {
      const p = await openTinyModel(ctx);
      await fillRun(p, { prompt: reference.prompt, negative: reference.negative_prompt, seed: reference.seed,
        steps: 2, scheduler: 'pndm' });
      await p.fill('#scheduler-options', '');
      await generateIn(p);
      await p.evaluate(() => { for (const d of document.querySelectorAll('details')) d.open = true; });
      await p.evaluate(axe);  // evaluated by the test driver, not a page script: the CSP does not apply to it
      const violations = await p.evaluate(async () => (await window.axe.run(document, { runOnly:
        ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })).violations.map((v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}` +
        `${v.nodes.length > 4 ? ` and ${v.nodes.length - 4} more` : ''}`));
      for (const v of violations) console.log(`  axe, ${colorScheme}: ${v}`);
      assert.deepEqual(violations, [], `axe-core found problems in the ${colorScheme} theme`);
      await shot(`09-desktop-${colorScheme}`, p);
      for (const [name, width, height] of [['phone', 390, 844], ['wide', 1920, 1080]]) {
        await p.setViewportSize({ width, height });
        const overflow = await p.evaluate(() => [...document.querySelectorAll('#app *')].filter((e) => {
          const r = e.getBoundingClientRect();
          return r.width > 0 && (r.right > document.documentElement.clientWidth + 1 || r.left < -1);
        }).map((e) => e.id || e.tagName.toLowerCase()).slice(0, 10));
        assert.deepEqual(overflow, [], `nothing wider than the ${name} screen`);
        await shot(`09-${name}-${colorScheme}`, p);
      }
      // The seed's "keep" stays beside the seed, clear of the scheduler, at every width.
      for (const width of [390, 700, 1000, 1400]) {
        await p.setViewportSize({ width, height: 900 });
        const [keep, scheduler] = await Promise.all(['label:has(#seed-lock)', '#scheduler'].map((s) =>
          p.locator(s).boundingBox()));
        const apart = keep.x + keep.width <= scheduler.x || scheduler.x + scheduler.width <= keep.x ||
          keep.y + keep.height <= scheduler.y || scheduler.y + scheduler.height <= keep.y;
        assert.ok(apart, `at ${width} px the "keep" label overlaps the scheduler: ${JSON.stringify({ keep, scheduler })}`);
      }
    } finally {
      await ctx.close();
    }
  }
});
