// The websd page: wires the form, the engine Worker, the progress bars, the result and the gallery together.
// The root element's data-state (idle, loading, generating, done, error) tells scripts and tests where it is.
import { SAMPLER_NAMES } from '../../js/lib/parameters.mjs';
import { EngineClient, EngineError } from './engine-client';
import type { Backend, CachedModel, Capabilities, Event, GenerateResult, Image, ModelInfo, ModelSource } from './protocol';
import { DEFAULTS, SCHEDULERS, loadSettings, randomSeed, saveSettings, schedulerConfig, shareLink, validate,
  type Settings } from './settings';
import { bytes, duration, RateMeter } from './ui/format';
import { AdapterPanel } from './ui/adapters';
import { Catalogue, fitOf, type CatalogueEntry } from './ui/catalogue';
import { ControlImage } from './ui/control-panel';
import { Gallery } from './ui/gallery';
import { downloadPng, drawRgb } from './ui/image';
import { MaskEditor } from './ui/mask-editor';
import { startOffline } from './ui/offline';
import { pngInfo, type PngInfo } from './ui/png-info';
import { PromptHighlight } from './ui/prompt-highlight';
import { StartImage } from './ui/start-image';
import { TuningPanel } from './ui/tuning';

type State = 'idle' | 'loading' | 'generating' | 'done' | 'error';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const app = $('app');
const input = (id: string) => $<HTMLInputElement>(id);

const engine = new EngineClient();
const gallery = new Gallery({ list: $<HTMLOListElement>('gallery'), summary: $('gallery-summary'),
  downloadAll: $<HTMLButtonElement>('gallery-download-all'), deleteAll: $<HTMLButtonElement>('gallery-delete-all') },
(s) => {
  fillForm({ ...s, seedLocked: true });
  persist();
}, (message) => setState('error', message));

let caps: Capabilities | null = null;
let model: ModelInfo | null = null;
let loadedUrl = '';  // the URL the loaded model came from ('' for local files)
let loadedSource: ModelSource | null = null;  // where the loaded model came from: opened again after a lost GPU
let shown: { image: Image; parameters: string; fileName: string } | null = null;
const mask = new MaskEditor($<HTMLCanvasElement>('mask-canvas'), { brush: input('mask-brush'),
  eraser: input('mask-eraser'), size: input('mask-size'), info: $('mask-info') }, () => {});
const startImage = new StartImage($('mask-stage'), $<HTMLCanvasElement>('init-preview'), $('init-info'),
  $<HTMLButtonElement>('clear-init'), (width, height) => {
    input('strength').disabled = !width;
    $('mask-tools').hidden = !width;
    mask.reset(width, height);
  });
const adapters = new AdapterPanel(engine, {
  loras: $<HTMLUListElement>('lora-list'), embeddings: $<HTMLUListElement>('embedding-list'),
  taesds: $<HTMLUListElement>('taesd-list'), summary: $('adapter-summary'),
  previewDecoder: $<HTMLSelectElement>('preview-decoder'), vaeDecoder: $<HTMLSelectElement>('vae-decoder'),
  controlnets: $<HTMLUListElement>('controlnet-list'), controlnet: $<HTMLSelectElement>('controlnet'),
}, { insert: insertInPrompt, changed: () => { persist(); showControl(); },
  message: (text, error) => setState(error ? 'error' : 'idle', text) });
const control = new ControlImage(engine, { map: $<HTMLCanvasElement>('control-map'), info: $('control-info'),
  clear: $<HTMLButtonElement>('clear-control') }, () => {
  const s = readForm();
  return { preprocessor: s.controlPreprocessor, cannyLow: s.cannyLow, cannyHigh: s.cannyHigh,
    invert: s.controlInvert, resize: s.controlResize };
}, generationSize, (message) => setState('error', message));

const catalogue = new Catalogue($<HTMLUListElement>('catalogue'), {
  load: loadFromCatalogue,
  example: async (entry, prompt) => {
    $<HTMLTextAreaElement>('prompt').value = prompt;
    persist();
    if (loadedUrl !== entry.url) await loadFromCatalogue(entry);
    if (loadedUrl === entry.url) await generate();
  },
  storedUrls: async () => (await engine.request<CachedModel[]>({ type: 'cache-list' }).catch(() => [] as CachedModel[]))
    .filter((m) => m.complete).map((m) => m.url),
});

