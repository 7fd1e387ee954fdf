// Messages between the page (src/main.ts) and the engine Worker (src/worker/engine-worker.ts). Every request has
// an id; the worker answers it with exactly one 'result' or 'error', and may send 'event's tagged with it before.

export type Backend = 'webgpu' | 'cpu';

// Where a model comes from: a URL (of a pack's manifest.json or of a diffusers pipeline folder), or files the
// user picked (a diffusers folder, or a single .safetensors plus tokenizer files).
export type ModelSource =
  | { kind: 'url'; url: string }
  | { kind: 'files'; name: string; files: { path: string; file: File }[] };

export interface GenerateParams {
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidance: number;
  seed: string;        // decimal u64 (JSON has no bigint)
  scheduler: string;   // '' = the model's default
  schedulerConfig: Record<string, unknown>;  // scheduler config overrides ({ timestep_spacing: 'trailing' })
  width: number;
  height: number;
  count: number;
  previewEvery: number;
  initImage: Image | null;  // img2img: the start image at the size asked for; null = text to image
  strength: number;
  mask: Image | null;       // inpainting: white = repaint, at the size asked for; null = none (needs initImage)
  loras: { name: string; scale: number }[];  // stored LoRAs (by name) applied in this run
  loraMode: 'merged' | 'runtime';  // merged into the weights, or applied beside them
  literalPrompt: boolean;   // read the prompts as diffusers does (no weighting syntax, no chunks)
  previewDecoder: string;   // a stored TAESD (by name) that draws the previews; '' = the latent-to-RGB map
  vaeDecoder: string;       // a stored TAESD that draws the final image; '' = the model's VAE
  hiresScale: number;       // 1 = no hires fix
  hiresStrength: number;
  hiresSteps: number;       // 0 = steps
  hiresUpscaler: 'latent' | 'image';
  controlnet: ControlParams | null;  // a stored ControlNet guiding the composition; null = none
}

// How a ControlNet reads its control image (websd_controlnet in include/websd/websd.h).
export interface ControlOptions {
  image: Image;        // the picture as picked, any size: the engine fits it to the image's (resize)
  preprocessor: 'none' | 'canny';
  cannyLow: number;
  cannyHigh: number;
  invert: boolean;
  resize: 'crop' | 'stretch';
}

export interface ControlParams extends ControlOptions {
  name: string;        // the stored ControlNet
  scale: number;       // [0, 10]
  start: number;       // the fractions of the steps it guides, 0 <= start < end <= 1
  end: number;
}

// Add-ons stored beside the models: LoRAs and textual-inversion embeddings (one .safetensors each, named by
// the file), TAESD decoders (an AutoencoderTiny folder) and ControlNets (one .safetensors, a diffusers folder or a
// web pack).
export type AdapterKind = 'lora' | 'embedding' | 'taesd' | 'controlnet';

export type AdapterSource =
  | { kind: 'url'; url: string }
  | { kind: 'files'; files: { path: string; file: File }[] };

export interface Adapter {
  kind: AdapterKind;
  name: string;   // what prompts and the form refer to it by: <lora:NAME:…>, the embedding's word, the TAESD's name
  bytes: number;
}

export interface Capabilities {
  webgpu: boolean;
  adapter: string;           // description of the adapter, or why there is none
  limits: Record<string, number>;
  features: string[];
  cores: number;
  storage: { usage: number; quota: number; persisted: boolean } | null;
  tuning: TuningInfo | null;  // the kernel tuning stored for this adapter; null = the built-in rules
}

// A kernel tuning table of this GPU (Engine.tune), summed up: the problems measured, those where a variant beat
// the built-in rules, and the GPU ms of one run of the networks tuned under the rules and under the table (each
// problem timed alone, weighted by how often it occurs).
export interface TuningInfo {
  problems: number;
  improved: number;
  rulesMs: number;
  tunedMs: number;
  seconds: number;  // how long the tuning took (0 for a table read back from storage)
}

export interface ModelInfo {
  name: string;
  family: string;
  nativeWidth: number;
  nativeHeight: number;
  defaultScheduler: string;
  backend: Backend;
  weightBytes: number;
  fromCache: boolean;
  warmupMs: number;          // one 1-step 64x64 generation right after opening (uploads and compiles everything)
}

export interface CachedModel {
  key: string;
  name: string;
  url: string;
  bytes: number;
  complete: boolean;
}

export interface Image {
  width: number;
  height: number;
  rgb: Uint8Array;
}

// What a 'generate' request resolves to: the images, and each one's "parameters" PNG text (the engine's).
export interface GenerateResult {
  images: Image[];
  parameters: string[];
}

export type Request =
  | { id: number; type: 'capabilities' }
  | { id: number; type: 'load'; source: ModelSource; backend: Backend }
  | { id: number; type: 'generate'; params: GenerateParams }
  | { id: number; type: 'cache-list' }
  | { id: number; type: 'cache-remove'; key: string }
  | { id: number; type: 'adapter-list' }
  | { id: number; type: 'adapter-add'; kind: AdapterKind; source: AdapterSource }
  | { id: number; type: 'adapter-remove'; kind: AdapterKind; name: string }
  | { id: number; type: 'prompt-info'; prompt: string; literal: boolean }
  | { id: number; type: 'control-map'; control: ControlOptions; width: number; height: number }
  // Times the kernel variants on this GPU at the open model's problems (at width x height, guided or not), stores
  // the table and opens the model again with it; resolves to a TuningInfo. 'tuning-reset' forgets the table.
  | { id: number; type: 'tune'; width: number; height: number; guidance: number }
  | { id: number; type: 'tuning-reset' };

// What 'prompt-info' resolves to (the engine's reading of a prompt, for the highlight and the token counter):
// tokens per 75-token chunk, and spans [start, end, weight, isBreak] in string indices; null with no model.
export interface PromptInfo {
  tokens: number[];
  chunkSize: number;
  maxChunks: number;
  spans: [number, number, number, boolean][];
}

// 'cancel' needs no answer: the running generation ends with an error of status 'cancelled'.
export type Control = { type: 'cancel' };

export type LoadPhase = 'download' | 'verify' | 'upload';

export type Event =
  | { phase: LoadPhase; file: string; loaded: number; total: number }
  | { phase: 'step'; image: number; step: number; steps: number }
  | { phase: 'preview'; image: number; step: number; width: number; height: number; rgb: Uint8Array }
  | { phase: 'tune'; done: number; total: number };

export type Reply =
  | { id: number; type: 'event'; event: Event }
  | { id: number; type: 'result'; value: unknown }
  | { id: number; type: 'error'; message: string; status: string };
