// The same .wasm on Dawn in Node (the npm `webgpu` package): the op harness against the cpu reference, and one
// txt2img image against diffusers. Without a GPU, Dawn is pointed at the SwiftShader Vulkan driver that Debian's
// Chromium ships; on a GPU machine the system's driver is used as it is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { decodePng, encodePng } from '../lib/png.mjs';
import { repoRoot } from '../lib/node.mjs';
import { fixture } from './fixtures.mjs';
import { compareImages } from './image-compare.mjs';
import { readSafetensors } from './safetensors.mjs';

const js = path.join(repoRoot, 'js');
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = { ...process.env };
if (!process.env.VK_DRIVER_FILES && fs.existsSync(swiftshader)) {
  env.VK_DRIVER_FILES = swiftshader;
  env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
const run = (args) => promisify(execFile)(process.execPath, args, { cwd: js, env, maxBuffer: 64 << 20 });

// Every op case through the Node host, under the kernels auto picks (Chromium's run checks every variant).
test('webgpu ops on Dawn in Node', { timeout: 20 * 60 * 1000 }, async () => {
  const { stdout } = await run(['webgpu-suite.mjs', 'ops', '--in', 'node', '--choices', 'auto']);
  const summary = stdout.split('\n').find((l) => l.startsWith('op harness:'));
  console.log(`  ${summary}`);
  assert.match(summary, /0 failed/);
});

test('tiny-sd1 pndm image on Dawn in Node matches diffusers', { timeout: 20 * 60 * 1000 }, async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'image.png');
  const { stderr } = await run(['websd-node.mjs', '--backend', 'webgpu', '--model', fixture('tiny-sd1/model'),
    '-p', 'a photo of an astronaut riding a horse on mars', '-n', 'blurry, low quality', '--steps', '5',
    '--guidance', '7.5', '--seed', '1234', '-W', '64', '-H', '64', '--scheduler', 'pndm', '-o', out]);
  const want = readSafetensors(fixture('tiny-sd1/reference.safetensors')).get('pndm/image_u8');
  const result = compareImages(decodePng(fs.readFileSync(out)).rgb, want.data);
  console.log(`  Dawn tiny-sd1 pndm: ${result.summary}  (${stderr.trim().split('\n').pop()})`);
  assert.ok(result.ok, result.summary);
});