// One click in the catalogue: refused with the reason when it cannot fit, else its recommended settings go into
// the form and it loads (a model) or is stored as an add-on (a TAESD).
async function loadFromCatalogue(entry: CatalogueEntry) {
  const stored = (await engine.request<CachedModel[]>({ type: 'cache-list' }).catch(() => [] as CachedModel[]))
    .some((m) => m.url === entry.url && m.complete);
  const fit = await fitOf(entry, caps, stored);
  if (!fit.fits) {
    setState('error', `${entry.name} does not fit: ${fit.text}.`);
    return;
  }
  if (entry.kind === 'taesd') {
    await adapters.add('taesd', { kind: 'url', url: entry.url });
    return;
  }
  input('model-url').value = entry.url;
  if (entry.settings) fillForm({ ...readForm(), ...entry.settings });
  persist();
  if (await loadModel({ kind: 'url', url: entry.url })) await catalogue.show(caps);
}

const tuning = new TuningPanel(engine, { summary: $('tuning-summary'), detail: $('tuning-detail'),
  tune: $<HTMLButtonElement>('tune'), reset: $<HTMLButtonElement>('tuning-reset'),
  progress: $<HTMLProgressElement>('tune-progress') }, {
  job: () => {
    if (!model || model.backend !== 'webgpu') return 'Load a model on the GPU first: tuning times its kernels there.';
    const [width, height] = generationSize();
    return { width, height, guidance: readForm().guidance };
  },
  busy: (message) => setState('generating', message),
  done: (message, error) => setState(error ? 'error' : 'idle', message),
});

// The size a generation will have: the form's, or the loaded model's own (512 before any is loaded).
function generationSize(): [number, number] {
  const s = readForm();
  return [s.width || model?.nativeWidth || 512, s.height || model?.nativeHeight || 512];
}

function showControl() {
  const s = readForm();
  $('controlnet-summary').textContent = s.controlnet
    ? `${s.controlnet} at ${s.controlScale}${control.image ? '' : ', no control image yet'}` : 'off';
  for (const id of ['canny-low', 'canny-high']) input(id).disabled = s.controlPreprocessor !== 'canny';
}
const highlights = (['prompt', 'negative-prompt'] as const).map((id) => new PromptHighlight(engine,
  $<HTMLTextAreaElement>(id), $(`${id}-highlight`), $(`${id}-tokens`), () => input('literal-prompt').checked));

// Puts text at the prompt's cursor (a LoRA tag, an embedding's word), spaced from its neighbours.
function insertInPrompt(text: string) {
  const t = $<HTMLTextAreaElement>('prompt');
  const [a, b] = [t.selectionStart ?? t.value.length, t.selectionEnd ?? t.value.length];
  const before = t.value.slice(0, a), after = t.value.slice(b);
  const piece = `${before && !/[\s,(]$/.test(before) ? ', ' : ''}${text}${after && !/^[\s,)]/.test(after) ? ', ' : ''}`;
  t.value = before + piece + after;
  t.selectionStart = t.selectionEnd = before.length + piece.length;
  t.dispatchEvent(new Event('input', { bubbles: true }));
  t.focus();
}

function setState(state: State, message = '') {
  app.dataset.state = state;
  const m = $('message');
  m.textContent = message;
  m.className = state === 'error' ? 'error' : '';
  const busy = state === 'loading' || state === 'generating';
  $<HTMLButtonElement>('generate').disabled = busy || !model;
  $<HTMLButtonElement>('cancel').disabled = state !== 'generating';
  $<HTMLButtonElement>('load').disabled = busy;
  input('pick-folder').disabled = input('pick-files').disabled = busy;
}

// ---- settings <-> form ----

