// Add-ons stored beside the models in the origin private file system: LoRAs, textual-inversion embeddings, TAESD
// decoders and ControlNets, under websd-adapters/<kind>/. A LoRA or an embedding is one NAME.safetensors (its NAME
// is what <lora:NAME:…> tags and prompt words refer to); a TAESD is a folder NAME/ with config.json and
// diffusion_pytorch_model.safetensors (diffusers' AutoencoderTiny); a ControlNet is one NAME.safetensors (either
// naming) or a folder NAME/ as diffusers saves it (config.json and its safetensors) or as a web pack (manifest.json
// and its shards). The engine reads them in place: mount() hands
// back every stored file as a Blob for the module's file system, and the engine checks the files when it uses
// them (architecture, dimensions, format), naming what is wrong.
import type { Adapter, AdapterKind, AdapterSource } from '../protocol';

const ROOT = 'websd-adapters';
export const ADAPTER_KINDS: AdapterKind[] = ['lora', 'embedding', 'taesd', 'controlnet'];
const TAESD_FILES = ['config.json', 'diffusion_pytorch_model.safetensors'];

async function kindDir(kind: AdapterKind): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage?.getDirectory) {
    throw new Error('this browser offers no origin private file system (OPFS), so add-ons cannot be stored; use a ' +
      'current Chrome, Edge, Firefox or Safari, outside private browsing');
  }
  const root = await (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
  return root.getDirectoryHandle(kind, { create: true });
}

const entries = (dir: FileSystemDirectoryHandle) =>
  (dir as any).entries() as AsyncIterable<[string, FileSystemHandle]>;

// The name an add-on is stored (and referred to) under: the file's or folder's name without .safetensors.
function stem(name: string): string {
  return name.replace(/^.*\//, '').replace(/\.safetensors$/i, '');
}

function checkName(name: string) {
  if (!name || /[\/\\\s<>:]/.test(name) || name.startsWith('.')) {
    throw new Error(`'${name}' cannot name an add-on: use letters, digits, '-', '_' or '.' (no spaces, ':' or ` +
      "slashes), as it is typed in prompts");
  }
}

// Refuses what the engine would refuse anyway, before anything is stored.
function checkWeightsFile(name: string) {
  if (/\.(pt|pth|bin|ckpt|pkl)$/i.test(name)) {
    throw new Error(`${name} is a pickled file: unpickling can run arbitrary code, so websd reads only .safetensors ` +
      '(convert it with a safetensors converter first)');
  }
  if (!/\.safetensors$/i.test(name)) throw new Error(`${name} is not a .safetensors file`);
}

async function write(dir: FileSystemDirectoryHandle, name: string, data: Blob) {
  const access = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
  try {
    access.truncate(0);
    let at = 0;
    const reader = data.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      access.write(value, { at });
      at += value.byteLength;
    }
    access.flush();
  } finally {
    access.close();
  }
}

async function fetchBlob(url: string): Promise<Blob> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: cannot be fetched (${(e as Error).message}); offline, or the server does not allow ` +
      'cross-origin requests (CORS)?');
  }
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.blob();
}

// A ControlNet folder's files by URL: a pack (the URL of its manifest.json: the manifest, then every shard it
// lists) or a diffusers folder (config.json and diffusion_pytorch_model.safetensors).
async function controlNetFolder(url: string): Promise<{ name: string; files: [string, Blob][] }> {
  const files: [string, Blob][] = [];
  if (/manifest\.json$/i.test(new URL(url).pathname)) {
    const manifest = await fetchBlob(url);
    files.push(['manifest.json', manifest]);
    let shards: { file: string }[];
    try {
      shards = JSON.parse(await manifest.text()).shards;
      if (!Array.isArray(shards)) throw new Error('no shards');
    } catch {
      throw new Error(`${url} is not a web pack's manifest.json`);
    }
    for (const { file } of shards) {
      if (typeof file !== 'string' || !/^[\w.-]+$/.test(file)) throw new Error(`${url} names a shard '${file}' websd does not fetch`);
      files.push([file, await fetchBlob(new URL(file, url).href)]);
    }
    const parts = new URL(url).pathname.split('/').filter(Boolean);
    return { name: decodeURIComponent(parts[parts.length - 2] ?? 'controlnet'), files };
  }
  const base = url.endsWith('/') ? url : `${url}/`;
  for (const f of TAESD_FILES) files.push([f, await fetchBlob(new URL(f, base).href)]);
  return { name: decodeURIComponent(new URL(base).pathname.split('/').filter(Boolean).pop() ?? 'controlnet'), files };
}

