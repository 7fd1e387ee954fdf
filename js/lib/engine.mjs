// The JS side of a websd wasm module (websd.js or the browser test module), the same in pages, Workers and Node.
//
// Engine work runs on wasm pthreads ("jobs"); this thread is their host. While a job runs, serve() answers the
// requests the job posts into the mailbox (src/wasm/host_channel.h): WebGPU calls go to the GpuHost, progress to
// the caller's callback, and the final kJobDone resolves the job's promise. This thread never blocks, so emscripten
// can also run the file-system calls and thread creations that pthreads proxy to it.

// Mailbox layout, in 4-byte words (src/wasm/host_channel.h, struct Mailbox).
const STATE = 0, OP = 1, STATUS = 2, ARGS = 4, RESULTS = 20, MESSAGE_BYTE = 28 * 4, MESSAGE_BYTES = 2048;
const IDLE = 0, REQUEST = 1, REPLY = 2;
const OP_JOB_DONE = 1, OP_PROGRESS = 2, OP_PREVIEW = 3, OP_GPU_FIRST = 100;

export class Engine {
  // `module` is an instantiated emscripten module (the factory's result); `gpuHost` a GpuHost or null.
  constructor(module, gpuHost = null) {
    this.module = module;
    this.gpuHost = gpuHost;
    this.mailbox = module._websd_host_mailbox() >>> 0;
    this.onProgress = null;  // (image, step, steps) => false to cancel; set per job
    this.onPreview = null;   // (image, step, { width, height, rgb }); set per job
    this.queue = Promise.resolve();
  }

  // Views are made per use: growing the wasm memory replaces its buffer.
  words() { return new Int32Array(this.module.wasmMemory.buffer, this.mailbox, RESULTS + 8); }
  bytes(ptr, length) { return new Uint8Array(this.module.wasmMemory.buffer, ptr >>> 0, length); }
  string(ptr) { return this.module.UTF8ToString(ptr >>> 0); }

  // Runs `start` (which starts one job in the module) and serves the job until it ends. Jobs run one at a time.
  // Resolves to { status, message } as the job reported them.
  run(start, { onProgress = null, onPreview = null } = {}) {
    const job = this.queue.then(() => {
      this.onProgress = onProgress;
      this.onPreview = onPreview;
      start();
      return this.serve();
    });
    this.queue = job.catch(() => {});
    return job;
  }

  async serve() {
    for (;;) {
      const w = this.words();
      const state = Atomics.load(w, STATE);
      if (state !== REQUEST) {
        await Atomics.waitAsync(w, STATE, state).value;
        continue;
      }
      const op = w[OP];
      const args = Array.from(w.subarray(ARGS, ARGS + 16), (v) => v >>> 0);
      if (op === OP_JOB_DONE) {
        const done = { status: args[0] | 0, message: this.string(args[1]) };
        this.reply(0, []);
        return done;
      }
      let reply;
      try {
        reply = await this.handle(op, args);
      } catch (e) {
        reply = { status: 5, message: `host error in request ${op}: ${e && e.stack || e}` };
      }
      this.reply(reply.status, reply.results || [], reply.message);
    }
  }

  async handle(op, args) {
    if (op === OP_PROGRESS) {
      const goOn = this.onProgress ? await this.onProgress(args[0], args[1], args[2]) : true;
      return { status: goOn === false ? 1 : 0 };
    }
    if (op === OP_PREVIEW) {
      const [image, step, rgb, width, height] = args;
      if (this.onPreview) await this.onPreview(image, step, { width, height, rgb: this.bytes(rgb, width * height * 3).slice() });
      return { status: 0 };
    }
    if (op >= OP_GPU_FIRST) {
      if (!this.gpuHost) return { status: 4, message: 'this engine was started without WebGPU (no GPU host)' };
      return this.gpuHost.handle(op, args, this.module.wasmMemory);
    }
    return { status: 5, message: `unknown host request ${op}` };
  }

  reply(status, results, message = '') {
    const w = this.words();
    w[STATUS] = status;
    results.forEach((v, i) => { w[RESULTS + i] = v; });
    if (status !== 0) {
      const encoded = new TextEncoder().encode(String(message)).subarray(0, MESSAGE_BYTES - 1);
      const dst = this.bytes(this.mailbox + MESSAGE_BYTE, MESSAGE_BYTES);
      dst.set(encoded);
      dst[encoded.length] = 0;
    }
    Atomics.store(w, STATE, REPLY);
    Atomics.notify(w, STATE);
  }