function fillForm(s: Settings) {
  input('model-url').value = s.model;
  $<HTMLTextAreaElement>('prompt').value = s.prompt;
  $<HTMLTextAreaElement>('negative-prompt').value = s.negativePrompt;
  input('steps').value = String(s.steps);
  input('guidance').value = String(s.guidance);
  input('seed').value = s.seed;
  input('seed-lock').checked = s.seedLocked;
  $<HTMLSelectElement>('scheduler').value = s.scheduler;
  input('scheduler-options').value = s.schedulerOptions;
  input('width').value = s.width ? String(s.width) : '';
  input('height').value = s.height ? String(s.height) : '';
  input('count').value = String(s.count);
  input('strength').value = String(s.strength);
  $<HTMLSelectElement>('backend').value = s.backend;
  input('literal-prompt').checked = s.literalPrompt;
  $<HTMLSelectElement>('lora-mode').value = s.loraMode;
  input('hires-scale').value = String(s.hiresScale);
  input('hires-strength').value = String(s.hiresStrength);
  input('hires-steps').value = String(s.hiresSteps);
  $<HTMLSelectElement>('hires-upscaler').value = s.hiresUpscaler;
  adapters.restore(s.loras, s.previewDecoder, s.vaeDecoder, s.controlnet);
  input('control-scale').value = String(s.controlScale);
  input('control-start').value = String(s.controlStart);
  input('control-end').value = String(s.controlEnd);
  $<HTMLSelectElement>('control-preprocessor').value = s.controlPreprocessor;
  input('canny-low').value = String(s.cannyLow);
  input('canny-high').value = String(s.cannyHigh);
  input('control-invert').checked = s.controlInvert;
  $<HTMLSelectElement>('control-resize').value = s.controlResize;
  showHires();
  showControl();
  for (const h of highlights) h.schedule();
}

function showHires() {
  const scale = Number(input('hires-scale').value);
  $('hires-summary').textContent = scale > 1 ? `×${scale} at strength ${input('hires-strength').value}` : 'off';
}

function readForm(): Settings {
  const num = (id: string, fallback: number) => (input(id).value.trim() === '' ? fallback : Number(input(id).value));
  return {
    model: input('model-url').value.trim(),
    prompt: $<HTMLTextAreaElement>('prompt').value,
    negativePrompt: $<HTMLTextAreaElement>('negative-prompt').value,
    steps: num('steps', DEFAULTS.steps),
    guidance: num('guidance', DEFAULTS.guidance),
    seed: input('seed').value.trim(),
    seedLocked: input('seed-lock').checked,
    scheduler: $<HTMLSelectElement>('scheduler').value,
    schedulerOptions: input('scheduler-options').value.trim(),
    width: num('width', 0),
    height: num('height', 0),
    count: num('count', 1),
    strength: num('strength', DEFAULTS.strength),
    backend: $<HTMLSelectElement>('backend').value as Settings['backend'],
    literalPrompt: input('literal-prompt').checked,
    loras: adapters.loras,
    loraMode: $<HTMLSelectElement>('lora-mode').value as Settings['loraMode'],
    previewDecoder: adapters.previewDecoder,
    vaeDecoder: adapters.vaeDecoder,
    hiresScale: num('hires-scale', DEFAULTS.hiresScale),
    hiresStrength: num('hires-strength', DEFAULTS.hiresStrength),
    hiresSteps: num('hires-steps', DEFAULTS.hiresSteps),
    hiresUpscaler: $<HTMLSelectElement>('hires-upscaler').value as Settings['hiresUpscaler'],
    controlnet: adapters.controlnet,
    controlScale: num('control-scale', DEFAULTS.controlScale),
    controlStart: num('control-start', DEFAULTS.controlStart),
    controlEnd: num('control-end', DEFAULTS.controlEnd),
    controlPreprocessor: $<HTMLSelectElement>('control-preprocessor').value as Settings['controlPreprocessor'],
    cannyLow: num('canny-low', DEFAULTS.cannyLow),
    cannyHigh: num('canny-high', DEFAULTS.cannyHigh),
    controlInvert: input('control-invert').checked,
    controlResize: $<HTMLSelectElement>('control-resize').value as Settings['controlResize'],
  };
}

const persist = () => saveSettings(readForm());

// ---- capabilities, cache, shipped models ----

function chosenBackend(): Backend {
  const b = $<HTMLSelectElement>('backend').value;
  if (b === 'webgpu' || b === 'cpu') return b;
  return caps?.webgpu ? 'webgpu' : 'cpu';
}

