// The app's icon, drawn at build time: noise on the left clearing into a smooth picture on the right (what
// diffusion does), in a rounded square with room around it for masks that crop to a circle.
import { encodePng } from '../../js/lib/png.mjs';

export function drawIcon(size) {
  const rgb = new Uint8Array(size * size * 3);
  let seed = 12345;
  const noise = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  const r = size * 0.16;  // corner radius
  for (let y = 0; y < size; ++y) {
    for (let x = 0; x < size; ++x) {
      const u = x / size, v = y / size;
      const dx = Math.max(r - x, 0, x - (size - 1 - r)), dy = Math.max(r - y, 0, y - (size - 1 - r));
      const inside = dx * dx + dy * dy <= r * r;
      // A dusk sky over a hill, mixed with noise that fades from left to right.
      const hill = v > 0.62 + 0.12 * Math.cos(u * 5.5);
      const sky = [59 + 140 * v, 111 - 30 * v, 216 - 90 * v];
      const picture = hill ? [30, 45 + 40 * u, 60] : sky;
      const clear = Math.min(1, Math.max(0, (u - 0.15) / 0.6));
      const n = noise() * 255;
      const c = inside ? picture.map((p) => clear * p + (1 - clear) * n) : [22, 24, 29];
      rgb.set(c.map((p) => Math.max(0, Math.min(255, Math.round(p)))), 3 * (y * size + x));
    }
  }
  return encodePng({ width: size, height: size, rgb });
}
