// Kernel tuning tables (js/lib/engine.mjs Engine.tune) stored in the origin private file system, one per GPU
// adapter under websd-tuning/<adapter>.json, so that a GPU is tuned once and every later visit starts with its
// fastest kernels. A table is small (a few hundred problems, tens of KB).
const ROOT = 'websd-tuning';

function fileName(adapter: string): string {
  return `${adapter.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 100) || 'gpu'}.json`;
}

async function dir(): Promise<FileSystemDirectoryHandle | null> {
  if (!navigator.storage?.getDirectory) return null;  // nothing stored: the built-in rules apply
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

// The stored table of this adapter, or null.
export async function storedTuning(adapter: string): Promise<string | null> {
  const d = await dir();
  if (!d) return null;
  try {
    return await (await (await d.getFileHandle(fileName(adapter))).getFile()).text();
  } catch {
    return null;
  }
}

export async function storeTuning(adapter: string, table: string): Promise<void> {
  const d = await dir();
  if (!d) {
    throw new Error('this browser offers no origin private file system (OPFS), so the tuning cannot be kept; it ' +
      'applies until the page is closed');
  }
  const access = await (await d.getFileHandle(fileName(adapter), { create: true })).createSyncAccessHandle();
  try {
    const bytes = new TextEncoder().encode(table);
    access.truncate(0);
    access.write(bytes, { at: 0 });
    access.flush();
  } finally {
    access.close();
  }
}

export async function removeTuning(adapter: string): Promise<void> {
  const d = await dir();
  if (!d) return;
  try {
    await d.removeEntry(fileName(adapter));
  } catch { /* nothing stored */ }
}