// Shows the adapter, or a note on why there is none and what the CPU fallback means.
async function showCapabilities() {
  caps = await engine.request<Capabilities>({ type: 'capabilities' });
  const badge = $('adapter');
  tuning.show(caps.tuning);
  $('tuning-panel').hidden = !caps.webgpu;
  if (caps.webgpu) {
    const binding = caps.limits.maxStorageBufferBindingSize;
    badge.textContent = `GPU: ${caps.adapter}`;
    badge.title = `WebGPU limits: maxBufferSize ${bytes(caps.limits.maxBufferSize)}, maxStorageBufferBindingSize ` +
      `${bytes(binding)}; features: ${caps.features.join(', ') || 'none'}`;
    return;
  }
  badge.textContent = 'no WebGPU: running on the CPU';
  badge.title = caps.adapter;
  const note = $('capability-note');
  note.hidden = false;
  note.textContent = `WebGPU is not available (${caps.adapter}). websd can still run on the CPU in WebAssembly with ` +
    `${caps.cores} threads, but that is slow: tiny models take seconds, full-size Stable Diffusion several ` +
    'minutes per step. For the GPU, use a current Chrome or Edge (or enable WebGPU).';
}

async function refreshCache() {
  const list = await engine.request<CachedModel[]>({ type: 'cache-list' }).catch(() => [] as CachedModel[]);
  const ul = $('cache-list');
  ul.replaceChildren();
  let total = 0;
  for (const m of list) {
    total += m.bytes;
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = `${m.name} — ${bytes(m.bytes)}${m.complete ? '' : ' (incomplete: Load resumes it)'}`;
    label.title = m.url;
    const use = document.createElement('button');
    use.type = 'button';
    use.textContent = 'Load';
    use.onclick = () => { input('model-url').value = m.url; void loadModel({ kind: 'url', url: m.url }); };
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.onclick = async () => { await engine.request({ type: 'cache-remove', key: m.key }); await refreshCache(); };
    li.append(label, use, remove);
    ul.append(li);
  }
  $('cache-total').textContent = bytes(total);
  return list;
}

// Models this copy of the app ships (web build --model), the demo model first: a button that loads each, its
// card's description, and example prompts that load it (when it is not the one loaded) and draw them.
async function showShipped() {
  let models: { name: string; url: string; description?: string; examples?: string[] }[] = [];
  try {
    const r = await fetch('models/index.json');
    if (r.ok) models = await r.json();
  } catch { /* this copy of the app ships no models */ }
  const box = $('shipped');
  box.replaceChildren();
  for (const m of models) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `Load ${m.name}`;
    b.title = m.description ?? '';
    const url = new URL(m.url, location.href).href;
    b.onclick = () => { input('model-url').value = url; persist(); void loadModel({ kind: 'url', url }); };
    const p = document.createElement('p');
    p.append(b, ` ${m.description ?? ''}`);
    box.append(p);
    if (!m.examples?.length) continue;
    const list = document.createElement('ul');
    list.className = 'examples';
    list.setAttribute('aria-label', `Example prompts for ${m.name}`);
    for (const prompt of m.examples) {
      const e = document.createElement('button');
      e.type = 'button';
      e.textContent = prompt;
      e.onclick = async () => {
        $<HTMLTextAreaElement>('prompt').value = prompt;
        input('model-url').value = url;
        persist();
        if (loadedUrl !== url && !(await loadModel({ kind: 'url', url }))) return;
        await generate();
      };
      const li = document.createElement('li');
      li.append(e);
      list.append(li);
    }
    box.append(list);
  }
}

// ---- loading ----

const loadRate = new RateMeter();
let loadPhase = '';

function onLoadEvent(e: Event) {
  if (e.phase !== 'download' && e.phase !== 'verify' && e.phase !== 'upload') return;
  if (e.phase !== loadPhase) {
    loadPhase = e.phase;
    loadRate.reset();
  }
  const rate = loadRate.add(e.loaded);
  const left = e.total > e.loaded && rate > 0 ? (e.total - e.loaded) / rate : NaN;
  const names = { download: 'Downloading', verify: 'Checking', upload: 'Uploading to the GPU' };
  $('load-phase').textContent = `${names[e.phase]} ${e.file}`;
  $('load-detail').textContent = `${bytes(e.loaded)} / ${bytes(e.total)} · ${bytes(rate)}/s · ${duration(left)} left`;
  const bar = $<HTMLProgressElement>(e.phase === 'upload' ? 'upload-progress' : 'download-progress');
  bar.max = Math.max(e.total, 1);
  bar.value = Math.min(e.loaded, e.total);
}

