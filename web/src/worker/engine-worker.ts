// The engine Worker: websd.wasm (with its own pthreads) runs here, so the page never freezes. It answers the
// page's requests (src/protocol.ts): capabilities, loading a model (download, cache, GPU upload), generating,
// cancelling, and the cache listing. One model is open at a time.
import { Engine, Model, WebsdError } from '../../../js/lib/engine.mjs';
import { GpuHost } from '../../../js/lib/gpu-host.mjs';
import { fetchModel, type FetchedModel } from './model-fetch';
import { listCached, removeCached } from './model-cache';
import { ADAPTER_KINDS, addAdapter, removeAdapter, storedAdapters } from './adapter-store';
import { removeTuning, storedTuning, storeTuning } from './tuning-store';
import type { Adapter, Backend, Capabilities, Control, Event, GenerateParams, GenerateResult, Image, ModelInfo,
  ModelSource, PromptInfo, Reply, Request, TuningInfo } from '../protocol';

declare function importScripts(...urls: string[]): void;
declare const createWebsdModule: (options: object) => Promise<any>;

const scope = self as unknown as DedicatedWorkerGlobalScope;
importScripts(new URL('websd.js', scope.location.href).href);

// wasm32 addresses 4 GiB: the CPU backend holds a network's weights there (WebGPU streams them to the GPU).
const WASM_WEIGHT_LIMIT = 3.25 * 2 ** 30;

const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup'];

let modulePromise: Promise<any> | null = null;
let engine: Engine | null = null;
let gpuHost: GpuHost | null = null;
let gpuProblem = '';
let model: Model | null = null;
let modelInfo: ModelInfo | null = null;
let mounts = 0;
let mounted = '';  // where the open model's files are in the module's file system
let cancelRequested = false;
// The stored add-ons as the module sees them: mounted at a new path whenever the store changed (the engine keys its
// merged LoRAs by path, so an unchanged store keeps them and switching LoRAs re-reads nothing else).
let adapterMount = '';
let adapterMounts = 0;
let adapterList: Adapter[] = [];
// Requests that use the engine or the open model run one after another, in the order they came, each to its end:
// a load asked for during a generation waits for it, as a generation asked for during a load waits for the model.
let engineQueue: Promise<unknown> = Promise.resolve();
function inTurn<T>(work: () => Promise<T>): Promise<T> {
  const run = engineQueue.then(work);
  engineQueue = run.catch(() => {});
  return run;
}
let lastLoad: { source: ModelSource; backend: Backend } | null = null;  // to open the model again after tuning

function post(reply: Reply, transfer: Transferable[] = []) {
  scope.postMessage(reply, transfer);
}

async function getEngine(): Promise<Engine> {
  modulePromise ??= createWebsdModule({
    mainScriptUrlOrBlob: new URL('websd.js', scope.location.href).href,  // what its own pthreads load
    print: (s: string) => console.log(s),
    printErr: (s: string) => console.warn(s),
  });
  const module = await modulePromise;
  engine ??= new Engine(module, null);
  return engine;
}

// The GPU host, created once; null (with gpuProblem saying why) where WebGPU or an adapter is missing.
async function getGpu(): Promise<GpuHost | null> {
  if (gpuHost || gpuProblem) return gpuHost;
  try {
    gpuHost = await GpuHost.create(navigator.gpu);
    gpuHost.device.lost.then(() => { gpuHost = null; gpuProblem = ''; });
  } catch (e) {
    gpuProblem = (e as Error).message;
  }
  return gpuHost;
}

async function capabilities(): Promise<Capabilities> {
  const gpu = await getGpu();
  let storage = null;
  try {
    const e = await navigator.storage.estimate();
    storage = { usage: e.usage ?? 0, quota: e.quota ?? 0, persisted: await navigator.storage.persisted() };
  } catch { /* no storage API: the cache check reports it when a model loads */ }
  const limits: Record<string, number> = {};
  if (gpu) for (const l of LIMITS) limits[l] = (gpu.device.limits as any)[l];
  return {
    webgpu: !!gpu,
    adapter: gpu ? gpu.description : gpuProblem,
    limits,
    features: gpu ? [...gpu.device.features] as string[] : [],
    cores: navigator.hardwareConcurrency || 1,
    storage,
    tuning: gpu ? tuningInfo(await storedTuning(gpu.description), 0) : null,
  };
}

