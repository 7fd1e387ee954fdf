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