async function loadModel(source: ModelSource): Promise<boolean> {
  const backend = chosenBackend();
  setState('loading', `Loading ${source.kind === 'url' ? source.url : source.name} for the ${backend === 'webgpu' ? 'GPU' : 'CPU'}…`);
  model = null;
  loadedUrl = '';
  $('load-progress').hidden = false;
  for (const id of ['download-progress', 'upload-progress']) $<HTMLProgressElement>(id).value = 0;
  $('load-phase').textContent = 'Opening';
  $('load-detail').textContent = '';
  loadPhase = '';
  try {
    model = await engine.request<ModelInfo>({ type: 'load', source, backend }, onLoadEvent);
  } catch (e) {
    $('load-progress').hidden = true;
    setState('error', `Could not load the model: ${(e as Error).message}`);
    await refreshCache();
    return false;
  }
  $('load-progress').hidden = true;
  $('no-model').hidden = true;
  loadedUrl = source.kind === 'url' ? source.url : '';
  loadedSource = source;
  input('width').placeholder = String(model.nativeWidth);
  input('height').placeholder = String(model.nativeHeight);
  ($<HTMLSelectElement>('scheduler').options[0]).textContent = `model default (${model.defaultScheduler})`;
  $('model-info').textContent = `${model.name}: ${model.family}, ${bytes(model.weightBytes)} of weights, ` +
    `${model.nativeWidth}×${model.nativeHeight}, on the ${backend === 'webgpu' ? `GPU (${caps?.adapter})` : 'CPU'}` +
    `${model.fromCache ? ', from this browser\'s storage' : ''}; ready in ${duration(model.warmupMs / 1000)}` +
    (backend === 'cpu' ? `. CPU estimate: about ${duration(cpuStepEstimate(model))} per step at ` +
      `${model.nativeWidth}×${model.nativeHeight}` : '');
  setState('idle', 'Model ready.');
  for (const h of highlights) h.schedule();
  await refreshCache();
  return true;
}

// The warm-up made one unguided 64x64 step; a guided step at the native size costs about (pixels ratio) x 2 of it.
// Rough (the warm-up also encoded the prompt and decoded), and said to be so.
function cpuStepEstimate(m: ModelInfo) {
  return (m.warmupMs / 1000) * ((m.nativeWidth * m.nativeHeight) / (64 * 64)) * 2;
}

// ---- generating ----

const stepRate = new RateMeter(8000);