// A q8 pack stays int8 on the GPU (dequantised in the shaders): its image on Dawn matches the native cpu
// backend's image of the same pack (which expands q8 the same way) within 2 levels.
test('a q8 pack on Dawn in Node draws what the native cpu backend draws', { timeout: 20 * 60 * 1000 }, async () => {
  const websd = path.join(repoRoot, 'build/native-release/src/websd');
  assert.ok(fs.existsSync(websd), `${websd} is missing: build the native tool first (scripts/test.sh does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-q8-'));
  const pack = path.join(dir, 'pack'), cpu = path.join(dir, 'cpu.png'), gpu = path.join(dir, 'gpu.png');
  await promisify(execFile)(websd, ['convert', fixture('tiny-sd1/model'), '-o', pack, '--dtype', 'q8']);
  const args = ['--model', pack, '-p', 'a photo of an astronaut riding a horse on mars', '-n', 'blurry, low quality',
    '--steps', '5', '--seed', '1234', '--scheduler', 'pndm'];
  await promisify(execFile)(websd, ['generate', ...args, '-o', cpu]);
  await run(['websd-node.mjs', '--backend', 'webgpu', ...args, '-o', gpu, '-q']);
  const result = compareImages(decodePng(fs.readFileSync(gpu)).rgb, decodePng(fs.readFileSync(cpu)).rgb);
  console.log(`  Dawn q8 pack vs native cpu: ${result.summary}`);
  assert.ok(result.ok, result.summary);
  fs.rmSync(dir, { recursive: true, force: true });
});

// A ControlNet from the Node runner: the fixture's, as a q8 pack, with its control image's Canny edges, on Dawn
// draws what the native tool draws on the cpu backend from the same files and options.
test('a q8 ControlNet pack with Canny edges on Dawn in Node draws what the native cpu backend draws', { timeout: 20 * 60 * 1000 }, async () => {
  const websd = path.join(repoRoot, 'build/native-release/src/websd');
  assert.ok(fs.existsSync(websd), `${websd} is missing: build the native tool first (scripts/test.sh does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-controlnet-'));
  const pack = path.join(dir, 'controlnet'), control = path.join(dir, 'control.png');
  const cpu = path.join(dir, 'cpu.png'), gpu = path.join(dir, 'gpu.png');
  const c = readSafetensors(fixture('tiny-sd1-creative/reference.safetensors')).get('control_image');
  fs.writeFileSync(control, encodePng({ width: 64, height: 64, rgb: Uint8Array.from(c.data, (v) => Math.round(v * 255)) }));
  await promisify(execFile)(websd, ['convert', fixture('tiny-sd1-creative/controlnet'), '-o', pack, '--dtype', 'q8']);
  const args = ['--model', fixture('tiny-sd1/model'), '-p', 'a photo of an astronaut riding a horse on mars',
    '-n', 'blurry, low quality', '--steps', '5', '--seed', '97531', '--scheduler', 'euler_a', '-W', '64', '-H', '64',
    '--controlnet', pack, '--control-image', control, '--control-preprocessor', 'canny', '--control-scale', '0.8',
    '--control-end', '0.8'];
  await promisify(execFile)(websd, ['generate', ...args, '-o', cpu]);
  await run(['websd-node.mjs', '--backend', 'webgpu', ...args, '-o', gpu, '-q']);
  const result = compareImages(decodePng(fs.readFileSync(gpu)).rgb, decodePng(fs.readFileSync(cpu)).rgb);
  console.log(`  Dawn q8 ControlNet pack vs native cpu: ${result.summary}`);
  assert.ok(result.ok, result.summary);
  fs.rmSync(dir, { recursive: true, force: true });
});

// Repeated open / generate (LoRA, ControlNet) / cancel / generate / free cycles on Dawn leave nothing behind on the
// GPU: after every free no buffer, pipeline or program the engine made is alive (GpuHost's own records); and the
// bytes malloc has handed out in the wasm heap after the sixth cycle are within 1 MiB of the second's (the first fills
// process-wide caches), as CApi.RepeatedCyclesDoNotGrowTheHeap holds natively; and the model opened again compiles
// no pipeline (GpuHost keeps them by WGSL for the device's life). The heap's size is printed but not
// held: it is a high-water mark that fragmentation moves (seen 23 -> 27 MiB at the fifth cycle with nothing leaked).
test('open, generate, cancel and free cycles on Dawn leave no GPU buffers and do not grow the heap', { timeout: 20 * 60 * 1000 }, async () => {
  const { stdout } = await run(['test/gpu-cycles.mjs', '6']);
  const rows = stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const mib = (b) => (b / (1 << 20)).toFixed(2);
  console.log(`  ${rows.map((r) => `cycle ${r.cycle}: ${r.objects} objects, ${r.live_bytes} bytes, heap ${mib(r.heap_bytes)} MiB, ${mib(r.heap_in_use)} MiB in use, ${r.pipelines_compiled} pipelines compiled`).join('; ')}`);
  assert.equal(rows.length, 6);
  for (const r of rows) {
    assert.ok(r.cancelled, `cycle ${r.cycle}: the cancelled run was not cancelled`);
    assert.equal(r.live_bytes, 0, `cycle ${r.cycle}: ${r.live_bytes} bytes of GPU buffers left after free`);
    assert.equal(r.buffers, 0, `cycle ${r.cycle}: ${r.buffers} GPU buffers left after free`);
    if (r.cycle > 0) assert.equal(r.pipelines_compiled, 0, `cycle ${r.cycle}: the model opened again compiled pipelines`);
  }
  assert.ok(rows[0].pipelines_compiled > 0);
  assert.ok(rows[5].heap_in_use <= rows[1].heap_in_use + (1 << 20),
    `the wasm heap's bytes in use grew: ${mib(rows[1].heap_in_use)} -> ${mib(rows[5].heap_in_use)} MiB`);
});

// Kernel tuning (src/backends/webgpu/tuner.h): a pass over tiny-sd1's attention problems stores a table for this
// adapter; the image made with it still matches diffusers; a stored table's choices are what the networks run
// (the profile names each kernel's variant), a table of another adapter or --tuning off changes nothing, and a
// table of another kernel version is refused with a message.
test('kernel tuning on Dawn: a table is measured, stored per adapter, used, and the image still matches', { timeout: 20 * 60 * 1000 }, async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-tuning-'));
  const tuned = { ...env, WEBSD_CACHE_DIR: cache };
  const runIn = (args, e = tuned) => promisify(execFile)(process.execPath, args, { cwd: js, env: e, maxBuffer: 64 << 20 });
  const out = path.join(cache, 'image.png');
  const image = ['websd-node.mjs', '--backend', 'webgpu', '--model', fixture('tiny-sd1/model'),
    '-p', 'a photo of an astronaut riding a horse on mars', '-n', 'blurry, low quality', '--steps', '5',
    '--guidance', '7.5', '--seed', '1234', '-W', '64', '-H', '64', '--scheduler', 'pndm', '-o', out];
  const { stderr } = await runIn([...image, '--tune', '--tune-filter', 'attention']);
  const line = stderr.split('\n').find((l) => l.includes('tuned:'));
  console.log(`  ${line}`);
  assert.match(line, /tuned: \d+ problems, \d+ candidates timed/);
  const [file] = fs.readdirSync(path.join(cache, 'webgpu-tuning'));
  const table = JSON.parse(fs.readFileSync(path.join(cache, 'webgpu-tuning', file), 'utf8'));
  assert.equal(table.format, 'websd-webgpu-tuning');
  assert.match(table.adapter, /swiftshader/i);
  const keys = Object.keys(table.problems);
  assert.ok(keys.length >= 4 && keys.every((k) => k.startsWith('attention ')), keys.join('; '));
  for (const p of Object.values(table.problems)) assert.ok(p.ms > 0 && p.ms <= p.auto_ms && p.count >= 1, JSON.stringify(p));
  const want = readSafetensors(fixture('tiny-sd1/reference.safetensors')).get('pndm/image_u8');
  const result = compareImages(decodePng(fs.readFileSync(out)).rgb, want.data);
  assert.ok(result.ok, `tuned: ${result.summary}`);

  // Every attention problem forced to variant 1 (the rules pick 0 on software adapters): the text encoder's
  // profile shows it, unless the table is another adapter's or tuning is off.
  const forced = { ...table, problems: Object.fromEntries(keys.map((k) => [k, { choice: 'attention=1', ms: 1, auto_ms: 1, count: 1 }])) };
  const variants = async (t, extra = []) => {
    fs.writeFileSync(path.join(cache, 'webgpu-tuning', file), JSON.stringify(t));
    const profile = path.join(cache, 'profile.json');
    await runIn(['bench-node.mjs', '--arch', fixture('tiny-sd1/model'), '--only', 'text', '--runs', '1', '--profile',
      profile, ...extra]);
    return JSON.parse(fs.readFileSync(profile, 'utf8'))['text encoder'].rows.map((r) => r.kernel)
      .filter((k) => k.startsWith('attention')).join(',');
  };
  assert.match(await variants(forced), /^attention d8 v1$/);
  assert.match(await variants(forced, ['--tuning', 'off']), /^attention d8 v0$/);
  assert.match(await variants({ ...forced, adapter: 'another GPU' }), /^attention d8 v0$/);
  fs.writeFileSync(path.join(cache, 'webgpu-tuning', file), JSON.stringify({ ...forced, version: 0 }));
  const { stdout } = await runIn(['bench-node.mjs', '--arch', fixture('tiny-sd1/model'), '--only', 'text', '--runs', '1', '--tune', '--tune-filter', 'nothing matches this']);
  assert.match(stdout, /kernel tuning: .*another version of websd's kernels.*tune again/);
});
