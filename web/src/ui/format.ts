// Numbers for people: sizes, durations, and the speed/ETA of something in progress.

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, ++i;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// Rate of a growing quantity, smoothed over the last few seconds so that a burst does not make the ETA jump.
export class RateMeter {
  private samples: [number, number][] = [];
  constructor(private windowMs = 5000) {}

  reset() {
    this.samples = [];
  }

  // Returns units per second (0 until two samples exist).
  add(value: number, now = performance.now()): number {
    this.samples.push([now, value]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
    const [t0, v0] = this.samples[0];
    return now > t0 ? ((value - v0) * 1000) / (now - t0) : 0;
  }
}
