#!/usr/bin/env node
// Runs a suite of the webgpu test module (tests/web) by hand: the op-by-op harness (also a micro-benchmark with
// --repeats), the tiny models' parity, or the kernel lab (every numbered kernel variant at real SD shapes,
// checked and timed: tests/web/kernel_lab.cpp), in headless Chromium (default) or in Node on Dawn (--in node,
// e.g. on a machine with a real GPU).
//
//   node js/webgpu-suite.mjs ops [--filter conv2d] [--repeats 20] [--choices auto]   (auto: each case under the
//        automatic kernel choice only; otherwise under every variant of its family)
//   node js/webgpu-suite.mjs models [--filter tiny-sd1] [--in node] [--dawn-flag enable-dawn-features=disable_robustness]
//   node js/webgpu-suite.mjs lab [--filter gemm|attention|group_norm|"conv vae"] [--repeats 5] [--dtype q8] --in node
//        [--choices "gemm=auto|winograd=0|winograd=1,gemm=2"]   (only these kernel choices, '|' between them)
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Engine } from './lib/engine.mjs';
import { GpuHost } from './lib/gpu-host.mjs';
import { inModule, loadModule, nodeGpu, wasmDir } from './lib/node.mjs';
import { fixturesDir } from './test/fixtures.mjs';

const { values: o, positionals } = parseArgs({ allowPositionals: true, options: {
  filter: { type: 'string', default: '' }, repeats: { type: 'string', default: '0' },
  in: { type: 'string', default: 'chromium' }, 'dawn-flag': { type: 'string', multiple: true, default: [] },
  dtype: { type: 'string', default: 'f16' }, choices: { type: 'string', default: '' },
} });
const suite = positionals[0];
if (!['ops', 'models', 'lab'].includes(suite) || !['chromium', 'node'].includes(o.in)) {
  console.error('usage: node js/webgpu-suite.mjs ops|models|lab [--filter TEXT] [--repeats N] [--dtype f16|q8] ' +
    '[--in chromium|node] [--dawn-flag FLAG] [--choices "A|B"]');
  process.exit(2);
}

async function inNode() {
  // The module before the device (see websd-node.mjs).
  const module = await loadModule(path.join(wasmDir(), 'tests/web/websd_webtests.js'));
  const host = await GpuHost.create(await nodeGpu(o['dawn-flag']));
  console.log(`WebGPU adapter: ${host.description}`);
  const engine = new Engine(module, host);
  const a = engine.allocator();
  const start = {
    ops: () => module._websd_webtest_ops(a.string(o.filter), Number(o.repeats), a.string(o.choices)),
    models: () => module._websd_webtest_models(a.string(inModule(fixturesDir)), a.string(o.filter)),
    lab: () => module._websd_webtest_lab(a.string(o.filter), a.string(o.dtype), Number(o.repeats) || 5,
      a.string(o.choices)),
  }[suite];
  return engine.run(start);
}

async function inChromium() {
  const { runSuite } = await import('./browser/chromium.mjs');  // playwright-core: not on GPU machines
  return runSuite({ suite, filter: o.filter, repeats: Number(o.repeats), dtype: o.dtype, choices: o.choices,
    fixtures: fixturesDir });
}

const result = await (o.in === 'node' ? inNode() : inChromium());
if (result.status !== 0) console.error(`websd: ${suite}: ${result.message}`);
process.exit(result.status === 0 ? 0 : 1);
