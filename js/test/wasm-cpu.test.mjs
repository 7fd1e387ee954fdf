// websd.wasm on its cpu backend, run through the Node runner exactly as a user runs it: the tiny-sd1 image must
// match what diffusers drew (pndm, the checkpoint's own scheduler).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { decodePng } from '../lib/png.mjs';
import { repoRoot } from '../lib/node.mjs';
import { SAMPLER_NAMES } from '../lib/parameters.mjs';
import { fixture, readReferenceJson } from './fixtures.mjs';
import { compareImages } from './image-compare.mjs';
import { readSafetensors } from './safetensors.mjs';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'js/websd-node.mjs');

test('tiny-sd1 pndm image on the wasm cpu backend matches diffusers', async () => {
  const ref = readReferenceJson('tiny-sd1');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'image.png');
  const { stderr } = await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'),
    '-p', ref.prompt, '-n', ref.negative_prompt, '--steps', String(ref.steps), '--guidance', String(ref.guidance_scale),
    '--seed', String(ref.seed), '-W', String(ref.width), '-H', String(ref.height), '--scheduler', 'pndm', '-o', out]);
  const png = decodePng(fs.readFileSync(out));
  const want = readSafetensors(fixture('tiny-sd1/reference.safetensors')).get('pndm/image_u8');
  const result = compareImages(png.rgb, want.data);
  console.log(`  wasm cpu tiny-sd1 pndm: ${result.summary}  (${stderr.trim().split('\n').pop()})`);
  assert.ok(result.ok, result.summary);
  const text = fs.readFileSync(out).toString('latin1');
  assert.match(text, /Steps: 5, Sampler: PLMS, CFG scale: 7\.5, Seed: 1234, Size: 64x64/);
});

// Prompt syntax reaches the engine: "(PROMPT:1)" is the prompt itself (diffusers' image), and with --literal-prompt
// the brackets are text (another image).
test('a weight of 1 draws diffusers\' image; --literal-prompt reads brackets as text', async () => {
  const ref = readReferenceJson('tiny-sd1');
  const want = readSafetensors(fixture('tiny-sd1/reference.safetensors')).get('pndm/image_u8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-'));
  const draw = async (extra) => {
    const out = path.join(dir, 'image.png');
    await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', `(${ref.prompt}:1)`,
      '-n', ref.negative_prompt, '--steps', String(ref.steps), '--guidance', String(ref.guidance_scale),
      '--seed', String(ref.seed), '-W', String(ref.width), '-H', String(ref.height), '--scheduler', 'pndm', '-q',
      '-o', out, ...extra]);
    return compareImages(decodePng(fs.readFileSync(out)).rgb, want.data);
  };
  const weighted = await draw([]);
  console.log(`  wasm cpu tiny-sd1 pndm, prompt weighted 1: ${weighted.summary}`);
  assert.ok(weighted.ok, weighted.summary);
  const literal = await draw(['--literal-prompt']);
  assert.ok(!literal.ok, `brackets read as text must change the image: ${literal.summary}`);
});

// A hires fix through the Node runner: twice the size, recorded in the parameters text as the web UI records it.
test('a hires fix doubles the size and is recorded', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'hires.png');
  await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', 'a fox', '--steps', '2',
    '-W', '64', '-H', '64', '--seed', '3', '--hires-scale', '2', '--hires-strength', '0.5', '-q', '-o', out]);
  const png = decodePng(fs.readFileSync(out));
  assert.equal(png.width, 128);
  assert.match(fs.readFileSync(out).toString('latin1'), /Size: 64x64, .*Denoising strength: 0\.5, Hires upscale: 2, Hires upscaler: Latent/);
});

// TAESD through the Node runner: --vae-decoder draws diffusers' image of tiny-sd1 with TAESD as its VAE, and
// --preview with --preview-decoder leaves the full-size image of the last step (the final image itself).
test('a TAESD decoder draws diffusers\' image and full-size previews', async () => {
  const ref = readReferenceJson('tiny-taesd');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-'));
  const out = path.join(dir, 'image.png'), live = path.join(dir, 'live.png');
  await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', ref.prompt,
    '-n', ref.negative_prompt, '--steps', String(ref.steps), '--seed', String(ref.seed), '-W', '64', '-H', '64',
    '--scheduler', 'pndm', '--vae-decoder', fixture('tiny-taesd/taesd'), '--preview', live,
    '--preview-decoder', fixture('tiny-taesd/taesd'), '-q', '-o', out]);
  const want = readSafetensors(fixture('tiny-taesd/reference.safetensors')).get('pndm/image_u8');
  const image = decodePng(fs.readFileSync(out));
  const r = compareImages(image.rgb, want.data);
  console.log(`  wasm cpu tiny-taesd pndm: ${r.summary}`);
  assert.ok(r.ok, r.summary);
  const preview = decodePng(fs.readFileSync(live));
  assert.equal(preview.width, 64);
  assert.deepEqual(preview.rgb, image.rgb);
});

