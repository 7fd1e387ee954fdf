// SHA-256 of a Blob, for checking downloaded and cached files against their pack's manifest. WebCrypto is fast but
// hashes only whole buffers, so large files stream through @noble/hashes instead of being read into memory at once.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

const WHOLE_LIMIT = 256 * 2 ** 20;

export async function sha256Hex(blob: Blob, onProgress?: (done: number) => void): Promise<string> {
  if (blob.size <= WHOLE_LIMIT) {
    const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
    onProgress?.(blob.size);
    return bytesToHex(new Uint8Array(digest));
  }
  const h = sha256.create();
  const reader = blob.stream().getReader();
  let done = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    h.update(r.value);
    done += r.value.length;
    onProgress?.(done);
  }
  return bytesToHex(h.digest());
}
