// What using and switching LoRAs costs in whole generations (js/bench-node.mjs --generate N --lora-rank R): two
// LoRA files in kohya naming are made for the synthetic model's own layers (every attention projection, proj_in/
// proj_out and feed-forward linear of the UNet, every attention and MLP linear of the text encoder(s)), and six
// cases are timed in one process, each --runs times: (a) no LoRA, (b) LoRA A at 0.8 for the first time (files
// read, adapted weights merged: on the webgpu backend on the GPU, from the LoRA's factors), (c) A at 0.8 again
// (the merged weights reused), (d) a switch to LoRA B, (e) A at another scale (merged again), (f) back to no LoRA.
// Per case: the median seconds per image, its overhead over (a), the time to the first denoising step (where
// merging and uploading happen), the bytes written to the GPU during the case, the peak GPU memory of the case,
// and the process's RSS and wasm heap after it.
import { encodeSafetensors, f16Bits } from './safetensors.mjs';
import { WebsdError } from './engine.mjs';

// The layers kohya's LoRA trainers adapt by default: the UNet's Transformer2DModel linears and the text encoders'
// CLIPAttention / CLIPMLP linears.
const UNET_LAYER = /\.(attn[12]\.(to_q|to_k|to_v|to_out\.0)|proj_in|proj_out|ff\.net\.0\.proj|ff\.net\.2)$/;
const TEXT_LAYER = /\.(self_attn\.(q_proj|k_proj|v_proj|out_proj)|mlp\.(fc1|fc2))$/;
// LoraWeights keeps a merged weight as f32 up to this size (src/adapters/lora.cpp, kExactMergeBytes), else as f16.
const EXACT_MERGE_BYTES = 4 << 20;

