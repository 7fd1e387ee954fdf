// PNG files for RGB images (pngjs), with text chunks so that an image records how it was made, as
// `websd generate` does ("parameters" is the key other Stable Diffusion tools read).
import pngjs from 'pngjs';

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
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// tEXt holds Latin-1 only; anything else goes in an uncompressed international (UTF-8) iTXt chunk.
function textChunk(key, value) {
  if (/^[\x20-\x7e\n\xa0-\xff]*$/.test(value)) return chunk('tEXt', Buffer.from(`${key}\0${value}`, 'latin1'));
  return chunk('iTXt', Buffer.concat([Buffer.from(`${key}\0\0\0\0\0`, 'latin1'), Buffer.from(value, 'utf8')]));
}

// { width, height, rgb } -> PNG bytes with the given text chunks after the header.
export function encodePng({ width, height, rgb }, text = {}) {
  const png = new pngjs.PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  const encoded = pngjs.PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  const afterHeader = 8 + 25;  // signature, IHDR
  const chunks = Object.entries(text).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([encoded.subarray(0, afterHeader), ...chunks, encoded.subarray(afterHeader)]);
}

// PNG bytes -> { width, height, rgb } (alpha dropped), for tests.
export function decodePng(bytes) {
  const png = pngjs.PNG.sync.read(bytes);
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; ++i) rgb.set(png.data.subarray(4 * i, 4 * i + 3), 3 * i);
  return { width: png.width, height: png.height, rgb };
}
