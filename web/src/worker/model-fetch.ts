// Brings a model from a URL into the cache and hands back its files as Blobs for the engine's file system.
// Two layouts are understood: a websd pack (manifest.json: shards and tokenizer files, each with size and SHA-256)
// and a diffusers pipeline folder as model repositories publish it (model_index.json, then each component's
// config and .safetensors weights, fp16 variants preferred). A cached model whose files all check out needs no
// network at all; a file that fails its check is fetched again; a file cut short resumes with a Range request.
import { cacheEntry, type CacheEntry, type CachedFile } from './model-cache';
import { sha256Hex } from './sha256';
import type { Event } from '../protocol';

export interface FetchedModel {
  name: string;
  blobs: { name: string; data: Blob }[];
  root: string;          // what the engine opens, relative to the mount: '' (a folder or pack)
  weightBytes: number;
  fromCache: boolean;    // nothing was downloaded
}

type Emit = (event: Event) => void;

class HttpError extends Error {
  constructor(readonly status: number, url: string) {
    super(`${url}: HTTP ${status}`);
  }
}

async function get(url: string, init?: RequestInit): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new Error(`${url}: cannot be fetched (${(e as Error).message}); offline, or the server does not allow ` +
      'cross-origin requests (CORS)?');
  }
  if (!r.ok) throw new HttpError(r.status, url);
  return r;
}

async function exists(url: string): Promise<number | null> {
  try {
    const r = await fetch(url, { method: 'HEAD' });
    if (!r.ok) return null;
    return Number(r.headers.get('content-length') ?? -1);
  } catch {
    return null;
  }
}

const dirOf = (url: string) => url.replace(/[^/]*$/, '');
const join = (base: string, rel: string) => new URL(rel, base.endsWith('/') ? base : base + '/').href;

// A short name for a model URL: the folder it is in (for model repositories, owner/name before /resolve/).
export function modelName(url: string): string {
  const parts = new URL(url).pathname.split('/').filter((p) => p && p !== 'manifest.json' && p !== 'model_index.json')
    .map(decodeURIComponent);
  const resolve = parts.indexOf('resolve');
  if (resolve >= 2) return parts.slice(resolve - 2, resolve).join('/');
  return parts[parts.length - 1] || new URL(url).host;
}

// The files of a pack, from its manifest.
async function listPack(manifestUrl: string): Promise<CachedFile[]> {
  const manifest = await (await get(manifestUrl)).json();
  if (manifest.format !== 'websd-pack') throw new Error(`${manifestUrl}: not a websd pack manifest (format is ${manifest.format})`);
  const base = dirOf(manifestUrl);
  const files: CachedFile[] = [{ path: 'manifest.json', url: manifestUrl, bytes: -1, sha256: '', done: false }];
  for (const s of manifest.shards ?? []) {
    files.push({ path: s.file, url: join(base, s.file), bytes: s.bytes, sha256: s.sha256, done: false });
  }
  for (const [component, c] of Object.entries<any>(manifest.components ?? {})) {
    for (const [name, f] of Object.entries<any>(c.files ?? {})) {
      const path = `${component}/${name}`;
      files.push({ path, url: join(base, path), bytes: f.bytes, sha256: f.sha256, done: false });
    }
  }
  return files;
}

const SKIPPED_COMPONENTS = new Set(['safety_checker', 'feature_extractor', 'image_encoder']);
const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json'];
// In the engine's order (src/io/pipeline_folder.cpp, find_weight_files): the fp16 variant first.
const WEIGHT_NAMES = ['diffusion_pytorch_model.fp16', 'model.fp16', 'diffusion_pytorch_model', 'model'];

// The files of a diffusers folder, found by asking for the names diffusers saves (static hosts list nothing).
async function listDiffusers(base: string): Promise<CachedFile[]> {
  const indexUrl = join(base, 'model_index.json');
  const index = await (await get(indexUrl)).json();
  const file = (path: string, bytes = -1): CachedFile => ({ path, url: join(base, path), bytes, sha256: '', done: false });
  const files: CachedFile[] = [file('model_index.json')];
  for (const [component, spec] of Object.entries<any>(index)) {
    if (component.startsWith('_') || !Array.isArray(spec) || spec[0] === null || SKIPPED_COMPONENTS.has(component)) continue;
    if (component.startsWith('scheduler')) {
      files.push(file(`${component}/scheduler_config.json`));
    } else if (component.startsWith('tokenizer')) {
      const found = await Promise.all(TOKENIZER_FILES.map((f) => exists(join(base, `${component}/${f}`))));
      TOKENIZER_FILES.forEach((f, i) => { if (found[i] !== null) files.push(file(`${component}/${f}`, found[i]!)); });
      const has = (f: string) => found[TOKENIZER_FILES.indexOf(f)] !== null;
      if (!(has('tokenizer.json') || (has('vocab.json') && has('merges.txt')))) {
        throw new Error(`${join(base, component)}/: no tokenizer files (vocab.json + merges.txt, or tokenizer.json)`);
      }
    } else {
      files.push(file(`${component}/config.json`));
      files.push(...await componentWeights(base, component));
    }
  }
  return files;
}

