// Node specifics: loading a websd wasm module from disk, giving it the host file system, and Dawn's WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');

// Where the wasm build puts its modules (preset wasm-release); WEBSD_WASM_DIR overrides (a carried copy).
export function wasmDir() {
  return process.env.WEBSD_WASM_DIR || path.join(repoRoot, 'build/wasm-release');
}

// Instantiates an emscripten module (`websd.js` and the like). The wasm bytes are handed over directly: the
// generated loader would otherwise try fetch() on a file path, which Node's fetch refuses.
export async function loadModule(jsPath, { print = console.log, printErr = console.error } = {}) {
  if (!fs.existsSync(jsPath)) {
    throw new Error(`${jsPath} not found: build the wasm modules first (cmake --preset wasm-release && ` +
      'cmake --build --preset wasm-release), or point WEBSD_WASM_DIR at a folder that has them');
  }
  const factory = createRequire(import.meta.url)(jsPath);
  const wasmBinary = fs.readFileSync(jsPath.replace(/\.js$/, '.wasm'));
  const module = await factory({ wasmBinary, print, printErr });
  // The host file system appears under /host (the engine opens model files through emscripten's FS).
  module.FS.mkdir('/host');
  module.FS.mount(module.FS.filesystems.NODEFS, { root: '/' }, '/host');
  return module;
}

// A host path as the wasm module sees it. Symbolic links are resolved here: emscripten's NODEFS would follow
// an absolute link target inside the module's own tree (outside /host). A path that does not exist yet (an
// output file) keeps its name under its resolved folder.
export function inModule(p) {
  const abs = path.resolve(p);
  try {
    return '/host' + fs.realpathSync(abs);
  } catch {
    try {
      return '/host' + path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return '/host' + abs;
    }
  }
}

// Dawn's `GPU` object from the npm `webgpu` package. `flags` are Dawn options such as
// 'enable-dawn-features=allow_unsafe_apis,disable_robustness' or 'backend=vulkan'.
export async function nodeGpu(flags = []) {
  let webgpu;
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new Error(`the npm package 'webgpu' is not installed (cd js && npm ci): ${e.message}`);
  }
  Object.assign(globalThis, webgpu.globals);
  return webgpu.create(flags);
}

// Where the Node runner keeps kernel tuning tables (Engine.tune): one JSON file per GPU adapter, in the same
// cache folder as the native tool's sgemm choice ($WEBSD_CACHE_DIR, else $XDG_CACHE_HOME/websd, else
// ~/.cache/websd).
export function tuningPath(adapter) {
  const dir = process.env.WEBSD_CACHE_DIR ||
    path.join(process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '.', '.cache'), 'websd');
  const slug = adapter.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 100) || 'gpu';
  return path.join(dir, 'webgpu-tuning', `${slug}.json`);
}

// Hands the engine the stored table of its GPU, if there is one. Returns what happened, for the caller to say:
// { path, applied: true } or { path, applied: false, reason }.
export function applyStoredTuning(engine) {
  const file = tuningPath(engine.gpuHost.description);
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { path: file, applied: false, reason: 'none stored yet' };
  }
  try {
    engine.setTuning(text);
    return { path: file, applied: true };
  } catch (e) {
    return { path: file, applied: false, reason: e.message };
  }
}

// Engine.tune, then the merged table written (atomically) where applyStoredTuning finds it.
export async function tuneAndStore(engine, arch, options) {
  const r = await engine.tune(arch, options);
  const file = tuningPath(engine.gpuHost.description);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, r.table);
  fs.renameSync(tmp, file);
  return { ...r, path: file };
}

// One line about a tuning pass (Engine.tune's result), for people.
export function tuningSummary(r) {
  return `${r.problems} problems, ${r.candidates} candidates timed in ${r.seconds.toFixed(1)} s; ` +
    `${r.improved} run faster than the built-in rules: ${r.rulesMs.toFixed(2)} -> ${r.tunedMs.toFixed(2)} ms of GPU ` +
    'time per run of the networks, each problem timed alone';
}