// The engine writes every PNG's parameters text (pipeline/parameters_text.cpp); the page's scheduler labels are
// js/lib/parameters.mjs's SAMPLER_NAMES. Both must name each sampler alike. (In a child process: the module's
// engine threads would keep this one alive.)
test('the engine\'s parameters text names samplers as SAMPLER_NAMES does', async () => {
  const script = `
    import { Engine, Model } from '${path.join(repoRoot, 'js/lib/engine.mjs')}';
    import { inModule, loadModule, wasmDir } from '${path.join(repoRoot, 'js/lib/node.mjs')}';
    import { SAMPLER_NAMES } from '${path.join(repoRoot, 'js/lib/parameters.mjs')}';
    const module = await loadModule(wasmDir() + '/src/wasm/websd.js', { print: () => {}, printErr: () => {} });
    const model = await Model.open(new Engine(module, null), inModule(${JSON.stringify(fixture('tiny-sd1/model'))}),
      { backend: 'cpu', threads: 1 });
    const texts = Object.keys(SAMPLER_NAMES).map((scheduler) =>
      model.parametersText({ prompt: 'a (fox:1.2)', scheduler, seed: 7n }, 2, 'tiny'));
    let error = '';
    try { model.parametersText({ prompt: 'x', hiresUpscaler: 7 }); } catch (e) { error = e.message; }
    console.log(JSON.stringify({ texts, error }));
    process.exit(0);`;
  const { stdout } = await run('node', ['--input-type=module', '-e', script]);
  const { texts, error } = JSON.parse(stdout);
  Object.entries(SAMPLER_NAMES).forEach(([name, shown], i) => {
    assert.equal(texts[i], `a (fox:1.2)\nSteps: 20, Sampler: ${shown}, CFG scale: 7.5, Seed: 9, Size: 64x64, ` +
      `Model: tiny, Scheduler: ${name}`);
  });
  assert.match(error, /hires_upscaler.*wrong type|wrong type/);
});

// The engine's own list of schedulers (the native tool's --scheduler choices, from schedulers/scheduler.cpp) is
// SAMPLER_NAMES's, in order: the page, the Node runner and the settings take theirs from it.
test('SAMPLER_NAMES lists the engine\'s schedulers', async () => {
  const websd = path.join(repoRoot, 'build/native-release/src/websd');
  assert.ok(fs.existsSync(websd), `${websd} is missing: build the native tool first (scripts/test.sh does)`);
  const { stdout } = await run(websd, ['generate', '--help']);
  const choices = stdout.match(/--scheduler TEXT:\{([^}]*)\}/);
  assert.ok(choices, stdout);
  assert.deepEqual(choices[1].split(','), Object.keys(SAMPLER_NAMES));
});

// Model.promptInfo: the engine's reading of a prompt in JS string indices (the page highlights with them), past
// characters that take several UTF-8 bytes and one outside the BMP.
test('promptInfo gives token counts and weighted spans in string indices', async () => {
  const script = `
    import { Engine, Model } from '${path.join(repoRoot, 'js/lib/engine.mjs')}';
    import { inModule, loadModule } from '${path.join(repoRoot, 'js/lib/node.mjs')}';
    import { wasmDir } from '${path.join(repoRoot, 'js/lib/node.mjs')}';
    const module = await loadModule(wasmDir() + '/src/wasm/websd.js', { print: () => {}, printErr: () => {} });
    const model = await Model.open(new Engine(module, null), inModule(${JSON.stringify(fixture('tiny-sd1/model'))}),
      { backend: 'cpu', threads: 1 });
    const prompt = 'café 🦊 (fox:1.3) [snow] BREAK sky';
    const info = model.promptInfo(prompt);
    const literal = model.promptInfo(prompt, { literal: true });
    console.log(JSON.stringify({ prompt, info, literal }));
    process.exit(0);`;
  const { stdout } = await run('node', ['--input-type=module', '-e', script]);
  const { prompt, info, literal } = JSON.parse(stdout);
  const shown = info.spans.map(([b, e, w, brk]) => [prompt.slice(b, e), +w.toFixed(4), brk]);
  assert.deepEqual(shown, [['café 🦊 ', 1, false], ['fox', 1.3, false], [' ', 1, false], ['snow', 0.9091, false],
    ['BREAK', 1, true], ['sky', 1, false]]);
  assert.equal(info.tokens.length, 2, 'BREAK starts a second chunk');
  assert.equal(info.tokens[1], 1);
  assert.equal(info.chunk_size, 75);
  assert.equal(literal.tokens.length, 1);
  assert.deepEqual(literal.spans, [[0, prompt.length, 1, false]]);
});