async function componentWeights(base: string, component: string): Promise<CachedFile[]> {
  for (const name of WEIGHT_NAMES) {
    const indexPath = `${component}/${name}.safetensors.index.json`;
    if ((await exists(join(base, indexPath))) !== null) {
      const index = await (await get(join(base, indexPath))).json();
      const shards = [...new Set(Object.values<string>(index.weight_map ?? {}))];
      const sizes = await Promise.all(shards.map((s) => exists(join(base, `${component}/${s}`))));
      return [{ path: indexPath, url: join(base, indexPath), bytes: -1, sha256: '', done: false },
        ...shards.map((s, i) => ({ path: `${component}/${s}`, url: join(base, `${component}/${s}`),
          bytes: sizes[i] ?? -1, sha256: '', done: false }))];
    }
    const path = `${component}/${name}.safetensors`;
    const bytes = await exists(join(base, path));
    if (bytes !== null) return [{ path, url: join(base, path), bytes, sha256: '', done: false }];
  }
  throw new Error(`${join(base, component)}/: no .safetensors weights (websd never loads pickled .bin/.ckpt ` +
    'files, which can run arbitrary code; convert them with diffusers: save_pretrained(dir, safe_serialization=True))');
}

async function listRemote(url: string): Promise<CachedFile[]> {
  if (url.endsWith('/manifest.json')) return listPack(url);
  if (url.endsWith('/model_index.json')) return listDiffusers(dirOf(url));
  if ((await exists(join(url, 'manifest.json'))) !== null) return listPack(join(url, 'manifest.json'));
  if ((await exists(join(url, 'model_index.json'))) !== null) return listDiffusers(url);
  throw new Error(`${url}: neither a websd pack (manifest.json) nor a diffusers folder (model_index.json) is there`);
}

async function checkQuota(files: CachedFile[], entry: CacheEntry): Promise<void> {
  let needed = 0;
  for (const f of files) {
    if (f.done || f.bytes < 0) continue;
    needed += f.bytes - ((await entry.stored(f.path))?.size ?? 0);
  }
  const estimate = await navigator.storage.estimate?.();
  if (!estimate?.quota) return;
  const free = estimate.quota - (estimate.usage ?? 0);
  if (needed > free) {
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    throw new Error(`this model needs ${mb(needed)} more of browser storage but only ${mb(free)} is free ` +
      `(quota ${mb(estimate.quota)}): remove cached models below, free disk space, or use a q8 pack (about half ` +
      'the size of f16)');
  }
}

// The error of a download stopped by full storage after `at` bytes of `f`.
function storageFull(f: CachedFile, at: number): Error {
  return new Error(`this browser's storage for websd is full after ${(at / 2 ** 20).toFixed(1)} MiB of ${f.path}: ` +
    'remove cached models below or free disk space, then press Load again: what arrived is kept and the download ' +
    'resumes');
}