  // Heap helpers for job arguments: C strings and zeroed blocks, freed together by the returned function.
  allocator() {
    const ptrs = [];
    const m = this.module;
    return {
      string: (s) => {
        const n = m.lengthBytesUTF8(s) + 1;
        const p = m._malloc(n);
        m.stringToUTF8(s, p, n);
        ptrs.push(p);
        return p;
      },
      zeroed: (n) => {
        const p = m._malloc(n);
        this.bytes(p, n).fill(0);
        ptrs.push(p);
        return p;
      },
      copy: (bytes) => {
        const p = m._malloc(Math.max(bytes.length, 1));
        this.bytes(p, bytes.length).set(bytes);
        ptrs.push(p);
        return p;
      },
      free: () => ptrs.forEach((p) => m._free(p)),
    };
  }

  u32(ptr, index = 0) { return new Uint32Array(this.module.wasmMemory.buffer, ptr >>> 0, index + 1)[index]; }

  // Tunes the WebGPU kernels for this engine's GPU (src/backends/webgpu/tuner.h): every distinct problem of an
  // architecture's networks ('sd15', 'sdxl', or a model path as the module sees it) at width x height (0: its
  // native size), the UNet at `batch` (2 with guidance, 1 without), each kernel variant timed and the fastest kept
  // where it beats the built-in rules. The engine uses the table from its next compile on; store `table` (JSON
  // text) and hand it to setTuning() when the engine starts again. onProgress(done, total) may return false to
  // cancel. Resolves to { table, problems, candidates, seconds, rulesMs, tunedMs, improved }.
  /** @param {string} arch
   * @param {{ width?: number, height?: number, batch?: number, runs?: number, dtype?: string, filter?: string,
   *   onProgress?: ((done: number, total: number) => boolean | Promise<boolean>) | null }} [options] */
  async tune(arch, { width = 0, height = 0, batch = 2, runs = 3, dtype = 'f16', filter = '', onProgress = null } = {}) {
    const a = this.allocator();
    try {
      const out = a.zeroed(4), summary = a.zeroed(6 * 8);
      const r = await this.run(() => this.module._websd_wasm_tune(a.string(arch), width, height, batch, runs,
        a.string(dtype), a.string(filter), out, summary), { onProgress: onProgress && ((_, done, total) => onProgress(done, total)) });
      if (r.status !== 0) throw new WebsdError(r.status, r.message);
      const p = this.u32(out);
      const table = this.string(p);
      this.module._free(p);
      const [problems, candidates, seconds, rulesMs, tunedMs, improved] = new Float64Array(this.module.wasmMemory.buffer, summary, 6);
      return { table, problems, candidates, seconds, rulesMs, tunedMs, improved };
    } finally {
      a.free();
    }
  }

  // Uses a stored tuning table (tune()'s `table`) from the next compile on; '' goes back to the built-in rules.
  // Throws a WebsdError for a table of another format or kernel version (the one in use stays). A table made on
  // another GPU is kept but applies to no problem here: compare tuningAdapter(table) with gpuHost.description.
  setTuning(table) {
    const a = this.allocator();
    try {
      const error = a.zeroed(4);
      const status = this.module._websd_wasm_set_tuning(a.string(table || ''), error);
      if (status !== 0) {
        const p = this.u32(error);
        const message = this.string(p);
        this.module._free(p);
        throw new WebsdError(status, message);
      }
    } finally {
      a.free();
    }
  }

  // The map a ControlNet reads for `control` ({ image, preprocessor, cannyLow, cannyHigh, invert, resize }, as
  // txt2img's controlnets) at width x height: { width, height, rgb }, to show before generating. Called directly:
  // no network runs.
  controlMap(control, width, height) {
    const a = this.allocator();
    try {
      const [image] = controlImages(this, a, [control]);
      const out = a.zeroed(IMAGE_BYTES), error = a.zeroed(4);
      const status = this.module._websd_wasm_control_map(a.string(JSON.stringify(controlJson(control, image))),
        width, height, out, error);
      if (status !== 0) {
        const p = this.u32(error);
        const message = this.string(p);
        this.module._websd_string_free(p);
        throw new WebsdError(status, message);
      }
      const [w, h, c, data] = new Uint32Array(this.module.wasmMemory.buffer, out, 4);
      const rgb = this.bytes(data, w * h * c).slice();
      this.module._free(data);
      return { width: w, height: h, rgb };
    } finally {
      a.free();
    }
  }
}

