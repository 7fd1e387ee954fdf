#!/usr/bin/env node
// websd in Node: `websd generate` of the native tool, run by websd.wasm, on the GPU through Dawn (the npm `webgpu`
// package) or on the wasm cpu backend. The same .wasm runs in the browser; this is the native-GPU comparison.
//
//   node js/websd-node.mjs --model DIR -p "a lighthouse at dusk" --seed 42 -o out.png [--backend webgpu|cpu]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Engine, Model } from './lib/engine.mjs';
import { GpuHost } from './lib/gpu-host.mjs';
import { applyStoredTuning, inModule, loadModule, nodeGpu, tuneAndStore, tuningSummary, wasmDir } from './lib/node.mjs';
import { SAMPLER_NAMES } from './lib/parameters.mjs';
import { decodePng, encodePng } from './lib/png.mjs';

const USAGE = `usage: node js/websd-node.mjs --model DIR -p PROMPT [options]
  --model DIR               diffusers pipeline folder, or a single-file .safetensors checkpoint
  -p, --prompt TEXT         what to draw
  -n, --negative-prompt T   what to avoid
  --steps N                 denoising steps (default 20)
  --guidance G              classifier-free guidance scale; <= 1 turns it off (default 7.5)
  --seed S                  random seed (default: a random one, printed)
  --scheduler NAME          ${Object.keys(SAMPLER_NAMES).join(', ')}
  -W, --width N             image width, a multiple of 8 (default: the model's native size)
  -H, --height N            image height, a multiple of 8 (default: the model's native size)
  --batch-count N           images to make; image i uses seed + i (default 1)
  --init-image FILE         img2img: a PNG to start from (the size defaults to its size)
  --strength S              img2img: the share of the schedule run over it, (0, 1] (default 0.8; 1 inpainting)
  --mask FILE               inpainting: a PNG of the init image's size, white = repaint (any model)
  --lora FILE[:SCALE]       a LoRA .safetensors to apply (repeatable; kohya/A1111 or diffusers naming; SCALE 1)
  --lora-dir DIR            folder where the prompt's <lora:NAME:SCALE> tags find NAME.safetensors
  --lora-mode MODE          merged (default: steps as fast as without LoRA) or runtime (no second weight copies)
  --embedding FILE[:WORD]   a textual inversion embedding; WORD in a prompt stands for it (default: the stem)
  --embedding-dir DIR       folder of embeddings: each NAME.safetensors whose NAME a prompt holds is used
  --literal-prompt          read the prompts as diffusers does: no (word:1.3) weights, no BREAK, 75 tokens at most
  --vae-decoder DIR         a TAESD folder (AutoencoderTiny) that draws the final images instead of the VAE
  --preview FILE            a PNG rewritten with the image so far (latent colours at 1/8 size, or full size by TAESD)
  --preview-every N         steps between previews (default 1)
  --preview-decoder DIR     a TAESD folder that draws the previews at full size
  --hires-scale F           hires fix: generate, upscale by F (up to 4), denoise again (default 1: off)
  --hires-strength S        hires fix: the share of the second pass's steps run, [0, 1] (default 0.7)
  --hires-steps N           hires fix: steps of the second pass (default: --steps)
  --hires-upscaler latent|image   hires fix: resize the latents (default) or the decoded picture
  --controlnet PATH         a ControlNet (folder, .safetensors or pack) guiding by --control-image (repeatable)
  --control-image FILE      its control image, a PNG of any size (fitted to the image's)
  --control-scale S         how strongly it guides, [0, 10] (default 1)
  --control-start F         the fraction of the steps it starts after (default 0)
  --control-end F           the fraction of the steps it stops after (default 1)
  --control-preprocessor P  none (the picture is the map; default) or canny (its edges)
  --canny-low T, --canny-high T   Canny's thresholds (default 100, 200)
  --control-invert          invert the control maps
  --control-resize crop|stretch   a control image of another shape (default crop)
                            (every control option: once for all ControlNets, or once per --controlnet)
  --scheduler-option K=V    override a scheduler config value (repeatable), e.g. timestep_spacing=trailing
  -o, --output FILE         output PNG; several images get -1, -2, ... before the extension (default websd.png)
  --backend webgpu|cpu      where the networks run (default webgpu)
  --threads N               cpu backend worker threads (default: all cores)
  --dawn-flag FLAG          a Dawn option for the webgpu backend, e.g. enable-dawn-features=disable_robustness
  --tune                    webgpu: first time every kernel variant on this GPU for the model at this size and
                            keep the fastest (stored per GPU in ~/.cache/websd/webgpu-tuning, used from then on)
  --tune-filter TEXT        with --tune: only the problems whose key holds TEXT (e.g. attention, conv2d, linear)
  --tuning on|off           webgpu: use the stored tuning of this GPU (default on) or the built-in rules
  -q, --quiet               no progress bar, no file list`;

