#!/usr/bin/env node
// Summarises what scripts/bench-gpu.sh measured: websd's networks and whole images beside the PyTorch peer of
// the same run (peer.jsonl), with the ratios the GPU issue asks for. Prints a Markdown table; reads RESULTS_DIR.
//   node js/bench-summary.mjs RESULTS_DIR
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] || 'bench-results';
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  } catch {
    return null;
  }
};
const peer = {};
try {
  for (const line of fs.readFileSync(path.join(dir, 'peer.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line);
    if (r.precision) Object.assign(peer[r.precision] ??= {}, r);
  }
} catch { /* no peer in this run */ }

const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(d));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
const rows = [];
const runs = [['sd15-f16.json', 'f16, robustness on'], ['sd15-f16-norobust.json', 'f16, robustness off'],
  ['sd15-q8.json', 'q8, robustness on'], ['sd15-f16-default-limits.json', 'f16, default limits (128 MiB binding)']];
const peerKey = { 'unet (batch 2)': 'sd15_unet_b2', 'vae decoder': 'vae_decode_512', 'text encoder': 'clip_b2' };
for (const [file, label] of runs) {
  const r = read(file);
  if (!r) continue;
  for (const [net, t] of Object.entries(r.networks)) {
    const key = peerKey[net];
    const fp32 = peer.fp32?.[`${key}_graph_ms`] ?? peer.fp32?.[`${key}_eager_ms`];
    const fp16 = peer.fp16?.[`${key}_eager_ms`];
    rows.push(`| SD 1.5 ${net} | ${label} | ${fmt(t.median_ms)} (${fmt(t.min_ms)}–${fmt(t.max_ms)}) | ` +
      `${fmt(t.gflop / t.median_ms)} | ${fmt(fp32)} | ${ratio(t.median_ms, fp32)} | ${fmt(fp16)} | ${ratio(t.median_ms, fp16)} |`);
  }
}
const xl = read('sdxl-f16.json');
if (xl) {
  for (const [net, t] of Object.entries(xl.networks)) {
    const fp32 = net.startsWith('unet') ? peer.fp32?.sdxl_unet_b2_1024_eager_ms : undefined;
    const fp16 = net.startsWith('unet') ? peer.fp16?.sdxl_unet_b2_1024_eager_ms : undefined;
    rows.push(`| SDXL ${net} (1024²) | f16, robustness on | ${fmt(t.median_ms)} (${fmt(t.min_ms)}–${fmt(t.max_ms)}) | ` +
      `${fmt(t.gflop / t.median_ms)} | ${fmt(fp32)} | ${ratio(t.median_ms, fp32)} | ${fmt(fp16)} | ${ratio(t.median_ms, fp16)} |`);
  }
}
console.log(`\n## websd (WebGPU on ${read('sd15-f16.json')?.adapter ?? 'the GPU'}) beside PyTorch ${peer.fp16?.torch ?? ''}`);
console.log('| network | websd run | websd ms median (min–max) | TFLOP/s | PyTorch fp32 ms | ratio | PyTorch fp16 eager ms | ratio |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
for (const [file, label] of runs) {
  const r = read(file);
  if (r?.peak_gpu_bytes) console.log(`peak GPU memory (${label}, one network at a time): ${(r.peak_gpu_bytes / 2 ** 20).toFixed(0)} MiB`);
}
for (const [file, label] of [['sd15-images.json', ''], ['sd15-images-default-limits.json', ' (default limits, tiled VAE)']]) {
  const img = read(file);
  if (!img) continue;
  const s = img.images.map((i) => i.total_ms / 1000).sort((a, b) => a - b);
  console.log(`20-step 512x512 image${label}: ${s.map((x) => x.toFixed(2)).join(' / ')} s (median ${s[s.length >> 1].toFixed(2)} s); ` +
    `after the model is ready (first step onwards): ${img.images.map((i) => ((i.total_ms - i.to_first_ms) / 1000).toFixed(2)).join(' / ')} s; ` +
    `ms per step ${img.images.map((i) => i.per_step_ms.toFixed(1)).join(' / ')}; peak GPU memory ${(img.peak_gpu_bytes / 2 ** 20).toFixed(0)} MiB`);
}
if (peer.fp16) console.log(`PyTorch peak GPU memory: fp16 ${fmt(peer.fp16.peak_gib, 2)} GiB, fp32 ${fmt(peer.fp32?.peak_gib, 2)} GiB`);
