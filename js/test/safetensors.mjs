// Reads tensors from a .safetensors file, for comparing with the parity fixtures.
import fs from 'node:fs';

const TYPES = { F32: Float32Array, I32: Int32Array, U8: Uint8Array, F64: Float64Array, I64: BigInt64Array };

export function readSafetensors(file) {
  const bytes = fs.readFileSync(file);
  const headerSize = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerSize).toString('utf8'));
  const base = 8 + headerSize;
  return {
    keys: Object.keys(header).filter((k) => k !== '__metadata__'),
    get(name) {
      const t = header[name];
      if (!t) throw new Error(`${file}: no tensor '${name}'`);
      const Type = TYPES[t.dtype];
      if (!Type) throw new Error(`${file}: '${name}' has dtype ${t.dtype}, which this reader does not handle`);
      const [begin, end] = t.data_offsets;
      // A copy of its own (Buffer#slice would share the file's memory, which may sit at any offset of Node's pool).
      const copy = Uint8Array.prototype.slice.call(bytes, base + begin, base + end);
      return { shape: t.shape, data: new Type(copy.buffer, copy.byteOffset, (end - begin) / Type.BYTES_PER_ELEMENT) };
    },
  };
}
