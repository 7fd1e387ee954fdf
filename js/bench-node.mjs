#!/usr/bin/env node
// Times a real Stable Diffusion architecture's networks (synthesized f16 weights) on websd.wasm's webgpu backend
// (Dawn) or cpu backend in Node:
//   node js/bench-node.mjs [--arch sd15|sd21|sdxl|MODEL_PATH] [--backend webgpu|cpu] [--width W --height H] [--runs N]
//                          [--steps S] [--dawn-flag enable-dawn-features=disable_robustness]
//                          [--generate N --tokenizer DIR [--guidance G] [--lora-rank R [--lora-mode runtime]]]
//                          [--limit NAME=VALUE ...]
//                          [--only unet,vae,text,controlnet] [--dtype f16|q8] [--profile FILE.json] [--json FILE.json]
//                          [--kernels gemm=0,attention=0,group_norm=0] [--tune [--tune-filter TEXT]] [--tuning on|off]
//   node js/bench-node.mjs --ready MODEL_DIR [--runs N] [--width W --height H]
// Prints per network the compile time (weight upload included), the median, min and max run time, the planned
// arena and the weights, and the estimate of one image: text encoders + steps × UNet (batch 2, guidance) + VAE
// decode. --kernels forces numbered kernel variants (src/backends/webgpu/kernel_choice.h; 0 = the first plain
// kernels), as the kernel lab does. --profile also times every dispatch with timestamp queries, prints a table per network (kernel, shape,
// count, ms, share, TFLOP/s or GB/s) and writes them to FILE.json; --json writes the timings. "controlnet" in --only
// (beside unet) times the UNet with one ControlNet of the architecture in one graph, as a guided generation runs it.
// --generate N instead runs N whole txt2img generations of a synthetic model of the architecture (random f16
// weights, the tokenizer in DIR) and prints seconds per image, ms per denoising step and the peak GPU memory.
// --lora-rank R with --generate N times what using and switching LoRAs costs (js/lib/lora-bench.mjs): it makes two
// rank-R LoRA files in kohya naming for the synthetic model's attention, proj_in/proj_out, feed-forward and text
// encoder linears, then times, --runs times each (medians), generations of N images with (a) no LoRA, (b) LoRA A at
// 0.8 the first time (merge + upload + run), (c) A at 0.8 again, (d) a switch to LoRA B, (e) A at 0.5, (f) no LoRA
// again; per case seconds per image, the overhead over (a), the bytes uploaded to the GPU, the peak GPU memory, the
// RSS and the wasm heap, and the LoRA files' sizes and the adapted tensors' count and bytes (--json: all of it).
// --lora-mode runtime applies the LoRAs at run time instead of merging them (src/adapters/lora.h, LoraMode).
// --ready MODEL_DIR times how long a model on disk takes to be ready: opened (configs and tokenizer read), then a
// one-step image whose weights are read and uploaded and pipelines compiled, against a second one-step image of
// the open model (the networks alone); --runs times the model is opened, one after another in this process (from
// the second, GpuHost's pipeline cache compiles nothing: the pipelines compiled are counted each time).
// --tune first tunes the kernels for this GPU at the architecture's problems (Engine.tune: the table is stored per
// GPU, js/lib/node.mjs tuningPath, and printed as a summary; --tune-filter TEXT: only problems whose key holds
// TEXT); a stored table is used unless --tuning off.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Engine, Model, WebsdError } from './lib/engine.mjs';
import { GpuHost } from './lib/gpu-host.mjs';
import { benchLoras } from './lib/lora-bench.mjs';
import { applyStoredTuning, inModule, loadModule, nodeGpu, tuneAndStore, tuningSummary, wasmDir } from './lib/node.mjs';

const { values: o } = parseArgs({
  options: {
    arch: { type: 'string', default: 'sd15' }, backend: { type: 'string', default: 'webgpu' },
    width: { type: 'string', default: '0' }, height: { type: 'string', default: '0' },
    runs: { type: 'string', default: '3' }, steps: { type: 'string', default: '20' },
    'dawn-flag': { type: 'string', multiple: true, default: [] },
    generate: { type: 'string', default: '0' }, tokenizer: { type: 'string' }, guidance: { type: 'string', default: '7.5' },
    limit: { type: 'string', multiple: true, default: [] },
    only: { type: 'string', default: '' }, dtype: { type: 'string', default: 'f16' },
    profile: { type: 'string', default: '' }, json: { type: 'string', default: '' },
    kernels: { type: 'string', default: '' }, 'lora-rank': { type: 'string', default: '0' },
    'lora-mode': { type: 'string', default: 'merged' },
    tune: { type: 'boolean', default: false }, tuning: { type: 'string', default: 'on' },
    ready: { type: 'string', default: '' }, 'tune-filter': { type: 'string', default: '' },
  },
});