// A tuning table's summary (TuningInfo), or null for none or one that is no table.
function tuningInfo(table: string | null, seconds: number): TuningInfo | null {
  if (!table) return null;
  try {
    const problems = Object.values(JSON.parse(table).problems) as { choice: string; ms: number; auto_ms: number;
      count: number }[];
    return { problems: problems.length, improved: problems.filter((p) => p.choice).length,
      rulesMs: problems.reduce((s, p) => s + p.count * p.auto_ms, 0),
      tunedMs: problems.reduce((s, p) => s + p.count * p.ms, 0), seconds };
  } catch {
    return null;
  }
}

// Hands the engine this GPU's stored tuning table (or the built-in rules where there is none, or the stored one
// is of an older kernel version).
async function applyTuning(e: Engine, gpu: GpuHost) {
  const table = await storedTuning(gpu.description);
  try {
    e.setTuning(table ?? '');
  } catch (err) {
    console.warn(`websd: the stored kernel tuning is not used: ${(err as Error).message}`);
    e.setTuning('');
  }
}

// Tunes the kernels for the open model on this GPU, stores the table, and opens the model again so that every
// network compiles with it.
async function tune(id: number, width: number, height: number, guidance: number): Promise<TuningInfo> {
  if (!model || !modelInfo || !lastLoad) throw new WebsdError(1, 'no model is loaded: load one first');
  if (modelInfo.backend !== 'webgpu' || !gpuHost) throw new WebsdError(1, 'tuning is for the WebGPU backend');
  const e = await getEngine();
  const gpu = gpuHost;
  const r = await e.tune(mounted, { width, height, batch: guidance > 1 ? 2 : 1, onProgress: (done: number, total: number) => {
    post({ id, type: 'event', event: { phase: 'tune', done, total } });
    return !cancelRequested;
  } });
  await storeTuning(gpu.description, r.table);
  await load(id, lastLoad.source, lastLoad.backend);
  return tuningInfo(r.table, r.seconds)!;
}

function localFiles(source: Extract<ModelSource, { kind: 'files' }>): FetchedModel {
  const blobs = source.files.map((f) => ({ name: f.path, data: f.file as Blob }));
  const paths = blobs.map((b) => b.name);
  let root = '';
  if (!paths.includes('model_index.json') && !paths.includes('manifest.json')) {
    const single = paths.filter((p) => p.endsWith('.safetensors') && !p.includes('/'));
    if (single.length !== 1) {
      throw new WebsdError(1, 'pick a diffusers pipeline folder (with model_index.json), a websd pack folder (with ' +
        'manifest.json), or one single-file .safetensors checkpoint together with its tokenizer files ' +
        `(vocab.json and merges.txt); got ${paths.length} file(s) and no model_index.json`);
    }
    root = single[0];
  }
  const weightBytes = blobs.filter((b) => b.name.endsWith('.safetensors')).reduce((n, b) => n + b.data.size, 0);
  return { name: source.name, blobs, root, weightBytes, fromCache: false };
}