async function generate() {
  if (!model || app.dataset.state === 'generating' || app.dataset.state === 'loading') return;
  if (!input('seed-lock').checked) input('seed').value = randomSeed();
  const s = readForm();
  const problem = validate(s);
  if (problem) {
    setState('error', problem);
    return;
  }
  if (s.controlnet && !control.image) {
    setState('error', `The ControlNet ${s.controlnet} needs a control image: open one in its panel (or choose none).`);
    return;
  }
  persist();
  const width = s.width || model.nativeWidth, height = s.height || model.nativeHeight;
  const controlnet = s.controlnet && control.image ? { name: s.controlnet, image: control.image, scale: s.controlScale,
    start: s.controlStart, end: s.controlEnd, preprocessor: s.controlPreprocessor, cannyLow: s.cannyLow,
    cannyHigh: s.cannyHigh, invert: s.controlInvert, resize: s.controlResize } : null;
  const start = startImage.at(width, height);
  const maskImage = start ? mask.at(width, height) : null;
  const overrides = schedulerConfig(s.schedulerOptions);
  const previewEvery = Math.max(1, Math.round(s.steps / 10));
  setState('generating', `Generating ${s.count > 1 ? `${s.count} images` : ''}…`);
  $('gen-progress-box').hidden = false;
  const bar = $<HTMLProgressElement>('gen-progress');
  bar.value = 0;
  stepRate.reset();
  const preview = $<HTMLCanvasElement>('preview');
  let done = 0;
  const onEvent = (e: Event) => {
    if (e.phase === 'step') {
      done = e.image * e.steps + e.step;
      const total = e.steps * s.count;
      bar.max = total;
      bar.value = done;
      const rate = stepRate.add(done);
      $('gen-status').textContent = `${s.count > 1 ? `image ${e.image + 1}/${s.count}, ` : ''}step ${e.step}/${e.steps}`;
      $('gen-eta').textContent = rate > 0 ? `${rate.toFixed(2)} it/s · ${duration((total - done) / rate)} left` : '';
    } else if (e.phase === 'preview') {
      preview.hidden = false;
      drawRgb(preview, e);
    }
  };
  const t0 = performance.now();
  try {
    const { images, parameters } = await engine.request<GenerateResult>({ type: 'generate', params: {
      prompt: s.prompt, negativePrompt: s.negativePrompt, steps: s.steps, guidance: s.guidance, seed: s.seed,
      scheduler: s.scheduler, schedulerConfig: overrides, width, height, count: s.count, previewEvery,
      initImage: start?.image ?? null, strength: s.strength, mask: maskImage, loras: s.loras, loraMode: s.loraMode,
      literalPrompt: s.literalPrompt, previewDecoder: s.previewDecoder, vaeDecoder: s.vaeDecoder,
      hiresScale: s.hiresScale, hiresStrength: s.hiresStrength, hiresSteps: s.hiresSteps,
      hiresUpscaler: s.hiresUpscaler, controlnet } }, onEvent);
    const seconds = (performance.now() - t0) / 1000;
    const itPerSecond = (s.steps * s.count) / seconds;
    images.forEach((image, i) => {
      const seed = (BigInt(s.seed) + BigInt(i)) & ((1n << 64n) - 1n);
      const item = { image, parameters: parameters[i], fileName: `websd-${seed}.png`, settings: { ...s, seed: seed.toString() },
        seconds, itPerSecond };
      void gallery.add(item);
      if (i === 0) shown = item;
    });
    drawRgb($<HTMLCanvasElement>('result'), shown!.image);
    $('result-params').textContent = shown!.parameters;
    $<HTMLButtonElement>('download').disabled = false;
    $<HTMLButtonElement>('use-as-init').disabled = false;
    $<HTMLButtonElement>('use-as-control').disabled = false;
    preview.hidden = true;
    $('gen-progress-box').hidden = true;
    setState('done', `Done in ${duration(seconds)} (${itPerSecond.toFixed(2)} it/s).` +
      (start?.resizedFrom ? ` The start image was resized from ${start.resizedFrom} to ${width}×${height}.` : ''));
  } catch (e) {
    preview.hidden = true;
    $('gen-progress-box').hidden = true;
    const err = e as EngineError;
    if (err.status === 'cancelled') setState('idle', `Cancelled after ${done} step(s).`);
    else if (err.status === 'device lost') {
      // The worker starts on a fresh device: the model is opened again there (from the browser's storage or the
      // same files), and the next generation runs as before.
      model = null;
      const lost = `${err.message}\nThe GPU was reset or disconnected`;
      const source = loadedSource;
      if (source && (await loadModel(source))) setState('idle', `${lost}; the model was opened again on a fresh GPU device.`);
      else setState('error', `${lost}; press Load to open the model again.`);
    } else setState('error', `Generation failed: ${err.message}`);
  }
}

// ---- PNG info ----