if (!['on', 'off'].includes(o.tuning)) {
  console.error(`bench-node: --tuning must be on or off (got ${o.tuning})`);
  process.exit(2);
}
const module = await loadModule(path.join(wasmDir(), 'src/wasm/websd.js'));
// --limit maxStorageBufferBindingSize=134217728: run under a smaller device's limits.
const limits = Object.fromEntries(o.limit.map((l) => { const [k, v] = l.split('='); return [k, Number(v)]; }));
const gpuHost = o.backend === 'webgpu' ? await GpuHost.create(await nodeGpu(o['dawn-flag']), { limits }) : null;
if (gpuHost) console.log(`adapter: ${gpuHost.description}; Dawn flags: ${o['dawn-flag'].join(' ') || 'none'}`);
const engine = new Engine(module, gpuHost);
// --arch PATH: the architecture of a model on disk (its configs; weights still synthesized), e.g. a tiny test model.
const arch = o.arch.includes('/') ? inModule(o.arch) : o.arch;
let tuning = null;  // the stored table's file, where one is used
if (gpuHost && o.tuning === 'on') {
  const stored = applyStoredTuning(engine);
  if (stored.applied) tuning = stored.path;
  if (stored.applied || o.tune) console.log(`kernel tuning: ${stored.applied ? stored.path : stored.reason}`);
}
if (gpuHost && o.tune) {
  try {
    const t = await tuneAndStore(engine, arch, { width: Number(o.width), height: Number(o.height),
      batch: Number(o.guidance) > 1 ? 2 : 1, dtype: o.dtype, filter: o['tune-filter'] });
    tuning = t.path;
    console.log(`kernel tuning: ${tuningSummary(t)}; stored in ${t.path}`);
  } catch (e) {
    console.error(`bench-node: tuning: ${e.message}`);
    process.exit(1);
  }
}
const a = engine.allocator();
const mib = (b) => (b / 1048576).toFixed(0);

if (o.ready) {
  const rows = [];
  console.log(`model-ready time of ${o.ready} on ${o.backend} (${Number(o.width) || 'native'}x${Number(o.height) || 'native'})`);
  for (let i = 0; i < Number(o.runs); ++i) {
    const compiled0 = gpuHost?.pipelinesCompiled ?? 0;
    const t0 = performance.now();
    const model = await Model.open(engine, inModule(o.ready), { backend: o.backend });
    const t1 = performance.now();
    const opts = { prompt: 'a lighthouse on a cliff at dusk', steps: 1, width: Number(o.width), height: Number(o.height) };
    await model.txt2img(opts);
    const t2 = performance.now();
    const compiled = (gpuHost?.pipelinesCompiled ?? 0) - compiled0;
    await model.txt2img(opts);
    const t3 = performance.now();
    await model.free();
    const row = { open_ms: t1 - t0, first_image_ms: t2 - t1, second_image_ms: t3 - t2,
      ready_ms: (t1 - t0) + (t2 - t1) - (t3 - t2), pipelines_compiled: compiled };
    rows.push(row);
    console.log(`  open ${i + 1}: ready in ${(row.ready_ms / 1000).toFixed(2)} s (opened ${(row.open_ms / 1000).toFixed(2)} s, ` +
      `first 1-step image ${(row.first_image_ms / 1000).toFixed(2)} s, second ${(row.second_image_ms / 1000).toFixed(2)} s; ` +
      `${compiled} pipelines compiled)`);
  }
  if (gpuHost) console.log(`  peak GPU memory (storage buffers alive at once): ${mib(gpuHost.peakBytes)} MiB`);
  if (o.json) {
    fs.writeFileSync(o.json, JSON.stringify({ model: o.ready, backend: o.backend, flags: o['dawn-flag'],
      adapter: gpuHost?.description, tuning, opens: rows, peak_gpu_bytes: gpuHost?.peakBytes }, null, 1));
  }
  a.free();
  process.exit(0);
}

