// The persistent model cache in the origin private file system (OPFS): websd-models/<key>/ holds meta.json and
// the model's files under their relative paths (flattened into one folder). Files are written in place through
// sync access handles (this runs in a dedicated Worker), so a download cut short keeps what arrived and resumes
// from there. meta.json records each file's expected size and SHA-256 and whether it arrived whole.
import type { CachedModel } from '../protocol';

export interface CachedFile {
  path: string;      // relative path inside the model (unet/config.json, shard-00000.safetensors)
  url: string;
  bytes: number;     // expected size; -1 when the server did not say
  sha256: string;    // expected hash (from a pack manifest), or the one computed on arrival; '' = not yet known
  done: boolean;     // arrived whole and matched sha256
}

export interface CacheMeta {
  key: string;
  name: string;
  url: string;
  files: CachedFile[];
  complete: boolean;  // every file done
}

const ROOT = 'websd-models';

const fileName = (path: string) => encodeURIComponent(path);

async function keyOf(url: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url)));
  return Array.from(digest.subarray(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function root(): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage?.getDirectory) {
    throw new Error('this browser offers no origin private file system (OPFS), so models cannot be cached; ' +
      'use a current Chrome, Edge, Firefox or Safari, outside private browsing');
  }
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

export class CacheEntry {
  constructor(readonly dir: FileSystemDirectoryHandle, public meta: CacheMeta) {}

  async saveMeta(): Promise<void> {
    await writeWhole(this.dir, 'meta.json', new TextEncoder().encode(JSON.stringify(this.meta)));
  }

  // The stored bytes of `path` so far (a File snapshot), or null if nothing is stored.
  async stored(path: string): Promise<File | null> {
    try {
      return await (await this.dir.getFileHandle(fileName(path))).getFile();
    } catch {
      return null;
    }
  }

  // A handle that writes `path` in place; truncated to `keep` bytes first (0 = start over).
  async open(path: string, keep: number): Promise<FileSystemSyncAccessHandle> {
    const handle = await this.dir.getFileHandle(fileName(path), { create: true });
    const access = await handle.createSyncAccessHandle();
    access.truncate(keep);
    return access;
  }

  async drop(path: string): Promise<void> {
    await this.dir.removeEntry(fileName(path)).catch(() => {});
  }
}

async function writeWhole(dir: FileSystemDirectoryHandle, name: string, bytes: Uint8Array): Promise<void> {
  const access = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
  try {
    access.truncate(0);
    access.write(bytes, { at: 0 });
    access.flush();
  } finally {
    access.close();
  }
}

async function readMeta(dir: FileSystemDirectoryHandle): Promise<CacheMeta | null> {
  try {
    const file = await (await dir.getFileHandle('meta.json')).getFile();
    return JSON.parse(await file.text()) as CacheMeta;
  } catch {
    return null;
  }
}

// The cache entry of a model URL, created empty if there is none.
export async function cacheEntry(url: string, name: string): Promise<CacheEntry> {
  const key = await keyOf(url);
  const dir = await (await root()).getDirectoryHandle(key, { create: true });
  const meta = (await readMeta(dir)) ?? { key, name, url, files: [], complete: false };
  return new CacheEntry(dir, meta);
}

export async function listCached(): Promise<CachedModel[]> {
  const out: CachedModel[] = [];
  const r = await root();
  for await (const [key, handle] of (r as any).entries() as AsyncIterable<[string, FileSystemHandle]>) {
    if (handle.kind !== 'directory') continue;
    const dir = handle as FileSystemDirectoryHandle;
    const meta = await readMeta(dir);
    let bytes = 0;
    for await (const [, f] of (dir as any).entries() as AsyncIterable<[string, FileSystemHandle]>) {
      if (f.kind === 'file') bytes += (await (f as FileSystemFileHandle).getFile()).size;
    }
    out.push({ key, name: meta?.name ?? key, url: meta?.url ?? '', bytes, complete: meta?.complete ?? false });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function removeCached(key: string): Promise<void> {
  await (await root()).removeEntry(key, { recursive: true });
}
