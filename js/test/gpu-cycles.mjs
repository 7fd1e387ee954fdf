#!/usr/bin/env node
// Open / generate (with a LoRA and a ControlNet) / cancel / generate / free, CYCLES times in one process on Dawn,
// printing after each cycle the GPU buffers still alive and their bytes (GpuHost's own count of what the engine
// created and destroyed), the wasm heap's size and the bytes malloc has out, and the pipelines it compiled (not
// found in GpuHost's cache): for dawn.test.mjs, which requires them not to grow.
//   node js/test/gpu-cycles.mjs [CYCLES]
import path from 'node:path';

import { Engine, Model } from '../lib/engine.mjs';
import { GpuHost } from '../lib/gpu-host.mjs';
import { inModule, loadModule, nodeGpu, wasmDir } from '../lib/node.mjs';
import { fixture } from './fixtures.mjs';
import { readSafetensors } from './safetensors.mjs';

const cycles = Number(process.argv[2] || 4);
const module = await loadModule(path.join(wasmDir(), 'src/wasm/websd.js'));
const gpuHost = await GpuHost.create(await nodeGpu([]));
const engine = new Engine(module, gpuHost);
const c = readSafetensors(fixture('tiny-sd1-creative/reference.safetensors')).get('control_image');
const controlImage = { width: 64, height: 64, rgb: Uint8Array.from(c.data, (v) => Math.round(v * 255)) };
const options = { prompt: 'a cat', steps: 2, width: 64, height: 64, seed: 3n,
  loras: [{ path: inModule(fixture('tiny-sd1-creative/lora_kohya.safetensors')), scale: 0.8 }],
  controlnets: [{ path: inModule(fixture('tiny-sd1-creative/controlnet')), image: controlImage,
    preprocessor: 'canny' }] };
for (let cycle = 0; cycle < cycles; ++cycle) {
  const compiledBefore = gpuHost.pipelinesCompiled;
  const model = await Model.open(engine, inModule(fixture('tiny-sd1/model')), { backend: 'webgpu' });
  await model.txt2img(options);
  let cancelled = false;
  try {
    await model.txt2img({ ...options, loraMode: 'runtime', onProgress: () => false });
  } catch (e) {
    cancelled = e.statusName === 'cancelled';
  }
  await model.txt2img({ ...options, controlnets: [] });
  await model.free();
  console.log(JSON.stringify({ cycle, cancelled, buffers: [...gpuHost.objects.values()].filter((o) => o instanceof GPUBuffer).length,
    objects: gpuHost.objects.size, live_bytes: gpuHost.liveBytes, peak_bytes: gpuHost.peakBytes,
    heap_bytes: module.wasmMemory.buffer.byteLength, heap_in_use: module._websd_wasm_heap_in_use() >>> 0,
    pipelines_compiled: gpuHost.pipelinesCompiled - compiledBefore }));
}
process.exit(0);