async function load(id: number, source: ModelSource, backend: Backend): Promise<ModelInfo> {
  const emit = (event: Event) => post({ id, type: 'event', event });
  const e = await getEngine();
  if (model) {
    const old = model;
    model = modelInfo = null;
    await old.free();
  }
  if (mounted) {
    e.module.FS.unmount(mounted);
    mounted = '';
  }
  let gpu: GpuHost | null = null;
  if (backend === 'webgpu') {
    gpu = await getGpu();
    if (!gpu) throw new WebsdError(4, `WebGPU is not usable here: ${gpuProblem}. Choose the CPU backend instead.`);
  }
  e.gpuHost = gpu;
  if (gpu) await applyTuning(e, gpu);
  lastLoad = { source, backend };
  const fetched = source.kind === 'url' ? await fetchModel(source.url, emit) : localFiles(source);
  if (backend === 'cpu' && fetched.weightBytes > WASM_WEIGHT_LIMIT) {
    throw new WebsdError(6, `this model's weights (${(fetched.weightBytes / 2 ** 30).toFixed(1)} GiB) do not fit ` +
      'in WebAssembly\'s 4 GiB memory, where the CPU backend keeps them: use a q8 pack (websd convert MODEL -o ' +
      'PACK --dtype q8, about half the size), a Stable Diffusion 1.x/2.x model, or a browser with WebGPU (which ' +
      'streams weights to the GPU one tensor at a time).');
  }
  const FS = e.module.FS;
  const mount = `/model-${++mounts}`;
  FS.mkdir(mount);
  FS.mount(FS.filesystems.WORKERFS, { blobs: fetched.blobs }, mount);
  mounted = mount;
  const opened = await Model.open(e, fetched.root ? `${mount}/${fetched.root}` : mount, { backend });
  // One tiny generation uploads every weight and compiles every kernel now, with a progress bar, instead of
  // making the first real image slow.
  const t0 = performance.now();
  if (gpu) {
    const start = gpu.bytesWritten;
    gpu.onWrite = (n: number) => emit({ phase: 'upload', file: '', loaded: n - start, total: fetched.weightBytes });
  }
  try {
    await opened.txt2img({ prompt: '', width: 64, height: 64, steps: 1, guidance: 0, seed: 0n });
  } finally {
    if (gpu) gpu.onWrite = null;
  }
  model = opened;
  modelInfo = {
    name: fetched.name, family: opened.family, nativeWidth: opened.nativeWidth, nativeHeight: opened.nativeHeight,
    defaultScheduler: opened.defaultScheduler, backend, weightBytes: fetched.weightBytes,
    fromCache: fetched.fromCache, warmupMs: performance.now() - t0,
  };
  return modelInfo;
}

// Mounts the stored add-ons (again, if the store changed since); the folder they are in.
async function mountAdapters(): Promise<string> {
  if (adapterMount) return adapterMount;
  const FS = (await getEngine()).module.FS;
  const { list, blobs } = await storedAdapters();
  // One WORKERFS per kind, so that each kind's folder exists even with nothing stored in it.
  const mount = `/adapters-${++adapterMounts}`;
  FS.mkdir(mount);
  for (const kind of ADAPTER_KINDS) {
    FS.mkdir(`${mount}/${kind}`);
    const mine = blobs.filter((b) => b.name.startsWith(`${kind}/`)).map((b) => ({ name: b.name.slice(kind.length + 1),
      data: b.data }));
    FS.mount(FS.filesystems.WORKERFS, { blobs: mine }, `${mount}/${kind}`);
  }
  adapterMount = mount;
  adapterList = list;
  return mount;
}

function adaptersChanged() {
  if (!adapterMount || !engine) return;
  for (const kind of ADAPTER_KINDS) engine.module.FS.unmount(`${adapterMount}/${kind}`);
  adapterMount = '';
}

function stored(kind: Adapter['kind'], name: string, what: string) {
  if (!adapterList.some((a) => a.kind === kind && a.name === name)) {
    throw new WebsdError(2, `${what} '${name}' is not stored in this browser (any more): add it again`);
  }
}

