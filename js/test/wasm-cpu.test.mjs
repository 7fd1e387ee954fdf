// websd.wasm on its cpu backend, run through the Node runner exactly as a user runs it: the tiny-sd1 image must
// match what diffusers drew (pndm, the checkpoint's own scheduler).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { decodePng } from '../lib/png.mjs';
import { repoRoot } from '../lib/node.mjs';
import { fixture, readReferenceJson } from './fixtures.mjs';
import { compareImages } from './image-compare.mjs';
import { readSafetensors } from './safetensors.mjs';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'js/websd-node.mjs');

test('tiny-sd1 pndm image on the wasm cpu backend matches diffusers', async () => {
  const ref = readReferenceJson('tiny-sd1');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'websd-')), 'image.png');
  const { stderr } = await run('node', [cli, '--backend', 'cpu', '--model', fixture('tiny-sd1/model'),
    '-p', ref.prompt, '-n', ref.negative_prompt, '--steps', String(ref.steps), '--guidance', String(ref.guidance_scale),
    '--seed', String(ref.seed), '-W', String(ref.width), '-H', String(ref.height), '--scheduler', 'pndm', '-o', out]);
  const png = decodePng(fs.readFileSync(out));
  const want = readSafetensors(fixture('tiny-sd1/reference.safetensors')).get('pndm/image_u8');
  const result = compareImages(png.rgb, want.data);
  console.log(`  wasm cpu tiny-sd1 pndm: ${result.summary}  (${stderr.trim().split('\n').pop()})`);
  assert.ok(result.ok, result.summary);
  const text = fs.readFileSync(out).toString('latin1');
  assert.match(text, /Steps: 5, Sampler: PLMS, CFG scale: 7\.5, Seed: 1234, Size: 64x64/);
});

test('a missing model is an error that names the path', async () => {
  await assert.rejects(run('node', [cli, '--backend', 'cpu', '--model', '/nonexistent/model', '-p', 'x']),
    (e) => /websd-node: error: .*\/nonexistent\/model/.test(e.stderr));
});
