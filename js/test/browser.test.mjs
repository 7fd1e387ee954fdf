// The webgpu backend in headless Chromium (SwiftShader WebGPU): every op case against the cpu reference, then the
// tiny models' networks (1e-3) and txt2img images (2 levels) against diffusers. Fixtures are served from where
// they live (../shared/fixtures or $WEBSD_FIXTURES).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runSuite } from '../browser/chromium.mjs';
import { fixturesDir } from './fixtures.mjs';

for (const suite of ['ops', 'models']) {
  test(`webgpu ${suite} in Chromium`, { timeout: 40 * 60 * 1000 }, async () => {
    const r = await runSuite({ suite, fixtures: fixturesDir, print: (line) => console.log(`  ${line}`) });
    assert.equal(r.status, 0, r.message);
  });
}

test('a lost GPU device ends the job with a status that says so', { timeout: 5 * 60 * 1000 }, async () => {
  const r = await runSuite({ suite: 'lost', filter: 'silu', fixtures: fixturesDir, print: () => {} });
  assert.notEqual(r.status, 0);
  assert.match(r.message, /device was lost/);
  console.log(`  lost device: ${r.message.split('\n')[0]}`);
});