// Many callers of one module (as a page's handlers are): two models opened at once, three generations started at
// once on them, the first model freed while its second generation still waits. Jobs run one at a time in the order
// they were asked for, each draws diffusers' image, and a call on the freed model says so.
test('generations asked for at once run in order, on two models, past a free', async () => {
  const script = `
    import { Engine, Model } from '${path.join(repoRoot, 'js/lib/engine.mjs')}';
    import { inModule, loadModule, wasmDir } from '${path.join(repoRoot, 'js/lib/node.mjs')}';
    const module = await loadModule(wasmDir() + '/src/wasm/websd.js', { print: () => {}, printErr: () => {} });
    const engine = new Engine(module, null);
    const path = inModule(${JSON.stringify(fixture('tiny-sd1/model'))});
    const [a, b] = await Promise.all([Model.open(engine, path, { backend: 'cpu', threads: 1 }),
      Model.open(engine, path, { backend: 'cpu', threads: 1 })]);
    const ref = ${JSON.stringify(readReferenceJson('tiny-sd1'))};
    const order = [];
    const draw = (model, name, scheduler) => model.txt2img({ prompt: ref.prompt, negativePrompt: ref.negative_prompt,
      width: ref.width, height: ref.height, steps: ref.steps, guidance: ref.guidance_scale, seed: BigInt(ref.seed),
      scheduler, onProgress: () => { order.push(name); } })
      .then(([img]) => ({ name, scheduler, rgb: Array.from(img.rgb) }), (e) => ({ name, error: e.message }));
    const jobs = [draw(a, 'A1', 'pndm'), draw(b, 'B', 'euler_a'), draw(a, 'A2', 'ddim')];
    const freed = a.free();
    jobs.push(draw(a, 'A3', 'pndm'));
    await freed;
    jobs.push(draw(b, 'B2', 'dpmpp_2m'));
    const results = await Promise.all(jobs);
    let getter = '';
    try { a.nativeWidth; } catch (e) { getter = e.message; }
    console.log(JSON.stringify({ order, results, getter }));
    process.exit(0);`;
  const { stdout } = await run('node', ['--input-type=module', '-e', script], { maxBuffer: 64 << 20 });
  const { order, results, getter } = JSON.parse(stdout);
  const runs = order.filter((name, i) => name !== order[i - 1]);
  assert.deepEqual(runs, ['A1', 'B', 'A2', 'B2'], `each job runs whole, in the order asked: ${order}`);
  const reference = readSafetensors(fixture('tiny-sd1/reference.safetensors'));
  for (const r of results) {
    if (r.name === 'A3') {
      assert.match(r.error ?? '', /this model was freed/, 'a generation asked for after free()');
      continue;
    }
    assert.ok(!r.error, `${r.name}: ${r.error}`);
    const c = compareImages(Uint8Array.from(r.rgb), reference.get(`${r.scheduler}/image_u8`).data);
    assert.ok(c.ok, `${r.name} (${r.scheduler}): ${c.summary}`);
  }
  assert.match(getter, /this model was freed/);
});

test('a missing model is an error that names the path', async () => {
  await assert.rejects(run('node', [cli, '--backend', 'cpu', '--model', '/nonexistent/model', '-p', 'x']),
    (e) => /websd-node: error: .*\/nonexistent\/model/.test(e.stderr));
});