// The adapter a tuning table (Engine.tune's JSON text) was measured on, or '' for text that is no table.
export function tuningAdapter(table) {
  try {
    return String(JSON.parse(table).adapter ?? '');
  } catch {
    return '';
  }
}

// websd's status names (include/websd/websd.h), for messages.
export const STATUS_NAMES = ['ok', 'invalid argument', 'not found', 'corrupt file', 'unsupported', 'shape mismatch',
  'out of memory', 'cancelled', 'device lost', 'internal error'];

export class WebsdError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.statusName = STATUS_NAMES[status] || `status ${status}`;
  }
}

// A model opened in websd.wasm, through the C API (include/websd/websd.h) run as jobs (src/wasm/websd_exports.cpp).
const IMAGE_BYTES = 16;  // websd_image: width, height, channels, data

// txt2img's options as websd_txt2img_params under its C names, as src/wasm/websd_exports.cpp reads them.
function paramsJson({ prompt = '', negativePrompt = '', width = 0, height = 0, steps = 20, guidance = 7.5, seed = 0n,
  scheduler = '', schedulerConfig = {}, strength = 0, previewEvery = 0, loras = [], loraDir = '', loraMode = 'merged',
  embeddings = [], embeddingDir = '', literalPrompt = false, vaeDecoder = '', previewDecoder = '', hiresScale = 1,
  hiresStrength = 0.7, hiresSteps = 0, hiresUpscaler = 'latent', controlnets = [] }, controlImages = []) {
  return JSON.stringify({ controlnets: controlnets.map((c, i) => controlJson(c, controlImages[i] ?? 0)), prompt, negative_prompt: negativePrompt, width, height, steps, guidance,
    seed: BigInt.asUintN(64, BigInt(seed)).toString(), scheduler, scheduler_config: schedulerConfig, strength,
    preview_every: previewEvery, loras: loras.map(({ path, scale = 1 }) => ({ path, scale })), lora_dir: loraDir,
    lora_mode: loraMode, embeddings: embeddings.map(({ path, word = '' }) => ({ path, word })),
    embedding_dir: embeddingDir,
    literal_prompt: literalPrompt, vae_decoder: vaeDecoder, preview_decoder: previewDecoder, hires_scale: hiresScale,
    hires_strength: hiresStrength, hires_steps: hiresSteps, hires_upscaler: hiresUpscaler });
}

// One ControlNet ({ path, image, scale, start, end, preprocessor, cannyLow, cannyHigh, invert, resize }) under its
// C names, its image at heap address `image`.
function controlJson({ path = '', scale = 1, start = 0, end = 1, preprocessor = 'none', cannyLow = 100,
  cannyHigh = 200, invert = false, resize = 'crop' }, image) {
  return { path, image, scale, start, end, preprocessor, canny_low: cannyLow, canny_high: cannyHigh, invert, resize };
}

// The ControlNets' images as websd_images in the heap, allocated with `a`.
function controlImages(e, a, controlnets = []) {
  return controlnets.map((c, i) => {
    if (!c.image) throw new WebsdError(1, `controlnets[${i}] needs its control image`);
    return heapImage(e, a, c.image, `controlnets[${i}].image`);
  });
}

// An RGB image ({ width, height, rgb }) as a websd_image in the heap, allocated with `a` (0 for none).
function heapImage(e, a, img, what) {
  if (!img) return 0;
  if (img.rgb.length !== img.width * img.height * 3)
    throw new WebsdError(1, `${what}: ${img.rgb.length} bytes for ${img.width}x${img.height} RGB`);
  const data = a.copy(img.rgb);  // allocations first: one may grow (and move) the heap's views
  const p = a.zeroed(IMAGE_BYTES);
  new Uint32Array(e.module.wasmMemory.buffer, p, 4).set([img.width, img.height, 3, data]);
  return p;
}