const mib = (b) => (b / 1048576).toFixed(1);
const bytes = (b) => (b >= 1048576 ? `${mib(b)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// The layers a LoRA adapts, from the model's tensors by component ({ unet: [[name, shape]], text_encoder: ... }):
// [{ component, key (kohya, without suffixes), name (the weight's), shape }].
export function loraLayers(tensors) {
  const sdxl = 'text_encoder_2' in tensors;
  const prefixes = { unet: 'lora_unet_', text_encoder: sdxl ? 'lora_te1_text_model_' : 'lora_te_text_model_',
    text_encoder_2: 'lora_te2_text_model_' };
  const layers = [];
  for (const [component, prefix] of Object.entries(prefixes)) {
    for (const [name, shape] of tensors[component] || []) {
      if (!name.endsWith('.weight') || shape.length < 2) continue;
      const stem = name.slice(0, -'.weight'.length);
      if (!(component === 'unet' ? UNET_LAYER : TEXT_LAYER).test(stem)) continue;
      layers.push({ component, key: prefix + stem.replaceAll('.', '_'), name, shape });
    }
  }
  return layers;
}

// A LoRA of rank `rank` over `layers` in kohya naming: `KEY.lora_down.weight` [rank, in(, 1, 1)],
// `KEY.lora_up.weight` [out, rank(, 1, 1)] (f16) and `KEY.alpha` (f32, = rank), with deterministic random values
// from `seed`. Returns the file's bytes.
export function synthesizeLora(layers, rank, seed) {
  let state = seed >>> 0;
  const random = () => {  // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const uniform = (n, amp) => {
    const a = new Uint16Array(n);
    for (let i = 0; i < n; ++i) a[i] = f16Bits(amp * (2 * random() - 1));
    return a;
  };
  const tensors = [];
  for (const { key, shape } of layers) {
    const [out, ...rest] = shape, inner = rest.reduce((n, d) => n * d, 1);
    const tail = rest.slice(1);  // 1×1 convolutions keep their [1, 1]
    tensors.push({ name: `${key}.lora_down.weight`, dtype: 'F16', shape: [rank, ...rest],
      data: uniform(rank * inner, Math.sqrt(3 / inner)) });
    tensors.push({ name: `${key}.lora_up.weight`, dtype: 'F16', shape: [out, rank, ...tail],
      data: uniform(out * rank, 0.02) });
    tensors.push({ name: `${key}.alpha`, dtype: 'F32', shape: [], data: new Float32Array([rank]) });
  }
  return encodeSafetensors(tensors, { ss_network_module: 'networks.lora', ss_network_dim: String(rank),
    ss_network_alpha: String(rank), websd: 'synthetic LoRA for js/bench-node.mjs --lora-rank' });
}

// Runs the cases and prints them. `o` is bench-node's options; `arch` the architecture as the module names it.
// Returns the results (for --json).
export async function benchLoras({ engine, module, gpuHost, o, arch, tokenizer }) {
  const rank = Number(o['lora-rank']), images = Number(o.generate), runs = Math.max(1, Number(o.runs));
  const check = (r, what) => {
    if (r.status !== 0) throw new WebsdError(r.status, `${what}: ${r.message}`);
  };
  let a = engine.allocator();
  const handle = a.zeroed(4);
  check(await engine.run(() => module._websd_wasm_bench_model_open(a.string(arch), a.string(o.backend),
    a.string(tokenizer), a.string(o.kernels), handle)), 'opening the synthetic model');
  const model = engine.u32(handle);
  a.free();

  let peakGpu = 0;
  const generate = async (loras) => {
    const g = engine.allocator();
    const out = g.zeroed(8 * 4);
    const written = gpuHost?.bytesWritten ?? 0;
    if (gpuHost) gpuHost.peakBytes = gpuHost.liveBytes;  // the peak of this case alone
    const r = await engine.run(() => module._websd_wasm_bench_model_generate(model, Number(o.width), Number(o.height),
      Number(o.steps), Number(o.guidance), images, g.string(loras.map(([f, s]) => `${f}:${s}`).join('\n')),
      g.string(o['lora-mode'] || 'merged'), out));
    check(r, `generating with ${loras.length ? loras.map(([f, s]) => `${f}:${s}`).join(', ') : 'no LoRA'}`);
    const [total, toFirst, perStep, tail] = new Float64Array(module.wasmMemory.buffer, out, 4);
    g.free();
    const m = { total_ms: total, to_first_ms: toFirst, per_step_ms: perStep, tail_ms: tail,
      rss_bytes: process.memoryUsage().rss, wasm_heap_bytes: module.wasmMemory.buffer.byteLength };
    if (gpuHost) {
      Object.assign(m, { uploaded_bytes: gpuHost.bytesWritten - written, peak_gpu_bytes: gpuHost.peakBytes,
        gpu_after_bytes: gpuHost.liveBytes });
      peakGpu = Math.max(peakGpu, gpuHost.peakBytes);
    }
    return m;
  };

  // The first generation compiles every network and uploads every weight; it also shows which tensors the model
  // has, which the LoRAs are made for.
  const warm = await generate([]);
  const p = module._websd_wasm_bench_model_tensors(model);
  const tensors = JSON.parse(engine.string(p));
  module._free(p);
  const layers = loraLayers(tensors);
  if (!layers.length) throw new Error(`${o.arch} has no attention or MLP linears for a LoRA to adapt`);
  const dir = '/bench-lora';
  module.FS.mkdirTree(dir);
  const files = { A: `${dir}/lora_a.safetensors`, B: `${dir}/lora_b.safetensors` };
  const sizes = {};
  for (const [i, [which, file]] of Object.entries(files).entries()) {
    const bytes = synthesizeLora(layers, rank, 1 + i);
    module.FS.writeFile(file, bytes);
    sizes[which] = bytes.length;
  }
  const count = {}, baseBytes = {}, mergedBytes = {}, factorBytes = {};
  for (const { component, shape } of layers) {
    const n = shape.reduce((x, d) => x * d, 1), rows = shape[0], cols = n / rows;
    count[component] = (count[component] || 0) + 1;
    baseBytes[component] = (baseBytes[component] || 0) + 2 * n;  // the synthetic weights are f16
    mergedBytes[component] = (mergedBytes[component] || 0) + (4 * n <= EXACT_MERGE_BYTES ? 4 * n : 2 * n);
    // What the webgpu backend uploads to merge it on the GPU: up [N rounded up to 4, R] and down [R, K], as f32.
    factorBytes[component] = (factorBytes[component] || 0) + 4 * rank * (Math.ceil(rows / 4) * 4 + cols);
  }
  const sum = (m) => Object.values(m).reduce((x, y) => x + y, 0);
  const allTensors = Object.values(tensors).reduce((n, l) => n + l.length, 0);
  const allBytes = Object.values(tensors).flat().reduce((n, [, s]) => n + 2 * s.reduce((x, d) => x * d, 1), 0);

  const cases = [
    { id: 'a', label: 'no LoRA', loras: [] },
    { id: 'b', label: 'LoRA A at 0.8, first use', loras: [[files.A, 0.8]] },
    { id: 'c', label: 'LoRA A at 0.8 again', loras: [[files.A, 0.8]] },
    { id: 'd', label: 'switch to LoRA B at 0.8', loras: [[files.B, 0.8]] },
    { id: 'e', label: 'LoRA A at 0.5', loras: [[files.A, 0.5]] },
    { id: 'f', label: 'back to no LoRA', loras: [] },
  ];
  const size = Number(o.width) || Number(o.height) ? `${Number(o.width) || 'native'}x${Number(o.height) || 'native'}`
    : 'native size';
  console.log(`${o.arch} txt2img on ${o.backend}, ${o.steps} steps, guidance ${o.guidance}, ${size}, ` +
    `${images} image(s) a generation, synthetic f16 weights; LoRAs of rank ${rank} ` +
    `${o['lora-mode'] === 'runtime' ? 'applied at run time' : 'merged'}, median of ${runs} round(s)`);
  console.log(`  model: ${allTensors} tensors, ${mib(allBytes)} MiB (f16); first generation ` +
    `${(warm.total_ms / 1000).toFixed(2)} s (every network compiled` +
    (gpuHost ? `, ${mib(warm.uploaded_bytes)} MiB uploaded)` : ')'));
  console.log(`  LoRA files: A ${mib(sizes.A)} MiB, B ${mib(sizes.B)} MiB (kohya names, f16, alpha = rank)`);
  console.log(`  adapted tensors: ${layers.length} (` +
    Object.entries(count).map(([k, n]) => `${k} ${n}`).join(', ') + `), ${mib(sum(baseBytes))} MiB of the model's ` +
    `weights (${(100 * sum(baseBytes) / allBytes).toFixed(1)}%); ` + (o['lora-mode'] === 'runtime'
      ? 'applied at run time (two more GEMMs a layer, no merged copies)'
      : `merged copies ${mib(sum(mergedBytes))} MiB (f32 up to ${EXACT_MERGE_BYTES >> 20} MiB a tensor, else f16), ` +
        `merged on the GPU from ${bytes(sum(factorBytes))} of f32 factors`));
  for (const c of cases) c.runs = [];
  for (let r = 0; r < runs; ++r) {
    for (const c of cases) {
      c.runs.push(await generate(c.loras));
      process.stderr.write(`  round ${r + 1}/${runs} (${c.id}): ${(c.runs[r].total_ms / 1000).toFixed(2)} s\n`);
    }
  }
  check(await engine.run(() => module._websd_wasm_bench_model_free(model)), 'closing the synthetic model');

  const base = median(cases[0].runs.map((m) => m.total_ms)) / images;
  const col = (s, n) => String(s).padStart(n);
  console.log(`  ${'case'.padEnd(30)}${col('s/image', 9)}${col('over (a)', 10)}${col('1st step', 10)}${col('ms/step', 9)}` +
    `${col('uploaded', 13)}${col('GPU peak', 12)}${col('RSS', 11)}${col('wasm heap', 12)}`);
  const results = [];
  for (const c of cases) {
    const pick = (k) => median(c.runs.map((m) => m[k]));
    const perImage = pick('total_ms') / images;
    const res = { case: c.id, label: c.label, loras: c.loras.map(([f, s]) => ({ file: f, scale: s })),
      s_per_image: perImage / 1000, overhead_s: (perImage - base) / 1000, to_first_step_s: pick('to_first_ms') / 1000,
      per_step_ms: pick('per_step_ms'), runs: c.runs };
    if (gpuHost) {
      res.uploaded_bytes = pick('uploaded_bytes');
      res.peak_gpu_bytes = Math.max(...c.runs.map((m) => m.peak_gpu_bytes));
    }
    res.rss_bytes = Math.max(...c.runs.map((m) => m.rss_bytes));
    res.wasm_heap_bytes = Math.max(...c.runs.map((m) => m.wasm_heap_bytes));
    results.push(res);
    const over = res.overhead_s >= 0 ? `+${res.overhead_s.toFixed(2)}` : res.overhead_s.toFixed(2);
    console.log(`  ${`(${c.id}) ${c.label}`.padEnd(30)}${col(res.s_per_image.toFixed(2), 9)}${col(over, 10)}` +
      `${col(res.to_first_step_s.toFixed(2), 10)}${col(res.per_step_ms.toFixed(1), 9)}` +
      `${col(gpuHost ? bytes(res.uploaded_bytes) : '-', 13)}` +
      `${col(gpuHost ? `${mib(res.peak_gpu_bytes)} MiB` : '-', 12)}` +
      `${col(`${mib(res.rss_bytes)} MiB`, 11)}${col(`${mib(res.wasm_heap_bytes)} MiB`, 12)}`);
  }
  const maxRss = process.resourceUsage().maxRSS * 1024;
  console.log(`  (seconds: medians; uploaded: bytes written to the GPU during the case, (a)'s being the generation's ` +
    `own inputs (latents, timesteps, token ids); GPU peak: storage buffers ` +
    `alive at once during it; RSS and wasm heap: after it, the largest of the rounds; peak RSS of the process ` +
    `${mib(maxRss)} MiB` + (gpuHost ? `, peak GPU memory of the run ${mib(peakGpu)} MiB)` : ')'));
  return { arch: o.arch, backend: o.backend, steps: Number(o.steps), width: Number(o.width), height: Number(o.height),
    images, rank, lora_mode: o['lora-mode'] || 'merged', runs, adapter: gpuHost?.description, kernels: o.kernels || 'auto', lora_file_bytes: sizes,
    adapted: { tensors: count, base_bytes: baseBytes, merged_bytes: mergedBytes, factor_bytes: factorBytes }, model_tensors: allTensors,
    model_bytes: allBytes, first_generation: warm, cases: results, peak_rss_bytes: maxRss,
    peak_gpu_bytes: gpuHost ? peakGpu : undefined };
}