// Downloads one file into the cache (resuming what is stored), reporting progress. Returns its SHA-256.
async function download(entry: CacheEntry, f: CachedFile, emit: Emit, progress: { loaded: number; total: number }) {
  const have = (await entry.stored(f.path))?.size ?? 0;
  const resume = have > 0 && f.bytes > 0 && have < f.bytes;
  const response = await get(f.url, resume ? { headers: { Range: `bytes=${have}-` } } : undefined);
  let at = resume && response.status === 206 ? have : 0;
  progress.loaded += at;
  const access = await entry.open(f.path, at);
  try {
    const reader = response.body!.getReader();
    let sinceFlush = 0;
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        access.flush();
        throw new Error(`the download of ${f.url} broke off after ${at} of ${f.bytes >= 0 ? f.bytes : '?'} bytes ` +
          `(${(e as Error).message}); what arrived is kept: press Load again to resume`);
      }
      if (r.done) break;
      // A full storage shows as a short write (Chromium) or a QuotaExceededError (the spec): either way what was
      // written is kept, and the download stops with what to do.
      let written = 0;
      try {
        written = access.write(r.value, { at });
      } catch (e) {
        if ((e as DOMException).name !== 'QuotaExceededError') throw e;
      }
      if (written < r.value.length) {
        at += written;
        access.flush();
        throw storageFull(f, at);
      }
      at += r.value.length;
      progress.loaded += r.value.length;
      sinceFlush += r.value.length;
      if (sinceFlush > 16 * 2 ** 20) {  // keep what arrived if the tab closes
        access.flush();
        sinceFlush = 0;
      }
      emit({ phase: 'download', file: f.path, loaded: progress.loaded, total: progress.total });
    }
    access.flush();
    // Chromium may also take writes past the quota and keep fewer bytes: the file's size says.
    if (access.getSize() < at) throw storageFull(f, access.getSize());
  } finally {
    access.close();
  }
  if (f.bytes >= 0 && at !== f.bytes) throw new Error(`${f.url}: got ${at} bytes, expected ${f.bytes}`);
  f.bytes = at;
}

// Checks a stored file against its expected hash (or learns the hash, for files that came without one).
async function verify(entry: CacheEntry, f: CachedFile, emit: Emit, progress: { loaded: number; total: number }) {
  const file = await entry.stored(f.path);
  if (!file || (f.bytes >= 0 && file.size !== f.bytes)) return false;
  const start = progress.loaded;
  const hash = await sha256Hex(file, (done) =>
    emit({ phase: 'verify', file: f.path, loaded: start + done, total: progress.total }));
  progress.loaded = start + file.size;
  if (!f.sha256) f.sha256 = hash;
  return hash === f.sha256;
}

export async function fetchModel(url: string, emit: Emit): Promise<FetchedModel> {
  const name = modelName(url);
  const entry = await cacheEntry(url, name);
  let files = entry.meta.files;
  let fromCache = entry.meta.complete;
  if (fromCache) {
    // Every file is checked on every load: a damaged cache is found here, not as a garbled image later.
    const progress = { loaded: 0, total: files.reduce((n, f) => n + f.bytes, 0) };
    for (const f of files) {
      if (!(await verify(entry, f, emit, progress))) {
        console.warn(`websd: cached ${f.path} of ${name} is damaged or missing; fetching it again`);
        f.done = false;
        fromCache = false;
        await entry.drop(f.path);
      }
    }
  } else {
    const listed = await listRemote(url);
    // Keep what an interrupted earlier download stored (matching path and size) so that it resumes.
    const old = new Map(files.map((f) => [f.path, f]));
    files = listed.map((f) => {
      const o = old.get(f.path);
      return o && o.bytes === f.bytes && (!f.sha256 || o.sha256 === f.sha256) ? o : f;
    });
    entry.meta = { ...entry.meta, name, files, complete: false };
    await entry.saveMeta();
  }
  if (!fromCache) {
    await checkQuota(files, entry);
    const pending = files.filter((f) => !f.done);
    const progress = { loaded: 0, total: pending.reduce((n, f) => n + Math.max(f.bytes, 0), 0) };
    for (const f of pending) {
      for (let attempt = 0; ; ++attempt) {
        const stored = (await entry.stored(f.path))?.size ?? 0;
        if (!(stored === f.bytes && f.bytes >= 0)) await download(entry, f, emit, progress);
        const vp = { loaded: 0, total: f.bytes };
        if (await verify(entry, f, emit, vp)) break;
        await entry.drop(f.path);
        if (attempt === 1) throw new Error(`${f.url}: SHA-256 does not match the manifest even after fetching it again`);
      }
      f.done = true;
      await entry.saveMeta();
    }
    entry.meta.complete = true;
    await entry.saveMeta();
  }
  const blobs: { name: string; data: Blob }[] = [];
  let weightBytes = 0;
  for (const f of files) {
    const data = await entry.stored(f.path);
    if (!data) throw new Error(`websd cache: ${f.path} of ${name} vanished while loading`);
    blobs.push({ name: f.path, data });
    if (f.path.endsWith('.safetensors')) weightBytes += data.size;
  }
  return { name, blobs, root: '', weightBytes, fromCache };
}