// A function from UTF-8 byte offsets of `text` to indices of the JS (UTF-16) string.
function utf16Indices(text) {
  const at = [0];  // at[byte offset] = string index, for offsets at character starts
  let bytes = 0;
  for (let i = 0; i < text.length; ++i) {
    const c = text.codePointAt(i);
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (c >= 0x10000) ++i;
    bytes += n;
    at[bytes] = i + 1;
  }
  return (offset) => at[offset] ?? text.length;
}

export class Model {
  static async open(engine, path, { backend = 'cpu', threads = 0 } = {}) {
    const a = engine.allocator();
    const out = a.zeroed(4);
    try {
      const r = await engine.run(() => engine.module._websd_wasm_open(a.string(path), a.string(backend), threads, out));
      if (r.status !== 0) throw new WebsdError(r.status, r.message);
      return new Model(engine, engine.u32(out));
    } finally {
      a.free();
    }
  }

  constructor(engine, handle) {
    this.engine = engine;
    this.handle = handle;
  }

  // The handle for a call made now. Calls made before free() still run (its job is queued behind theirs); calls made
  // after it get this error rather than the C API's NULL argument.
  live() {
    if (!this.handle) throw new WebsdError(1, 'this model was freed (Model.free): open it again to use it');
    return this.handle;
  }

  get nativeWidth() { return this.engine.module._websd_model_native_width(this.live()); }
  get nativeHeight() { return this.engine.module._websd_model_native_height(this.live()); }
  get defaultScheduler() { return this.engine.string(this.engine.module._websd_model_default_scheduler(this.live())); }
  get family() { return this.engine.string(this.engine.module._websd_model_family(this.live())); }

  // Resolves to [{ width, height, rgb: Uint8Array }] (count images, seeds seed, seed + 1, ...). onProgress may
  // return false to cancel (the promise then rejects with status 'cancelled'); onPreview receives a
  // latent-resolution RGB preview every `previewEvery` steps (0 = none). schedulerConfig overrides the model's
  // scheduler config values ({ timestep_spacing: 'trailing' }); initImage ({ width, height, rgb }, 8-bit RGB)
  // makes it image to image, running the last steps * strength steps over it (strength 0: the pipeline's default);
  // mask (the same, white = repaint) inpaints it with an inpainting model. loras ([{ path, scale }], paths as the
  // module sees them) are merged into the model for this call (loraMode 'runtime': applied beside the weights
  // instead; websd.h says when that pays), and the prompt's <lora:NAME:SCALE> tags find NAME.safetensors in loraDir. embeddings ([{ path, word }]; word defaults to the file's stem) are textual
  // inversion embeddings whose words the prompts may use; every NAME.safetensors in embeddingDir whose NAME a
  // prompt holds is used too. Prompts are read as the widely used web UI reads them ((word:1.3) weights, BREAK, any
  // length in chunks of 75 tokens); literalPrompt reads them as diffusers does. vaeDecoder and previewDecoder are
  // TAESD folders (module paths) that draw the final images and the previews (full size) instead of the VAE and the
  // latent-to-RGB map. hiresScale > 1 adds a hires fix (hiresStrength, hiresSteps, hiresUpscaler 'latent' or
  // 'image'; websd.h says how). controlnets ([{ path, image, scale, start, end, preprocessor, cannyLow, cannyHigh,
  // invert, resize }]: websd_controlnet under camelCase names, path a module path) guide the composition.
  /** @param {{ prompt?: string, negativePrompt?: string, width?: number, height?: number, steps?: number,
   *   guidance?: number, seed?: bigint, scheduler?: string, schedulerConfig?: object, count?: number,
   *   initImage?: { width: number, height: number, rgb: Uint8Array } | null, strength?: number,
   *   mask?: { width: number, height: number, rgb: Uint8Array } | null, previewEvery?: number,
   *   loras?: { path: string, scale?: number }[], loraDir?: string, loraMode?: 'merged' | 'runtime',
   *   embeddings?: { path: string, word?: string }[], embeddingDir?: string, literalPrompt?: boolean,
   *   vaeDecoder?: string, previewDecoder?: string, hiresScale?: number, hiresStrength?: number,
   *   hiresSteps?: number, hiresUpscaler?: string, controlnets?: object[],
   *   onProgress?: ((image: number, step: number, steps: number) => boolean | Promise<boolean>) | null,
   *   onPreview?: ((image: number, step: number, img: { width: number, height: number, rgb: Uint8Array }) => void) | null
   * }} [options] */
  async txt2img({ prompt = '', negativePrompt = '', width = 0, height = 0, steps = 20, guidance = 7.5, seed = 0n,
    scheduler = '', schedulerConfig = {}, count = 1, initImage = null, strength = 0, mask = null, onProgress = null,
    previewEvery = 0, onPreview = null, loras = [], loraDir = '', loraMode = 'merged', embeddings = [],
    embeddingDir = '', literalPrompt = false, vaeDecoder = '', previewDecoder = '', hiresScale = 1, hiresStrength = 0.7, hiresSteps = 0,
    hiresUpscaler = 'latent', controlnets = [] } = {}) {
    const e = this.engine;
    const handle = this.live();
    const a = e.allocator();
    try {
      const images = a.zeroed(IMAGE_BYTES * count);
      const params = paramsJson({ prompt, negativePrompt, width, height, steps, guidance, seed, scheduler,
        schedulerConfig, strength, previewEvery: onPreview ? previewEvery : 0, loras, loraDir, loraMode, embeddings,
        embeddingDir, literalPrompt, vaeDecoder, previewDecoder, hiresScale, hiresStrength, hiresSteps,
        hiresUpscaler, controlnets }, controlImages(e, a, controlnets));
      const init = heapImage(e, a, initImage, 'initImage'), maskImage = heapImage(e, a, mask, 'mask');
      const r = await e.run(() => e.module._websd_wasm_txt2img(handle, a.string(params), init, maskImage, images,
        count), { onProgress, onPreview });
      if (r.status !== 0) throw new WebsdError(r.status, r.message);
      const result = [];
      for (let i = 0; i < count; ++i) {
        const [w, h, c, data] = new Uint32Array(e.module.wasmMemory.buffer, images + i * IMAGE_BYTES, 4);
        result.push({ width: w, height: h, rgb: e.bytes(data, w * h * c).slice() });
        e.module._free(data);
      }
      return result;
    } finally {
      a.free();
    }
  }

