// Writes .safetensors files (https://github.com/huggingface/safetensors: an 8-byte little-endian header length, a
// JSON header of dtype, shape and byte offsets per tensor, then the tensors' bytes), e.g. LoRAs that benchmarks
// synthesize. js/test/safetensors.mjs reads them.

const DTYPES = { F16: Uint16Array, F32: Float32Array, I32: Int32Array, U8: Uint8Array };

// `tensors`: [{ name, dtype: 'F16' | 'F32' | 'I32' | 'U8', shape: [dims], data }], where data is the typed array
// of that dtype (F16: a Uint16Array of half-float bits) holding the product of shape elements. `metadata`: string
// values for the header's __metadata__. Returns the file's bytes.
export function encodeSafetensors(tensors, metadata = {}) {
  const header = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const Type = DTYPES[t.dtype];
    if (!Type) throw new Error(`safetensors: '${t.name}' has dtype ${t.dtype}, which this writer does not handle`);
    if (!(t.data instanceof Type)) throw new Error(`safetensors: '${t.name}' is ${t.dtype} but its data is not a ${Type.name}`);
    const count = t.shape.reduce((n, d) => n * d, 1);
    if (t.data.length !== count) {
      throw new Error(`safetensors: '${t.name}' has shape [${t.shape}] (${count} elements) but ${t.data.length} values`);
    }
    if (t.name in header) throw new Error(`safetensors: '${t.name}' is written twice`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  // The header is padded with spaces to a multiple of 8 bytes, so that every tensor starts 8-byte aligned.
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - json.length % 8) % 8, ' ')]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);

// The IEEE half-float bits nearest to x (ties to even; overflow to infinity, subnormals kept).
export function f16Bits(x) {
  f32[0] = x;
  const b = u32[0], sign = (b >>> 16) & 0x8000, exp = (b >>> 23) & 0xff, mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);  // inf, nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {  // subnormal half (or zero)
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1))) ++h;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) ++h;  // may carry into the exponent: still correct
  return sign | h;
}
