// Image parity as tests/image_diff.h states it for the C++ tests: at most 2 levels anywhere, and more than 1 level
// on at most 0.1% of the values.
export function compareImages(got, want) {
  if (got.length !== want.length) return { ok: false, summary: `size ${got.length} != ${want.length}` };
  let worst = 0, over1 = 0;
  for (let i = 0; i < want.length; ++i) {
    const d = Math.abs(got[i] - want[i]);
    worst = Math.max(worst, d);
    if (d > 1) ++over1;
  }
  const fraction = over1 / want.length;
  return { ok: worst <= 2 && fraction <= 0.001, worst, fraction,
    summary: `max diff ${worst} levels, ${(100 * fraction).toFixed(4)}% of values off by more than 1` };
}
