// PNG text chunks and the parameters text they carry (js/lib/png.mjs readPngText, js/lib/parameters.mjs): every
// chunk kind other tools write, damaged files, and the web UI's parsing rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zlibSync } from 'fflate';

import { parseParameters, schedulerFromSampler } from '../lib/parameters.mjs';
import { encodePng, readPngText } from '../lib/png.mjs';

const image = { width: 2, height: 2, rgb: new Uint8Array(12) };
const latin1 = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));

// PNG bytes with `chunk` (type, data) put right after the header, its CRC left as zero (readers here do not check it).
function withChunk(type, data) {
  const png = encodePng(image);
  const c = new Uint8Array(12 + data.length);
  new DataView(c.buffer).setUint32(0, data.length);
  c.set(latin1(type), 4);
  c.set(data, 8);
  return Uint8Array.from([...png.subarray(0, 33), ...c, ...png.subarray(33)]);
}

test('readPngText reads tEXt, zTXt and iTXt (plain and compressed) chunks', () => {
  assert.deepEqual(readPngText(encodePng(image, { parameters: 'a\nSteps: 1', Software: 'websd' })),
    { parameters: 'a\nSteps: 1', Software: 'websd' });
  assert.deepEqual(readPngText(encodePng(image, { parameters: '灯台 at dusk' })), { parameters: '灯台 at dusk' });
  const z = withChunk('zTXt', Uint8Array.from([...latin1('parameters\0\0'), ...zlibSync(latin1('zipped text'))]));
  assert.deepEqual(readPngText(z), { parameters: 'zipped text' });
  const utf8 = new TextEncoder().encode('夕暮れ, compressed');
  const i = withChunk('iTXt', Uint8Array.from([...latin1('parameters\0\x01\0en\0\0'), ...zlibSync(utf8)]));
  assert.deepEqual(readPngText(i), { parameters: '夕暮れ, compressed' });
});

test('readPngText refuses what is not a PNG and keeps what it read before a damaged chunk', () => {
  assert.throws(() => readPngText(new TextEncoder().encode('GIF89a....')), /not a PNG file/);
  const good = encodePng(image, { parameters: 'kept' });
  const cut = good.subarray(0, good.length - 30);  // the image data and the end are cut off
  assert.deepEqual(readPngText(cut), { parameters: 'kept' });
  const bad = withChunk('zTXt', Uint8Array.from([...latin1('parameters\0\0'), 1, 2, 3, 4]));
  assert.deepEqual(readPngText(bad), {}, 'a chunk that does not inflate is skipped');
});

test('parseParameters follows the web UI: prompt lines, the negative prompt, the fields line, quoted values', () => {
  const text = 'a cat, (best:1.2)\nsecond line\nNegative prompt: blurry\nugly\nSteps: 20, Sampler: Euler a, ' +
    'CFG scale: 7, Seed: 1, Size: 512x768, ControlNet 0: "Module: canny, Model: \\"x\\", Weight: 1", Version: v1';
  assert.deepEqual(parseParameters(text), { prompt: 'a cat, (best:1.2)\nsecond line', negativePrompt: 'blurry\nugly',
    fields: [['Steps', '20'], ['Sampler', 'Euler a'], ['CFG scale', '7'], ['Seed', '1'], ['Size', '512x768'],
      ['ControlNet 0', 'Module: canny, Model: "x", Weight: 1'], ['Version', 'v1']] });
  // A last line with fewer than three fields is prompt text.
  assert.deepEqual(parseParameters('a view\nstyle: oil, mood: calm'),
    { prompt: 'a view\nstyle: oil, mood: calm', negativePrompt: '', fields: [] });
  assert.deepEqual(parseParameters('Steps: 4, Sampler: LCM, CFG scale: 1').fields.length, 3);
});

test('schedulerFromSampler maps the web UI\'s sampler and schedule type to websd\'s scheduler names', () => {
  assert.equal(schedulerFromSampler('DPM++ 2M', 'Karras'), 'dpmpp_2m_karras');
  assert.equal(schedulerFromSampler('DPM++ 2M Karras'), 'dpmpp_2m_karras');
  assert.equal(schedulerFromSampler('Euler a', 'Automatic'), 'euler_a');
  assert.equal(schedulerFromSampler('PLMS'), 'pndm');
  assert.equal(schedulerFromSampler('DPM++ SDE', 'Karras'), '');
});
