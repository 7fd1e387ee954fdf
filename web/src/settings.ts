import { SAMPLER_NAMES } from '../../js/lib/parameters.mjs';

// The generation settings: read from and written to the form, kept in localStorage so they survive a reload,
// and overridable by URL query parameters (shareable links use the CLI's names: model, prompt, negative_prompt,
// seed, steps, guidance, scheduler, scheduler_options, width, height, strength, literal_prompt, hires_scale,
// hires_strength, hires_steps, hires_upscaler, controlnet, control_scale, control_start, control_end,
// control_preprocessor, canny_low, canny_high, control_invert, control_resize; autostart=1 generates once the model
// is loaded). A link carries no pictures: the start and control images are opened again by whoever follows it.

export interface Settings {
  model: string;
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidance: number;
  seed: string;
  seedLocked: boolean;
  scheduler: string;
  schedulerOptions: string;  // "KEY=VALUE ..." scheduler config overrides, as the CLI's --scheduler-option
  width: number;
  height: number;
  count: number;
  strength: number;  // img2img: the share of the schedule run over the start image
  backend: 'auto' | 'webgpu' | 'cpu';
  literalPrompt: boolean;
  loras: { name: string; scale: number }[];  // stored LoRAs in use
  loraMode: 'merged' | 'runtime';  // merged into the weights, or applied beside them (no second copy)
  previewDecoder: string;  // stored TAESD names; '' = none
  vaeDecoder: string;
  hiresScale: number;      // 1 = off
  hiresStrength: number;
  hiresSteps: number;
  hiresUpscaler: 'latent' | 'image';
  controlnet: string;      // a stored ControlNet's name; '' = none
  controlScale: number;
  controlStart: number;
  controlEnd: number;
  controlPreprocessor: 'none' | 'canny';
  cannyLow: number;
  cannyHigh: number;
  controlInvert: boolean;
  controlResize: 'crop' | 'stretch';
}

// The schedulers websd has: js/lib/parameters.mjs names them for the whole JS side (a test checks the engine's list).
export const SCHEDULERS = Object.keys(SAMPLER_NAMES);

export const DEFAULTS: Settings = {
  model: '', prompt: 'a lighthouse on a cliff at dusk, oil painting', negativePrompt: 'blurry, low quality',
  steps: 20, guidance: 7.5, seed: '42', seedLocked: false, scheduler: '', schedulerOptions: '', width: 0, height: 0, count: 1,
  strength: 0.8, backend: 'auto', literalPrompt: false, loras: [], loraMode: 'merged', previewDecoder: '', vaeDecoder: '', hiresScale: 1,
  hiresStrength: 0.7, hiresSteps: 0, hiresUpscaler: 'latent', controlnet: '', controlScale: 1, controlStart: 0,
  controlEnd: 1, controlPreprocessor: 'none', cannyLow: 100, cannyHigh: 200, controlInvert: false, controlResize: 'crop',
};

const STORAGE_KEY = 'websd.settings.v1';

// URL parameter -> settings field.
const QUERY: Record<string, keyof Settings> = {
  model: 'model', prompt: 'prompt', negative_prompt: 'negativePrompt', seed: 'seed', steps: 'steps',
  guidance: 'guidance', scheduler: 'scheduler', width: 'width', height: 'height', count: 'count', backend: 'backend',
  strength: 'strength', scheduler_options: 'schedulerOptions', literal_prompt: 'literalPrompt',
  hires_scale: 'hiresScale', hires_strength: 'hiresStrength', hires_steps: 'hiresSteps', hires_upscaler: 'hiresUpscaler',
  controlnet: 'controlnet', control_scale: 'controlScale', control_start: 'controlStart', control_end: 'controlEnd',
  control_preprocessor: 'controlPreprocessor', canny_low: 'cannyLow', canny_high: 'cannyHigh',
  control_invert: 'controlInvert', control_resize: 'controlResize',
};

const U64_MAX = (1n << 64n) - 1n;