if (Number(o.generate) > 0) {
  if (!o.tokenizer) {
    console.error('bench-node: --generate needs --tokenizer DIR (a CLIP tokenizer folder: vocab.json + merges.txt)');
    process.exit(2);
  }
  if (Number(o['lora-rank']) > 0) {
    try {
      const results = await benchLoras({ engine, module, gpuHost, o, arch, tokenizer: inModule(o.tokenizer) });
      if (o.json) fs.writeFileSync(o.json, JSON.stringify({ ...results, flags: o['dawn-flag'] }, null, 1));
    } catch (e) {
      console.error(`bench-node: error: ${e.message}`);
      process.exit(1);
    }
    a.free();
    process.exit(0);
  }
  const n = Number(o.generate);
  const out = a.zeroed(8 * 4 * n);
  const r = await engine.run(() => module._websd_wasm_bench_generate(a.string(arch), a.string(o.backend),
    a.string(inModule(o.tokenizer)), Number(o.width), Number(o.height), Number(o.steps), Number(o.guidance), n,
    a.string(o.kernels), out));
  if (r.status !== 0) {
    console.error(`bench-node: error: ${new WebsdError(r.status, r.message).message}`);
    process.exit(1);
  }
  const v = new Float64Array(module.wasmMemory.buffer, out, 4 * n);
  console.log(`${o.arch} txt2img on ${o.backend}, ${o.steps} steps, guidance ${o.guidance}, ` +
    `${Number(o.width) || 'native'}x${Number(o.height) || 'native'}, synthetic f16 weights`);
  for (let i = 0; i < n; ++i) {
    const [total, toFirst, perStep, tail] = v.subarray(4 * i, 4 * i + 4);
    console.log(`  image ${i + 1}: ${(total / 1000).toFixed(2)} s  (to the first step ${(toFirst / 1000).toFixed(2)} s, ` +
      `${perStep.toFixed(1)} ms per step after it, last step to image ${(tail / 1000).toFixed(2)} s)`);
  }
  if (gpuHost) console.log(`  peak GPU memory (storage buffers alive at once): ${mib(gpuHost.peakBytes)} MiB`);
  if (o.json) {
    const images = [];
    for (let i = 0; i < n; ++i) {
      const [total, toFirst, perStep, tail] = v.subarray(4 * i, 4 * i + 4);
      images.push({ total_ms: total, to_first_ms: toFirst, per_step_ms: perStep, tail_ms: tail });
    }
    fs.writeFileSync(o.json, JSON.stringify({ arch: o.arch, steps: Number(o.steps), kernels: o.kernels || 'auto',
      flags: o['dawn-flag'], adapter: gpuHost?.description, tuning, images, peak_gpu_bytes: gpuHost?.peakBytes }, null, 1));
  }
  a.free();
  process.exit(0);
}

const withControl = o.only.split(',').includes('controlnet');
const FIELDS = 7, NETWORKS = ['text encoder', 'text encoder 2', withControl ? 'unet+controlnet (batch 2)' : 'unet (batch 2)',
  'vae decoder'];
const results = a.zeroed(8 * FIELDS * NETWORKS.length);
const r = await engine.run(() => module._websd_wasm_bench(a.string(arch), a.string(o.backend), Number(o.width),
  Number(o.height), Number(o.runs), a.string(o.only), a.string(o.dtype), a.string(o.profile ? inModule(o.profile) : ''),
  a.string(o.kernels), results));
if (r.status !== 0) {
  console.error(`bench-node: error: ${new WebsdError(r.status, r.message).message}`);
  process.exit(1);
}
const v = new Float64Array(module.wasmMemory.buffer, results, FIELDS * NETWORKS.length);
let image = 0, arenaMax = 0, weights = 0;
console.log(`${o.arch} on ${o.backend}, ${o.dtype} weights, kernels ${o.kernels || 'auto'}${tuning ? ' (tuned)' : ''}, ` +
  `median of ${o.runs} runs`);
const timings = {};
for (const [i, name] of NETWORKS.entries()) {
  const [compileMs, runMs, arena, weightBytes, gflop, minMs, maxMs] = v.subarray(i * FIELDS, (i + 1) * FIELDS);
  if (!compileMs) continue;
  timings[name] = { median_ms: runMs, min_ms: minMs, max_ms: maxMs, compile_ms: compileMs, arena_bytes: arena,
    weight_bytes: weightBytes, gflop };
  console.log(`  ${name.padEnd(16)} ${runMs.toFixed(1).padStart(9)} ms (${minMs.toFixed(1)}-${maxMs.toFixed(1)})   ` +
    `compile ${(compileMs / 1000).toFixed(1)} s   arena ${mib(arena)} MiB   weights ${mib(weightBytes)} MiB   ` +
    `${(gflop / runMs).toFixed(1)} TFLOP/s`);
  image += name.startsWith('unet') ? Number(o.steps) * runMs : runMs;
  arenaMax = Math.max(arenaMax, arena);
  weights += weightBytes;
}
console.log(`  one image (${o.steps} steps, guidance): about ${(image / 1000).toFixed(2)} s; GPU memory planned: ` +
  `weights ${mib(weights)} MiB + largest arena ${mib(arenaMax)} MiB` +
  (gpuHost ? `; peak on the device ${mib(gpuHost.peakBytes)} MiB` : ''));
if (o.json) {
  fs.writeFileSync(o.json, JSON.stringify({ arch: o.arch, backend: o.backend, dtype: o.dtype, flags: o['dawn-flag'],
    adapter: gpuHost?.description, kernels: o.kernels || 'auto', tuning, runs: Number(o.runs), networks: timings,
    peak_gpu_bytes: gpuHost?.peakBytes }, null, 1));
}
a.free();
process.exit(0);