// The files of an add-on from where the user pointed: (name in the store, file name, data). A ControlNet folder's
// files go in as picked (the engine reads what they are); its single file like a LoRA's.
async function sourceFiles(kind: AdapterKind, source: AdapterSource): Promise<{ name: string; files: [string, Blob][] }> {
  const single = source.kind === 'url' ? /\.safetensors$/i.test(new URL(source.url).pathname) : source.files.length === 1;
  if (kind === 'controlnet' && !single) {
    if (source.kind === 'url') return controlNetFolder(source.url);
    const top = source.files[0].path.includes('/') ? source.files[0].path.split('/')[0] : 'controlnet';
    const files: [string, Blob][] = source.files.map((f) => [f.path.replace(/^.*\//, ''), f.file as Blob]);
    for (const [f] of files) {
      if (/\.(pt|pth|bin|ckpt|pkl)$/i.test(f)) checkWeightsFile(f);
    }
    if (!files.some(([f]) => f === 'config.json' || f === 'manifest.json')) {
      throw new Error('a ControlNet folder holds config.json and its .safetensors (as diffusers saves one), or a web ' +
        'pack\'s manifest.json and shards; neither was picked');
    }
    return { name: top, files };
  }
  if (kind !== 'taesd') {
    const [path, data] = source.kind === 'url'
      ? [new URL(source.url).pathname, await fetchBlob(source.url)]
      : [source.files[0]?.path ?? '', source.files[0]?.file as Blob];
    if (source.kind === 'files' && source.files.length !== 1) {
      throw new Error(`pick one .safetensors file for a ${kind === 'lora' ? 'LoRA' : kind === 'embedding' ? 'embedding' : 'ControlNet'} ` +
        `(got ${source.files.length})`);
    }
    checkWeightsFile(decodeURIComponent(path));
    return { name: stem(decodeURIComponent(path)), files: [[`${stem(decodeURIComponent(path))}.safetensors`, data]] };
  }
  // A TAESD folder: by URL (the folder's address) or picked from the disk.
  if (source.kind === 'url') {
    const base = source.url.endsWith('/') ? source.url : `${source.url}/`;
    const name = decodeURIComponent(new URL(base).pathname.split('/').filter(Boolean).pop() ?? 'taesd');
    const files: [string, Blob][] = [];
    for (const f of TAESD_FILES) files.push([f, await fetchBlob(new URL(f, base).href)]);
    return { name, files };
  }
  const byName = new Map(source.files.map((f) => [f.path.replace(/^.*\//, ''), f.file as Blob]));
  const missing = TAESD_FILES.filter((f) => !byName.has(f));
  if (missing.length) {
    throw new Error(`a TAESD is a folder with ${TAESD_FILES.join(' and ')} (diffusers' AutoencoderTiny, such as ` +
      `madebyollin/taesd); ${missing.join(' and ')} missing from what was picked`);
  }
  const top = source.files[0].path.includes('/') ? source.files[0].path.split('/')[0] : 'taesd';
  return { name: top, files: TAESD_FILES.map((f) => [f, byName.get(f)!]) };
}

export async function addAdapter(kind: AdapterKind, source: AdapterSource): Promise<Adapter> {
  const { name, files } = await sourceFiles(kind, source);
  checkName(name);
  const dir = await kindDir(kind);
  const folder = kind === 'taesd' || (kind === 'controlnet' && !(files.length === 1 && /\.safetensors$/i.test(files[0][0])));
  // One ControlNet per name, either a file or a folder.
  if (kind === 'controlnet') await dir.removeEntry(`${name}.safetensors`).catch(() => {});
  if (folder || kind === 'controlnet') await dir.removeEntry(name, { recursive: true }).catch(() => {});
  if (folder) {
    const sub = await dir.getDirectoryHandle(name, { create: true });
    for (const [f, data] of files) await write(sub, f, data);
  } else {
    await write(dir, files[0][0], files[0][1]);
  }
  return { kind, name, bytes: files.reduce((n, [, b]) => n + b.size, 0) };
}

export async function removeAdapter(kind: AdapterKind, name: string): Promise<void> {
  const dir = await kindDir(kind);
  if (kind === 'controlnet') {  // a file or a folder
    await dir.removeEntry(`${name}.safetensors`).catch(() => dir.removeEntry(name, { recursive: true }));
    return;
  }
  await dir.removeEntry(kind === 'taesd' ? name : `${name}.safetensors`, { recursive: true });
}

// Every stored add-on, and its files as <kind>/<path> Blobs (File snapshots: nothing is copied).
export async function storedAdapters(): Promise<{ list: Adapter[]; blobs: { name: string; data: Blob }[] }> {
  const list: Adapter[] = [];
  const blobs: { name: string; data: Blob }[] = [];
  for (const kind of ADAPTER_KINDS) {
    for await (const [entry, handle] of entries(await kindDir(kind))) {
      if ((kind === 'taesd' || kind === 'controlnet') && handle.kind === 'directory') {
        let bytes = 0;
        for await (const [f, h] of entries(handle as FileSystemDirectoryHandle)) {
          if (h.kind !== 'file') continue;
          const file = await (h as FileSystemFileHandle).getFile();
          bytes += file.size;
          blobs.push({ name: `${kind}/${entry}/${f}`, data: file });
        }
        list.push({ kind, name: entry, bytes });
      } else if (kind !== 'taesd' && handle.kind === 'file' && entry.endsWith('.safetensors')) {
        const file = await (handle as FileSystemFileHandle).getFile();
        blobs.push({ name: `${kind}/${entry}`, data: file });
        list.push({ kind, name: stem(entry), bytes: file.size });
      }
    }
  }
  list.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  return { list, blobs };
}