  // The "parameters" PNG text of image `image` of a txt2img call with these options (the same options; callbacks
  // are ignored), as the native tool writes it: one implementation, in the engine (pipeline/parameters_text.h).
  parametersText(options = {}, image = 0, modelName = '') {
    const e = this.engine;
    const handle = this.live();
    const a = e.allocator();
    try {
      const init = heapImage(e, a, options.initImage, 'initImage'), mask = heapImage(e, a, options.mask, 'mask');
      const error = a.zeroed(4);
      const json = paramsJson(options, controlImages(e, a, options.controlnets));
      const p = e.module._websd_wasm_parameters_text(handle, a.string(json), init, mask, image,
        a.string(modelName), error);
      const message = new Uint32Array(e.module.wasmMemory.buffer, error, 1)[0];
      const text = e.string(p || message);
      e.module._websd_string_free(p || message);
      if (!p) throw new WebsdError(1, text);
      return text;
    } finally {
      a.free();
    }
  }

  // How the engine reads `prompt` (websd_prompt_info in websd.h), called directly, never beside a txt2img of this
  // model: { tokens: [per chunk], chunk_size, max_chunks, spans: [[start, end, weight, isBreak]] } with the spans'
  // UTF-8 byte offsets turned into indices of the JS string (String.slice takes them as they are).
  promptInfo(prompt, { literal = false } = {}) {
    const e = this.engine;
    const handle = this.live();
    const a = e.allocator();
    try {
      const error = a.zeroed(4);
      const p = e.module._websd_wasm_prompt_info(handle, a.string(prompt), literal ? 1 : 0, error);
      const message = new Uint32Array(e.module.wasmMemory.buffer, error, 1)[0];
      const text = e.string(p || message);
      e.module._websd_string_free(p || message);
      if (!p) throw new WebsdError(1, text);
      const info = JSON.parse(text);
      const index = utf16Indices(prompt);
      info.spans = info.spans.map(([b, end, weight, isBreak]) => [index(b), index(end), weight, isBreak === 1]);
      return info;
    } finally {
      a.free();
    }
  }

  // Frees the model once the calls made before this one have run (jobs run in order); later calls get an error.
  async free() {
    if (!this.handle) return;
    const handle = this.handle;
    this.handle = 0;
    await this.engine.run(() => this.engine.module._websd_wasm_free(handle));
  }
}