function fail(message) {
  console.error(`websd-node: error: ${message}`);
  process.exit(2);
}

function integer(name, value, min, max) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in [${min}, ${max}] (got ${value})`);
  return n;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: {
      model: { type: 'string' }, prompt: { type: 'string', short: 'p' },
      'negative-prompt': { type: 'string', short: 'n', default: '' },
      steps: { type: 'string' }, guidance: { type: 'string' }, seed: { type: 'string' },
      scheduler: { type: 'string', default: '' }, width: { type: 'string', short: 'W' },
      height: { type: 'string', short: 'H' }, 'batch-count': { type: 'string' },
      'init-image': { type: 'string' }, strength: { type: 'string' }, mask: { type: 'string' },
      'scheduler-option': { type: 'string', multiple: true, default: [] },
      lora: { type: 'string', multiple: true, default: [] }, 'lora-dir': { type: 'string', default: '' },
      'lora-mode': { type: 'string', default: 'merged' },
      embedding: { type: 'string', multiple: true, default: [] }, 'embedding-dir': { type: 'string', default: '' },
      'literal-prompt': { type: 'boolean', default: false }, 'vae-decoder': { type: 'string', default: '' },
      preview: { type: 'string', default: '' }, 'preview-every': { type: 'string' },
      'preview-decoder': { type: 'string', default: '' }, 'hires-scale': { type: 'string' },
      'hires-strength': { type: 'string' }, 'hires-steps': { type: 'string' },
      'hires-upscaler': { type: 'string', default: 'latent' },
      controlnet: { type: 'string', multiple: true, default: [] },
      'control-image': { type: 'string', multiple: true, default: [] },
      'control-scale': { type: 'string', multiple: true, default: [] },
      'control-start': { type: 'string', multiple: true, default: [] },
      'control-end': { type: 'string', multiple: true, default: [] },
      'control-preprocessor': { type: 'string', multiple: true, default: [] },
      'canny-low': { type: 'string', multiple: true, default: [] },
      'canny-high': { type: 'string', multiple: true, default: [] },
      'control-invert': { type: 'boolean', default: false },
      'control-resize': { type: 'string', multiple: true, default: [] },
      output: { type: 'string', short: 'o', default: 'websd.png' }, backend: { type: 'string', default: 'webgpu' },
      threads: { type: 'string' }, 'dawn-flag': { type: 'string', multiple: true, default: [] },
      tune: { type: 'boolean', default: false }, tuning: { type: 'string', default: 'on' },
      'tune-filter': { type: 'string', default: '' },
      quiet: { type: 'boolean', short: 'q', default: false }, help: { type: 'boolean', short: 'h' },
    } }).values;
  } catch (e) {
    fail(`${e.message}\n${USAGE}`);
  }
  if (parsed.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!parsed.model) fail('--model is required (see --help)');
  if (parsed.prompt === undefined) fail('--prompt is required (see --help)');
  if (!['webgpu', 'cpu'].includes(parsed.backend)) fail(`--backend must be webgpu or cpu (got ${parsed.backend})`);
  if (!['on', 'off'].includes(parsed.tuning)) fail(`--tuning must be on or off (got ${parsed.tuning})`);
  if ((parsed.tune || parsed.tuning === 'off') && parsed.backend !== 'webgpu') fail('--tune and --tuning are for --backend webgpu');
  const o = {
    ...parsed,
    steps: integer('steps', parsed.steps, 1, 1000) ?? 20,
    width: integer('width', parsed.width, 8, 16384) ?? 0,
    height: integer('height', parsed.height, 8, 16384) ?? 0,
    count: integer('batch-count', parsed['batch-count'], 1, 1000) ?? 1,
    threads: integer('threads', parsed.threads, 0, 1024) ?? 0,
    previewEvery: integer('preview-every', parsed['preview-every'], 1, 1000) ?? 1,
    hiresSteps: integer('hires-steps', parsed['hires-steps'], 1, 1000) ?? 0,
    hiresScale: parsed['hires-scale'] === undefined ? 1 : Number(parsed['hires-scale']),
    hiresStrength: parsed['hires-strength'] === undefined ? 0.7 : Number(parsed['hires-strength']),
    guidance: parsed.guidance === undefined ? 7.5 : Number(parsed.guidance),
  };
  if (!(o.guidance >= 0 && o.guidance <= 100)) fail(`--guidance must be in [0, 100] (got ${parsed.guidance})`);
  o.strength = parsed.strength === undefined ? 0 : Number(parsed.strength);  // 0: the pipeline's default
  if (parsed.strength !== undefined && !(o.strength > 0 && o.strength <= 1)) fail(`--strength must be in (0, 1] (got ${parsed.strength})`);
  const png = (flag) => {
    try {
      return decodePng(fs.readFileSync(o[flag]));
    } catch (e) {
      fail(`--${flag} ${o[flag]}: not a readable PNG (${e.message})`);
    }
  };
  if (o['preview-decoder'] && !o.preview) fail('--preview-decoder needs --preview');
  if (!(o.hiresScale >= 1 && o.hiresScale <= 4)) fail(`--hires-scale must be in [1, 4] (got ${parsed['hires-scale']})`);
  if (!(o.hiresStrength >= 0 && o.hiresStrength <= 1)) fail(`--hires-strength must be in [0, 1] (got ${parsed['hires-strength']})`);
  if (!['latent', 'image'].includes(o['hires-upscaler'])) fail(`--hires-upscaler must be latent or image (got ${o['hires-upscaler']})`);
  if (o['init-image']) o.initImage = png('init-image');
  if (o.mask) {
    if (!o.initImage) fail('--mask needs --init-image');
    o.maskImage = png('mask');
  }
  // KEY=VALUE, VALUE read as JSON where it parses (true, 1.5) and as a string otherwise, as the native tool does.
  o.schedulerConfig = {};
  for (const kv of parsed['scheduler-option']) {
    const eq = kv.indexOf('=');
    if (eq <= 0) fail(`--scheduler-option expects KEY=VALUE, got '${kv}'`);
    const value = kv.slice(eq + 1);
    try {
      o.schedulerConfig[kv.slice(0, eq)] = JSON.parse(value);
    } catch {
      o.schedulerConfig[kv.slice(0, eq)] = value;
    }
  }
  // FILE[:SCALE], as the native tool reads it (adapters/lora.cpp, parse_lora_argument).
  o.loras = parsed.lora.map((arg) => {
    const colon = arg.lastIndexOf(':');
    if (colon <= 0) return { file: arg, scale: 1 };
    const scale = Number(arg.slice(colon + 1));
    if (arg.slice(colon + 1) === '' || !Number.isFinite(scale)) fail(`--lora ${arg}: expected FILE or FILE:SCALE`);
    return { file: arg.slice(0, colon), scale };
  });
  // FILE[:WORD], as the native tool reads it (adapters/embedding.cpp, parse_embedding_argument): a colon
  // followed by a path separator belongs to the path.
  o.embeddings = parsed.embedding.map((arg) => {
    const colon = arg.lastIndexOf(':');
    if (colon > 1 && colon + 1 < arg.length && !/[/\\]/.test(arg.slice(colon))) {
      return { path: inModule(arg.slice(0, colon)), word: arg.slice(colon + 1) };
    }
    return { path: inModule(arg), word: path.basename(arg, path.extname(arg)) };
  });
  // ControlNets, as the native tool reads them: every control option once (for all) or once per --controlnet.
  const nth = (flag, k, fallback) => {
    const v = parsed[flag];
    if (!v.length) return fallback;
    if (v.length === 1) return v[0];
    if (v.length !== parsed.controlnet.length) {
      fail(`--${flag} is given ${v.length} times for ${parsed.controlnet.length} ControlNets: give it once (for all) ` +
        'or once per --controlnet');
    }
    return v[k];
  };
  if (parsed.controlnet.length && !parsed['control-image'].length) fail('--controlnet needs a --control-image');
  if (!parsed.controlnet.length && parsed['control-image'].length) fail('control options need a --controlnet');
  o.controlnets = parsed.controlnet.map((net, k) => {
    const file = nth('control-image', k, '');
    let image;
    try {
      image = decodePng(fs.readFileSync(file));
    } catch (e) {
      fail(`--control-image ${file}: not a readable PNG (${e.message})`);
    }
    return { path: inModule(net), image, scale: Number(nth('control-scale', k, 1)),
      start: Number(nth('control-start', k, 0)), end: Number(nth('control-end', k, 1)),
      preprocessor: nth('control-preprocessor', k, 'none'), cannyLow: Number(nth('canny-low', k, 100)),
      cannyHigh: Number(nth('canny-high', k, 200)), invert: parsed['control-invert'],
      resize: nth('control-resize', k, 'crop') };
  });
  if (o.width % 8 || o.height % 8) fail(`--width/--height must be multiples of 8 (got ${o.width}x${o.height})`);
  if (parsed.scheduler && !SAMPLER_NAMES[parsed.scheduler]) {
    fail(`--scheduler must be one of ${Object.keys(SAMPLER_NAMES).join(', ')} (got ${parsed.scheduler})`);
  }
  try {
    o.seed = parsed.seed === undefined ? BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)))
      : BigInt.asUintN(64, BigInt(parsed.seed));
  } catch {
    fail(`--seed must be an integer (got ${parsed.seed})`);
  }
  return o;
}

function outputPath(output, i, count) {
  if (count === 1) return output;
  const ext = path.extname(output);
  return path.join(path.dirname(output), `${path.basename(output, ext)}-${i + 1}${ext}`);
}

function progressBar(enabled) {
  let start = 0;
  return (image, step, steps) => {
    if (!enabled) return true;
    const now = performance.now();
    if (step === 1) start = now;
    const rate = step > 1 ? (step - 1) / ((now - start) / 1000) : 0;
    const filled = Math.round((step * 30) / steps);
    process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(30 - filled)}] ${step}/${steps}  ${rate.toFixed(2)} it/s `);
    if (step === steps) process.stderr.write('\n');
    return true;
  };
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  // The wasm module first, then the GPU (GpuHost keeps Dawn's GPU object alive for as long as the device).
  const module = await loadModule(path.join(wasmDir(), 'src/wasm/websd.js'));
  let gpuHost = null;
  if (o.backend === 'webgpu') {
    gpuHost = await GpuHost.create(await nodeGpu(o['dawn-flag']));
    if (!o.quiet) console.error(`websd-node: WebGPU adapter: ${gpuHost.description}`);
  }
  const engine = new Engine(module, gpuHost);
  if (gpuHost && o.tuning === 'on') {
    const stored = applyStoredTuning(engine);
    if (!o.quiet && (stored.applied || o.tune)) {
      console.error(`websd-node: kernel tuning: ${stored.applied ? stored.path : `${stored.reason} (${stored.path})`}`);
    }
  }
  if (gpuHost && o.tune) {
    const r = await tuneAndStore(engine, inModule(o.model), { width: o.width ?? 0, height: o.height ?? 0,
      batch: o.guidance > 1 ? 2 : 1, filter: o['tune-filter'], onProgress: (done, total) => {
        if (!o.quiet && process.stderr.isTTY) process.stderr.write(`\rwebsd-node: tuning kernels ${done}/${total} `);
        return true;
      } });
    if (!o.quiet) console.error(`\nwebsd-node: tuned: ${tuningSummary(r)}; stored in ${r.path}`);
  }
  const t0 = performance.now();
  const model = await Model.open(engine, inModule(o.model), { backend: o.backend, threads: o.threads });
  const t1 = performance.now();
  const options = { prompt: o.prompt, negativePrompt: o['negative-prompt'], width: o.width,
    height: o.height, steps: o.steps, guidance: o.guidance, seed: o.seed, scheduler: o.scheduler, count: o.count,
    schedulerConfig: o.schedulerConfig, initImage: o.initImage ?? null, strength: o.strength,
    mask: o.maskImage ?? null, loras: o.loras.map(({ file, scale }) => ({ path: inModule(file), scale })),
    loraDir: o['lora-dir'] ? inModule(o['lora-dir']) : '', loraMode: o['lora-mode'], embeddings: o.embeddings,
    embeddingDir: o['embedding-dir'] ? inModule(o['embedding-dir']) : '', literalPrompt: o['literal-prompt'],
    vaeDecoder: o['vae-decoder'] ? inModule(o['vae-decoder']) : '',
    previewDecoder: o['preview-decoder'] ? inModule(o['preview-decoder']) : '', previewEvery: o.previewEvery,
    hiresScale: o.hiresScale, hiresStrength: o.hiresStrength, hiresSteps: o.hiresSteps,
    hiresUpscaler: o['hires-upscaler'], controlnets: o.controlnets };
  const images = await model.txt2img({ ...options, onProgress: progressBar(!o.quiet && process.stderr.isTTY),
    onPreview: o.preview ? (_image, _step, img) => fs.writeFileSync(o.preview, encodePng(img, { Software: 'websd' }))
      : null });
  const t2 = performance.now();
  const modelName = path.basename(path.resolve(o.model));
  for (const [i, img] of images.entries()) {
    const seed = BigInt.asUintN(64, o.seed + BigInt(i));
    const file = outputPath(o.output, i, images.length);
    fs.writeFileSync(file, encodePng(img, { parameters: model.parametersText(options, i, modelName),
      Software: 'websd' }));
    if (!o.quiet) console.log(`${file}  (seed ${seed})`);
  }
  if (!o.quiet) {
    console.error(`websd-node: ${o.backend}: model opened in ${((t1 - t0) / 1000).toFixed(2)} s, ` +
      `${((t2 - t1) / 1000 / images.length).toFixed(2)} s per image`);
  }
  await model.free();
}

main().then(() => process.exit(0), (e) => {
  console.error(`websd-node: error: ${e.message}`);
  process.exit(1);
});