// Fills the form with the settings a PNG was saved with, and says what was read and what websd has no use for.
async function readPngInfo(file: File) {
  let info: PngInfo;
  try {
    info = pngInfo(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (e) {
    setState('error', (e as Error).message);
    return;
  }
  fillForm({ ...readForm(), ...info.settings });
  persist();
  const box = $('png-info');
  box.hidden = false;
  const head = document.createElement('p');
  head.textContent = `Settings read from ${file.name}: ${info.used.map(([k]) => k).join(', ') || 'the prompt only'}.` +
    (info.model ? ` It was made with the model ${info.model}${model && model.name !== info.model ? `; ${model.name} is loaded` : ''}.` : '');
  box.replaceChildren(head);
  if (info.unused.length) {
    const p = document.createElement('p');
    p.textContent = 'Not used here:';
    const list = document.createElement('ul');
    list.id = 'png-info-unused';
    for (const [key, value] of info.unused) {
      const li = document.createElement('li');
      li.textContent = `${key}: ${value}`;
      list.append(li);
    }
    box.append(p, list);
  }
  setState(app.dataset.state === 'error' ? 'idle' : (app.dataset.state as State), '');
}

// ---- wiring ----

function pickedFiles(list: FileList, folder: boolean): ModelSource | null {
  const files = Array.from(list);
  if (!files.length) return null;
  if (folder) {
    const top = files[0].webkitRelativePath.split('/')[0];
    return { kind: 'files', name: top, files: files.map((f) => ({ path: f.webkitRelativePath.split('/').slice(1).join('/'), file: f })) };
  }
  // A single checkpoint plus its tokenizer files: the engine looks for tokenizer/ next to the checkpoint.
  const main = files.find((f) => f.name.endsWith('.safetensors'));
  return { kind: 'files', name: main?.name ?? files[0].name,
    files: files.map((f) => ({ path: f.name.endsWith('.safetensors') ? f.name : `tokenizer/${f.name}`, file: f })) };
}

function wire() {
  const schedulerSelect = $<HTMLSelectElement>('scheduler');
  for (const name of SCHEDULERS) {
    const o = document.createElement('option');
    o.value = name;
    o.textContent = `${name} (${(SAMPLER_NAMES as Record<string, string>)[name]})`;
    schedulerSelect.append(o);
  }
  $('model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = input('model-url').value.trim();
    if (!url) return setState('error', 'Enter the URL of a pack manifest.json or of a diffusers folder.');
    persist();
    void loadModel({ kind: 'url', url: new URL(url, location.href).href });
  });
  for (const [id, folder] of [['pick-folder', true], ['pick-files', false]] as const) {
    input(id).addEventListener('change', () => {
      const source = pickedFiles(input(id).files!, folder);
      if (source) void loadModel(source);
      input(id).value = '';
    });
  }
  $('generate-form').addEventListener('submit', (e) => { e.preventDefault(); void generate(); });
  input('pick-png-info').addEventListener('change', () => {
    const file = input('pick-png-info').files?.[0];
    if (file) void readPngInfo(file);
    input('pick-png-info').value = '';
  });
  // A PNG dropped on the prompt gives its settings; dropped text is still just text.
  const promptBox = $('prompt').parentElement!;
  promptBox.addEventListener('dragover', (e) => { if (e.dataTransfer?.types.includes('Files')) e.preventDefault(); });
  promptBox.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    e.preventDefault();
    void readPngInfo(file);
  });
  $('cancel').addEventListener('click', () => engine.cancel());
  $('new-seed').addEventListener('click', () => { input('seed').value = randomSeed(); persist(); });
  $('share').addEventListener('click', async () => {
    const link = shareLink(readForm(), location.href);
    try {
      await navigator.clipboard.writeText(link);
      $('message').textContent = 'Link copied.';
    } catch {
      $('message').textContent = link;
    }
  });
  $('download').addEventListener('click', () => { if (shown) downloadPng(shown.image, shown.parameters, shown.fileName); });
  // img2img's start image: a file, a drop on its panel, or the result shown.
  input('strength').disabled = true;
  const takeFile = (file: File | undefined) => {
    if (file) startImage.fromFile(file).catch((e) => setState('error', (e as Error).message));
  };
  input('pick-init').addEventListener('change', () => {
    takeFile(input('pick-init').files?.[0]);
    input('pick-init').value = '';
  });
  const panel = $('init-panel');
  panel.addEventListener('dragover', (e) => {
    e.preventDefault();
    panel.classList.add('drop');
  });
  panel.addEventListener('dragleave', () => panel.classList.remove('drop'));
  panel.addEventListener('drop', (e) => {
    e.preventDefault();
    panel.classList.remove('drop');
    takeFile(e.dataTransfer?.files[0]);
  });
  $('use-as-init').addEventListener('click', () => { if (shown) startImage.fromResult(shown.image); });
  // The inpainting mask's tools.
  $('mask-invert').addEventListener('click', () => mask.invert());
  $('mask-clear').addEventListener('click', () => mask.clear());
  $('mask-undo').addEventListener('click', () => mask.stepBack());
  input('pick-mask').addEventListener('change', () => {
    const file = input('pick-mask').files?.[0];
    if (file) mask.fromFile(file).catch((e) => setState('error', (e as Error).message));
    input('pick-mask').value = '';
  });
  $('mask-save').addEventListener('click', () => {
    const c = $<HTMLCanvasElement>('mask-canvas');
    const m = mask.at(c.width, c.height);
    if (m) downloadPng(m, '', 'mask.png');
    else setState('error', 'There is no mask to save: paint one over the start image first.');
  });
  // Add-ons: files from the disk or a URL, stored in this browser.
  for (const [id, kind] of [['add-lora', 'lora'], ['add-embedding', 'embedding'], ['add-taesd', 'taesd'],
    ['add-controlnet', 'controlnet'], ['add-controlnet-folder', 'controlnet']] as const) {
    const picker = input(id);
    picker.addEventListener('change', () => {
      const files = Array.from(picker.files ?? []).map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
      if (files.length) void adapters.add(kind, { kind: 'files', files });
      picker.value = '';
    });
  }
  // The ControlNet's control image: a file, a drop on its panel, or the result shown; its map drawn again
  // whenever what it depends on changes.
  const takeControl = (file: File | undefined) => {
    if (file) control.fromFile(file).then(showControl, (e) => setState('error', (e as Error).message));
  };
  input('pick-control').addEventListener('change', () => {
    takeControl(input('pick-control').files?.[0]);
    input('pick-control').value = '';
  });
  const controlPanel = $('controlnet-panel');
  controlPanel.addEventListener('dragover', (e) => e.preventDefault());
  controlPanel.addEventListener('drop', (e) => {
    e.preventDefault();
    takeControl(e.dataTransfer?.files[0]);
  });
  $('use-as-control').addEventListener('click', () => {
    if (!shown) return;
    control.fromResult(shown.image);
    showControl();
  });
  $('clear-control').addEventListener('click', showControl);
  for (const id of ['control-preprocessor', 'canny-low', 'canny-high', 'control-invert', 'control-resize', 'width',
    'height']) {
    $(id).addEventListener('change', () => { showControl(); void control.refresh(); });
  }
  for (const id of ['controlnet', 'control-scale']) $(id).addEventListener('change', showControl);
  $('adapter-url-add').addEventListener('click', () => {
    const url = input('adapter-url').value.trim();
    if (!url) return setState('error', 'Enter the URL of a .safetensors file (or of a TAESD folder).');
    const kind = $<HTMLSelectElement>('adapter-url-kind').value as 'lora' | 'embedding' | 'taesd' | 'controlnet';
    void adapters.add(kind, { kind: 'url', url: new URL(url, location.href).href });
  });
  for (const id of ['hires-scale', 'hires-strength']) input(id).addEventListener('input', showHires);
  input('literal-prompt').addEventListener('change', () => { for (const h of highlights) h.schedule(); });
  document.addEventListener('input', persist);
  document.addEventListener('change', persist);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void generate();
    } else if (e.key === 'Escape' && app.dataset.state === 'generating') {
      engine.cancel();
    }
  });
}

async function start() {
  void startOffline($('update-note'), $('update-text'), $<HTMLButtonElement>('update-reload'));
  const { settings, autostart, fromQuery } = loadSettings(new URLSearchParams(location.search));
  wire();
  fillForm(settings);
  if (fromQuery) persist();
  setState('idle', 'Starting the engine…');
  try {
    await showCapabilities();
  } catch (e) {
    setState('error', `The engine could not start: ${(e as Error).message}`);
    return;
  }
  await gallery.restore();
  gallery.onChange = () => { $('gallery-total').textContent = bytes(gallery.bytes); };
  gallery.onChange();
  const [cached] = await Promise.all([refreshCache(), showShipped(), adapters.refresh()]);
  await catalogue.show(caps);
  if (!cached.length) ($('catalogue-panel') as HTMLDetailsElement).open = true;
  setState('idle');
  // A model named in the link, or the last one used if it is stored here, loads by itself.
  const url = settings.model ? new URL(settings.model, location.href).href : '';
  if (url && (fromQuery || cached.some((m) => m.url === url && m.complete))) {
    if ((await loadModel({ kind: 'url', url })) && autostart) await generate();
  }
}

void start();