// A problem with one value, for the form to show; null when all is well.
export function validate(s: Settings): string | null {
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 1000) return 'steps must be a whole number from 1 to 1000';
  if (!(s.guidance >= 0 && s.guidance <= 100)) return 'guidance must be between 0 and 100';
  if (!/^\d+$/.test(s.seed) || BigInt(s.seed) > U64_MAX) return 'the seed must be a whole number from 0 to 2^64-1';
  for (const [name, v] of [['width', s.width], ['height', s.height]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 4096 || v % 8) return `${name} must be a multiple of 8 up to 4096 (0 = the model's own)`;
  }
  if (!Number.isInteger(s.count) || s.count < 1 || s.count > 16) return 'number of images must be from 1 to 16';
  if (s.scheduler && !SCHEDULERS.includes(s.scheduler)) return `unknown scheduler '${s.scheduler}'`;
  if (!(s.strength > 0 && s.strength <= 1)) return 'strength must be above 0 and at most 1';
  if (!(s.hiresScale >= 1 && s.hiresScale <= 4)) return 'the hires fix upscales by 1 (off) to 4';
  if (!(s.hiresStrength >= 0 && s.hiresStrength <= 1)) return 'the hires fix\'s denoising strength is from 0 to 1';
  if (!Number.isInteger(s.hiresSteps) || s.hiresSteps < 0 || s.hiresSteps > 1000) return 'hires steps must be a whole number from 0 (= steps) to 1000';
  if (s.hiresUpscaler !== 'latent' && s.hiresUpscaler !== 'image') return `unknown hires upscaler '${s.hiresUpscaler}'`;
  if (s.loraMode !== 'merged' && s.loraMode !== 'runtime') return `unknown LoRA mode '${s.loraMode}'`;
  const badScale = s.loras.find((l) => !(Math.abs(l.scale) <= 4));
  if (badScale) return `the LoRA ${badScale.name}'s scale must be from -4 to 4`;
  if (!(s.controlScale >= 0 && s.controlScale <= 10)) return 'the ControlNet\'s scale must be from 0 to 10';
  if (!(s.controlStart >= 0 && s.controlStart < s.controlEnd && s.controlEnd <= 1)) {
    return 'the ControlNet guides from a fraction of the steps to a later one: 0 ≤ from < to ≤ 1';
  }
  if (!(s.cannyLow >= 0 && s.cannyLow <= 10000 && s.cannyHigh >= 0 && s.cannyHigh <= 10000)) {
    return 'Canny thresholds are from 0 to 10000 (the usual: 100 and 200)';
  }
  if (s.controlPreprocessor !== 'none' && s.controlPreprocessor !== 'canny') return `unknown preprocessor '${s.controlPreprocessor}'`;
  if (s.controlResize !== 'crop' && s.controlResize !== 'stretch') return `unknown fit '${s.controlResize}'`;
  const bad = s.schedulerOptions.split(/\s+/).find((kv) => kv && !/^[A-Za-z_][A-Za-z0-9_]*=\S+$/.test(kv));
  if (bad) return `scheduler options are KEY=VALUE words (e.g. timestep_spacing=trailing); '${bad}' is not one`;
  return null;
}

function coerce(key: keyof Settings, value: string): Settings[keyof Settings] {
  const d = DEFAULTS[key];
  if (typeof d === 'number') return Number(value);
  if (typeof d === 'boolean') return value === 'true' || value === '1';
  return value;
}

export function loadSettings(query: URLSearchParams): { settings: Settings; autostart: boolean; fromQuery: boolean } {
  let saved: Partial<Settings> = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || '{}');
  } catch { /* a damaged entry: start from the defaults */ }
  const s: Settings = { ...DEFAULTS, ...saved };
  if (!Array.isArray(s.loras)) s.loras = [];
  let fromQuery = false;
  for (const [param, key] of Object.entries(QUERY)) {
    const v = query.get(param);
    if (v === null) continue;
    (s as any)[key] = coerce(key, v);
    fromQuery = true;
    if (key === 'seed') s.seedLocked = true;  // a shared seed is meant to reproduce an image
  }
  return { settings: s, autostart: query.get('autostart') === '1', fromQuery };
}

export function saveSettings(s: Settings) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  } catch { /* storage full or disabled: settings just won't survive a reload */ }
}

// A link that reproduces these settings (and the model) on any copy of the app.
export function shareLink(s: Settings, base: string): string {
  const q = new URLSearchParams();
  if (s.model) q.set('model', s.model);
  q.set('prompt', s.prompt);
  if (s.negativePrompt) q.set('negative_prompt', s.negativePrompt);
  q.set('seed', s.seed);
  q.set('steps', String(s.steps));
  q.set('guidance', String(s.guidance));
  if (s.scheduler) q.set('scheduler', s.scheduler);
  if (s.schedulerOptions.trim()) q.set('scheduler_options', s.schedulerOptions.trim());
  if (s.width) q.set('width', String(s.width));
  if (s.height) q.set('height', String(s.height));
  if (s.literalPrompt) q.set('literal_prompt', '1');
  if (s.hiresScale !== 1) {
    q.set('hires_scale', String(s.hiresScale));
    q.set('hires_strength', String(s.hiresStrength));
    if (s.hiresSteps) q.set('hires_steps', String(s.hiresSteps));
    q.set('hires_upscaler', s.hiresUpscaler);
  }
  if (s.controlnet) {
    q.set('controlnet', s.controlnet);
    q.set('control_scale', String(s.controlScale));
    if (s.controlStart !== 0) q.set('control_start', String(s.controlStart));
    if (s.controlEnd !== 1) q.set('control_end', String(s.controlEnd));
    q.set('control_preprocessor', s.controlPreprocessor);
    if (s.controlPreprocessor === 'canny') {
      q.set('canny_low', String(s.cannyLow));
      q.set('canny_high', String(s.cannyHigh));
    }
    if (s.controlInvert) q.set('control_invert', '1');
    if (s.controlResize !== 'crop') q.set('control_resize', s.controlResize);
  }
  return `${base.split('?')[0]}?${q}`;
}

// "timestep_spacing=trailing use_karras_sigmas=true" -> { timestep_spacing: 'trailing', use_karras_sigmas: true }:
// values read as JSON where they parse, as strings otherwise (the CLI's --scheduler-option rule).
export function schedulerConfig(options: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of options.split(/\s+/).filter(Boolean)) {
    const eq = kv.indexOf('=');
    const value = kv.slice(eq + 1);
    try {
      out[kv.slice(0, eq)] = JSON.parse(value);
    } catch {
      out[kv.slice(0, eq)] = value;
    }
  }
  return out;
}

export function randomSeed(): string {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(words[0] & 0x1fffff) << 32n) | BigInt(words[1])).toString();  // < 2^53: easy to type and share
}