async function generate(id: number, p: GenerateParams): Promise<GenerateResult> {
  if (!model) throw new WebsdError(1, 'no model is loaded: load one first');
  cancelRequested = false;
  const dir = await mountAdapters();
  for (const l of p.loras) stored('lora', l.name, 'the LoRA');
  for (const [name, what] of [[p.previewDecoder, 'the preview TAESD'], [p.vaeDecoder, 'the TAESD']]) {
    if (name) stored('taesd', name, what);
  }
  const controlnets = [];
  if (p.controlnet) {
    const c = p.controlnet;
    stored('controlnet', c.name, 'the ControlNet');
    // Stored as one file or as a folder (diffusers' or a pack).
    const file = `${dir}/controlnet/${c.name}.safetensors`;
    const path = engine!.module.FS.analyzePath(file).exists ? file : `${dir}/controlnet/${c.name}`;
    controlnets.push({ path, image: c.image, scale: c.scale, start: c.start, end: c.end, preprocessor: c.preprocessor,
      cannyLow: c.cannyLow, cannyHigh: c.cannyHigh, invert: c.invert, resize: c.resize });
  }
  const options = {
    prompt: p.prompt, negativePrompt: p.negativePrompt, width: p.width, height: p.height, steps: p.steps,
    guidance: p.guidance, seed: BigInt(p.seed), scheduler: p.scheduler, schedulerConfig: p.schedulerConfig,
    count: p.count, previewEvery: p.previewEvery, initImage: p.initImage, strength: p.strength, mask: p.mask,
    loras: p.loras.map((l) => ({ path: `${dir}/lora/${l.name}.safetensors`, scale: l.scale })),
    loraDir: `${dir}/lora`, loraMode: p.loraMode, embeddingDir: `${dir}/embedding`, literalPrompt: p.literalPrompt,
    previewDecoder: p.previewDecoder ? `${dir}/taesd/${p.previewDecoder}` : '',
    vaeDecoder: p.vaeDecoder ? `${dir}/taesd/${p.vaeDecoder}` : '',
    hiresScale: p.hiresScale, hiresStrength: p.hiresStrength, hiresSteps: p.hiresSteps, hiresUpscaler: p.hiresUpscaler,
    controlnets,
  };
  const images = await model.txt2img({
    ...options,
    onProgress: (image: number, step: number, steps: number) => {
      post({ id, type: 'event', event: { phase: 'step', image, step, steps } });
      return !cancelRequested;
    },
    onPreview: (image: number, step: number, img: { width: number; height: number; rgb: Uint8Array }) => {
      post({ id, type: 'event', event: { phase: 'preview', image, step, ...img } }, [img.rgb.buffer]);
    },
  });
  // Each image's PNG text, written by the engine as the native tool writes it.
  const parameters = images.map((_: Image, i: number) => model!.parametersText(options, i, modelInfo!.name));
  return { images, parameters };
}

async function handle(r: Request): Promise<[unknown, Transferable[]]> {
  switch (r.type) {
    // Storage alone, answered at once even while the engine works.
    case 'cache-list': return [await listCached(), []];
    case 'cache-remove': return [await removeCached(r.key), []];
    case 'adapter-list': return [(await storedAdapters()).list, []];
    case 'adapter-add': {
      const added = await addAdapter(r.kind, r.source);
      await inTurn(async () => adaptersChanged());  // a generation before it may still read the mounted files
      return [added, []];
    }
    case 'adapter-remove': {
      await inTurn(async () => {
        await removeAdapter(r.kind, r.name);
        adaptersChanged();
      });
      return [null, []];
    }
    // The control map is drawn on this thread, beside whatever job runs (Engine.controlMap), so that it shows at once.
    case 'control-map': {
      const map = (await getEngine()).controlMap(r.control, r.width, r.height);
      return [map, [map.rgb.buffer]];
    }
  }
  return inTurn(() => engineRequest(r));
}

async function engineRequest(r: Request): Promise<[unknown, Transferable[]]> {
  switch (r.type) {
    case 'capabilities': return [await capabilities(), []];
    case 'load': return [await load(r.id, r.source, r.backend), []];
    case 'generate': {
      const result = await generate(r.id, r.params);
      return [result, result.images.map((i) => i.rgb.buffer)];
    }
    case 'tune': {
      cancelRequested = false;
      return [await tune(r.id, r.width, r.height, r.guidance), []];
    }
    case 'tuning-reset': {
      const gpu = await getGpu();
      if (gpu) {
        await removeTuning(gpu.description);
        (await getEngine()).setTuning('');
        if (model && lastLoad) await load(r.id, lastLoad.source, lastLoad.backend);
      }
      return [null, []];
    }
    case 'prompt-info': {
      if (!model) return [null, []];
      const info = model.promptInfo(r.prompt, { literal: r.literal });
      const value: PromptInfo = { tokens: info.tokens, chunkSize: info.chunk_size, maxChunks: info.max_chunks,
        spans: info.spans };
      return [value, []];
    }
  }
  throw new WebsdError(1, `unknown request '${(r as { type: string }).type}'`);
}

scope.onmessage = async (m: MessageEvent<Request | Control>) => {
  const r = m.data;
  if (r.type === 'cancel') {
    cancelRequested = true;
    return;
  }
  try {
    const [value, transfer] = await handle(r);
    post({ id: r.id, type: 'result', value }, transfer);
  } catch (e) {
    const err = e as WebsdError;
    if (err.statusName === 'device lost') {  // the page may load again: that starts on a fresh device
      gpuHost = null;
      model = modelInfo = null;
    }
    post({ id: r.id, type: 'error', message: err?.message ?? String(e), status: err?.statusName ?? 'error' });
  }
};