// Every option crosses the wasm boundary in one parameter object: scheduler config overrides (SD-Turbo style
// sampling, checked against diffusers' image) and img2img (checked against the native tool's picture from the
// same PNG, within 2 levels: the wasm build multiplies with its portable sgemm).
test('scheduler config and img2img reach the engine through the Node runner', async () => {
  const extra = JSON.parse(fs.readFileSync(fixture('tiny-sd1/reference_extra.json'), 'utf8'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websd-'));
  const turbo = path.join(dir, 'turbo.png');
  const args = extra.runs.turbo_1step.args;
  await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', args.prompt,
    '--steps', '1', '--guidance', '0', '--seed', '7', '--scheduler', 'euler_a',
    '--scheduler-option', 'timestep_spacing=trailing', '-W', '64', '-H', '64', '-q', '-o', turbo]);
  const want = readSafetensors(fixture('tiny-sd1/reference_extra.safetensors')).get('turbo_1step/image_u8');
  const r = compareImages(decodePng(fs.readFileSync(turbo)).rgb, want.data);
  console.log(`  wasm cpu tiny-sd1 turbo_1step (--scheduler-option): ${r.summary}`);
  assert.ok(r.ok, r.summary);
  assert.match(fs.readFileSync(turbo).toString('latin1'), /Scheduler config: timestep_spacing=trailing/);

  const native = path.join(repoRoot, 'build/native-release/src/websd');
  const wasmOut = path.join(dir, 'img2img-wasm.png'), nativeOut = path.join(dir, 'img2img-native.png');
  const common = ['--model', fixture('tiny-sd1/model'), '-p', 'a dog', '--steps', '6', '--seed', '5',
    '--strength', '0.5', '--init-image', turbo, '-q'];
  await run('node', [cli, '--backend', 'cpu', ...common, '-o', wasmOut]);
  await run(native, ['generate', ...common, '-o', nativeOut]);
  const got = decodePng(fs.readFileSync(wasmOut)), ref = decodePng(fs.readFileSync(nativeOut));
  assert.deepEqual([got.width, got.height], [64, 64]);
  const c = compareImages(got.rgb, ref.rgb);
  console.log(`  wasm cpu img2img vs the native tool: ${c.summary}`);
  assert.ok(c.ok, c.summary);
  assert.match(fs.readFileSync(wasmOut).toString('latin1'), /Denoising strength: 0\.5/);
  fs.rmSync(dir, { recursive: true, force: true });
});

// LoRA through the Node runner: a prompt tag found in --lora-dir, on the wasm cpu backend, against diffusers'
// lora_kohya_s08 image (seed 2468 and leading spacing: tests/lora_runs.h), recorded as the tag in the PNG.
test('a LoRA tag in the prompt draws diffusers\' fused-LoRA image', async () => {
  const creative = readReferenceJson('tiny-sd1-creative');
  const run0 = creative.runs.lora_kohya_s08;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'lora.png');
  await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'),
    '-p', `<lora:lora_kohya:0.8>${run0.args.prompt}`, '-n', run0.args.negative_prompt,
    '--lora-dir', fixture('tiny-sd1-creative'), '--steps', '6', '--seed', '2468', '--scheduler', 'euler_a',
    '--scheduler-option', 'timestep_spacing=leading', '-W', '64', '-H', '64', '-q', '-o', out]);
  const want = readSafetensors(fixture('tiny-sd1-creative/reference.safetensors')).get('lora_kohya_s08/image_u8');
  const r = compareImages(decodePng(fs.readFileSync(out)).rgb, want.data);
  console.log(`  wasm cpu tiny-sd1 lora_kohya_s08 (prompt tag): ${r.summary}`);
  assert.ok(r.ok, r.summary);
  assert.match(fs.readFileSync(out).toString('latin1'), /<lora:lora_kohya:0\.8>a photo/);
  await assert.rejects(run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', 'x',
    '--lora', fixture('tiny-sd1-creative/tiny-style.safetensors'), '-W', '64', '-H', '64', '--steps', '1']),
  (e) => /not LoRA layers/.test(e.stderr));
});

// Textual inversion through the Node runner: --embedding FILE:WORD on the wasm cpu backend against diffusers'
// ti_dpmpp_2m image (seed 1357, leading spacing: tests/embedding_runs.h); a LoRA file is no embedding.
test('an embedding\'s word in the prompt draws diffusers\' textual inversion image', async () => {
  const run0 = readReferenceJson('tiny-sd1-creative').runs.ti_dpmpp_2m;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'ti.png');
  await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'),
    '-p', run0.args.prompt, '-n', run0.args.negative_prompt,
    '--embedding', `${fixture('tiny-sd1-creative/tiny-style.safetensors')}:${run0.embedding.token}`,
    '--steps', '6', '--seed', '1357', '--scheduler', 'dpmpp_2m', '--scheduler-option', 'timestep_spacing=leading',
    '-W', '64', '-H', '64', '-q', '-o', out]);
  const want = readSafetensors(fixture('tiny-sd1-creative/reference.safetensors')).get('ti_dpmpp_2m/image_u8');
  const r = compareImages(decodePng(fs.readFileSync(out)).rgb, want.data);
  console.log(`  wasm cpu tiny-sd1 ti_dpmpp_2m: ${r.summary}`);
  assert.ok(r.ok, r.summary);
  await assert.rejects(run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'), '-p', 'x',
    '--embedding', fixture('tiny-sd1-creative/lora_kohya.safetensors'), '-W', '64', '-H', '64', '--steps', '1']),
  (e) => /not a textual inversion/.test(e.stderr));
});
