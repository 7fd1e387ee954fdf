#!/usr/bin/env node
// Runs a suite of the webgpu test module (tests/web) by hand: the op-by-op harness (also a micro-benchmark with
// --repeats) or the tiny models' parity, in headless Chromium (default) or in Node on Dawn (--in node, e.g. on a
// machine with a real GPU).
//
//   node js/webgpu-suite.mjs ops [--filter conv2d] [--repeats 20]
//   node js/webgpu-suite.mjs models [--filter tiny-sd1] [--in node] [--dawn-flag enable-dawn-features=disable_robustness]
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Engine } from './lib/engine.mjs';
import { GpuHost } from './lib/gpu-host.mjs';
import { inModule, loadModule, nodeGpu, wasmDir } from './lib/node.mjs';
import { fixturesDir } from './test/fixtures.mjs';

const { values: o, positionals } = parseArgs({ allowPositionals: true, options: {
  filter: { type: 'string', default: '' }, repeats: { type: 'string', default: '0' },
  in: { type: 'string', default: 'chromium' }, 'dawn-flag': { type: 'string', multiple: true, default: [] },
} });
const suite = positionals[0];
if (!['ops', 'models'].includes(suite) || !['chromium', 'node'].includes(o.in)) {
  console.error('usage: node js/webgpu-suite.mjs ops|models [--filter TEXT] [--repeats N] [--in chromium|node] ' +
    '[--dawn-flag FLAG]');
  process.exit(2);
}

async function inNode() {
  // The module before the device (see websd-node.mjs).
  const module = await loadModule(path.join(wasmDir(), 'tests/web/websd_webtests.js'));
  const host = await GpuHost.create(await nodeGpu(o['dawn-flag']));
  console.log(`WebGPU adapter: ${host.description}`);
  const engine = new Engine(module, host);
  const a = engine.allocator();
  return engine.run(() => (suite === 'ops' ? module._websd_webtest_ops(a.string(o.filter), Number(o.repeats))
    : module._websd_webtest_models(a.string(inModule(fixturesDir)), a.string(o.filter))));
}

async function inChromium() {
  const { runSuite } = await import('./browser/chromium.mjs');  // playwright-core: not on GPU machines
  return runSuite({ suite, filter: o.filter, repeats: Number(o.repeats), fixtures: fixturesDir });
}

const result = await (o.in === 'node' ? inNode() : inChromium());
if (result.status !== 0) console.error(`websd: ${suite}: ${result.message}`);
process.exit(result.status === 0 ? 0 : 1);
