// js/bench-node.mjs --lora-rank (js/lib/lora-bench.mjs) on tiny-sd1's architecture: every case runs and prints,
// on the wasm cpu backend and on Dawn (SwiftShader without a GPU, as dawn.test.mjs), where the bytes uploaded per
// case show the design of src/adapters/lora.h: the same LoRA set again and no LoRA after one upload no weights,
// a new set uploads its low-rank factors and nothing else (the merge runs on the GPU).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { loraLayers } from '../lib/lora-bench.mjs';
import { repoRoot } from '../lib/node.mjs';
import { encodeSafetensors, f16Bits } from '../lib/safetensors.mjs';
import { fixture } from './fixtures.mjs';
import { readSafetensors } from './safetensors.mjs';

const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = { ...process.env };
if (!process.env.VK_DRIVER_FILES && fs.existsSync(swiftshader)) {
  env.VK_DRIVER_FILES = swiftshader;
  env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

async function bench(backend) {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-lora-')), 'lora.json');
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'js/bench-node.mjs'),
    '--arch', fixture('tiny-sd1/model'), '--backend', backend, '--generate', '1', '--lora-rank', '2', '--steps', '2',
    '--runs', '1', '--tokenizer', fixture('tiny-sd1/model/tokenizer'), '--json', json],
  { env, maxBuffer: 16 << 20 });
  return { stdout, results: JSON.parse(fs.readFileSync(json, 'utf8')) };
}

function checkCommon({ stdout, results }) {
  for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) assert.match(stdout, new RegExp(`^  \\(${id}\\) `, 'm'));
  assert.match(stdout, /LoRA files: A [\d.]+ MiB, B [\d.]+ MiB/);
  assert.match(stdout, /adapted tensors: \d+ \(unet \d+, text_encoder \d+\)/);
  // tiny-sd1: 11 transformer blocks × (4 + 4 attention projections + 2 feed-forward linears + proj_in/proj_out),
  // 2 text encoder layers × (4 attention + 2 MLP linears).
  assert.deepEqual(results.adapted.tensors, { unet: 132, text_encoder: 12 });
  assert.equal(results.cases.length, 6);
  for (const c of results.cases) assert.ok(c.s_per_image > 0, `case ${c.case} took no time`);
}

test('bench-node --lora-rank runs every case on the wasm cpu backend', { timeout: 5 * 60 * 1000 }, async () => {
  const r = await bench('cpu');
  checkCommon(r);
  console.log(r.stdout.trim().split('\n').map((l) => `  ${l}`).join('\n'));
});

test('bench-node --lora-rank on Dawn: a cached or dropped LoRA uploads no weights, a new one only its factors',
  { timeout: 10 * 60 * 1000 }, async () => {
    const r = await bench('webgpu');
    checkCommon(r);
    const up = Object.fromEntries(r.results.cases.map((c) => [c.case, c.uploaded_bytes]));
    // (a) uploads the generation's own inputs only (latents, timesteps, token ids): a few KiB.
    assert.ok(up.a < 256 << 10, `a generation without LoRA uploaded ${up.a} bytes`);
    assert.equal(up.c, up.a, 'the same LoRA set again must reuse its merged weights');
    assert.equal(up.f, up.a, 'no LoRA after one must reuse the model\'s own GPU copies');
    const factors = Object.values(r.results.adapted.factor_bytes).reduce((x, y) => x + y, 0);
    for (const id of ['b', 'd', 'e']) assert.equal(up[id] - up.a, factors, `case ${id}: the LoRA's factors only`);
  });

test('safetensors writer: f16 bits, layout readable by the reader, kohya LoRA keys', () => {
  assert.deepEqual([1, -2, 0.5, 65504, 1e6, 2 ** -24, 2 ** -26, 0].map(f16Bits),
    [0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0000]);
  assert.equal(f16Bits(1 + 2 ** -11), 0x3c00);  // a tie rounds to even
  assert.equal(f16Bits(1 + 3 * 2 ** -11), 0x3c02);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-st-')), 't.safetensors');
  fs.writeFileSync(file, encodeSafetensors([
    { name: 'x', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    { name: 'h', dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    { name: 's', dtype: 'F32', shape: [], data: new Float32Array([7]) }], { note: 'test' }));
  const st = readSafetensors(file);
  assert.deepEqual(st.keys, ['x', 'h', 's']);
  assert.deepEqual([...st.get('x').data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(st.get('s').shape, []);
  assert.equal(fs.readFileSync(file).readUInt32LE(0) % 8, 0);
  const layers = loraLayers({
    unet: [['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.weight', [32, 32]],
      ['down_blocks.0.attentions.0.proj_in.weight', [32, 32, 1, 1]], ['down_blocks.0.resnets.0.conv1.weight', [32, 32, 3, 3]],
      ['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.bias', [32]]],
    text_encoder: [['encoder.layers.0.mlp.fc1.weight', [64, 32]], ['encoder.layers.0.layer_norm1.weight', [32]]],
  });
  assert.deepEqual(layers.map((l) => l.key), ['lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0',
    'lora_unet_down_blocks_0_attentions_0_proj_in', 'lora_te_text_model_encoder_layers_0_mlp_fc1']);
});
