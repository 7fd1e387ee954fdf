// PNG files for RGB images (fast-png, which runs in Node and in browsers alike), with text chunks so that an image
// records how it was made, as `websd generate` does ("parameters" is the key other Stable Diffusion tools read).
import { decode, encode } from 'fast-png';
import { unzlibSync } from 'fflate';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; ++i) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const latin1 = (s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

// tEXt holds Latin-1 only; anything else (most non-English prompts) goes in an uncompressed international (UTF-8)
// iTXt chunk, which fast-png does not write.
function textChunk(key, value) {
  if (/^[\x20-\x7e\n\xa0-\xff]*$/.test(value)) return chunk('tEXt', latin1(`${key}\0${value}`));
  const utf8 = new TextEncoder().encode(value);
  const head = latin1(`${key}\0\0\0\0\0`);  // keyword, no compression (flag, method), no language, no translation
  const data = new Uint8Array(head.length + utf8.length);
  data.set(head);
  data.set(utf8, head.length);
  return chunk('iTXt', data);
}

// { width, height, rgb } -> PNG bytes (Uint8Array) with the given text chunks right after the header.
export function encodePng({ width, height, rgb }, text = {}) {
  const encoded = encode({ width, height, data: rgb, channels: 3, depth: 8 });
  const afterHeader = 8 + 25;  // signature, IHDR
  const parts = [encoded.subarray(0, afterHeader), ...Object.entries(text).map(([k, v]) => textChunk(k, v)),
    encoded.subarray(afterHeader)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// PNG bytes -> { width, height, rgb } (8-bit RGB or RGBA; alpha dropped), for tests.
export function decodePng(bytes) {
  const png = decode(bytes);
  if (png.depth !== 8 || png.channels < 3) throw new Error(`decodePng: ${png.channels} channels of ${png.depth} bits`);
  const n = png.width * png.height, c = png.channels;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; ++i) rgb.set(png.data.subarray(c * i, c * i + 3), 3 * i);
  return { width: png.width, height: png.height, rgb };
}

// The text chunks of PNG bytes (tEXt, zTXt and iTXt, compressed or not) as { key: value }: how other tools and
// websd record the parameters an image was made with. Throws when the bytes are not a PNG; a damaged chunk ends
// the walk with what was read before it.
/** @param {Uint8Array} bytes @returns {Record<string, string>} */
export function readPngText(bytes) {
  const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1Text = (b) => String.fromCharCode(...b);
  const utf8 = new TextDecoder();
  /** @type {Record<string, string>} */
  const text = {};
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1Text(bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) break;
    const data = bytes.subarray(at + 8, at + 8 + length);
    at += 12 + length;
    if (type === 'IEND') break;
    const nul = data.indexOf(0);
    if (nul < 1 || !['tEXt', 'zTXt', 'iTXt'].includes(type)) continue;
    const key = latin1Text(data.subarray(0, nul));
    try {
      if (type === 'tEXt') {
        text[key] = new TextDecoder('latin1').decode(data.subarray(nul + 1));
      } else if (type === 'zTXt') {
        text[key] = new TextDecoder('latin1').decode(unzlibSync(data.subarray(nul + 2)));
      } else {
        const compressed = data[nul + 1] === 1;
        const language = data.indexOf(0, nul + 3);
        const translated = data.indexOf(0, language + 1);
        if (language < 0 || translated < 0) continue;
        const body = data.subarray(translated + 1);
        text[key] = utf8.decode(compressed ? unzlibSync(body) : body);
      }
    } catch { /* a chunk that does not inflate: skipped */ }
  }
  return text;
}
