// Runs one suite of the webgpu test module in this page, on navigator.gpu: ?suite=ops (the op-by-op harness;
// &repeats=N also times each case), ?suite=models (network and image parity on the tiny fixtures, which are
// fetched from /fixtures/ into the module's memory file system first) or ?suite=lost (the ops on a destroyed
// device, which must fail with a message). Output goes to the console and the page;
// the result lands in window.websdResult = { status, message }.
import { Engine } from '/js/lib/engine.mjs';
import { GpuHost } from '/js/lib/gpu-host.mjs';

const MODELS = ['tiny-sd1', 'tiny-sd1-creative', 'tiny-sd2', 'tiny-lcm', 'tiny-sdxl', 'tiny-inpaint', 'tiny-taesd'];
const logElement = document.getElementById('log');
const log = (line) => {
  console.log(line);
  logElement.textContent += line + '\n';
};

async function copyFixtures(module, model) {
  const files = await (await fetch(`/list/fixtures/${model}`)).json();
  for (const rel of files.filter((f) => !f.startsWith('reference_extra.') || model === 'tiny-sd1')) {
    const bytes = new Uint8Array(await (await fetch(`/fixtures/${model}/${rel}`)).arrayBuffer());
    const target = `/fixtures/${model}/${rel}`;
    module.FS.mkdirTree(target.slice(0, target.lastIndexOf('/')));
    module.FS.writeFile(target, bytes);
  }
}

async function main() {
  const q = new URLSearchParams(location.search);
  const suite = q.get('suite'), filter = q.get('filter') || '', repeats = Number(q.get('repeats') || 0);
  const module = await createWebsdTestModule({ print: log, printErr: log });
  const host = await GpuHost.create(navigator.gpu);
  log(`WebGPU adapter: ${host.description}`);
  const engine = new Engine(module, host);
  const a = engine.allocator();
  let start;
  if (suite === 'ops') {
    start = () => module._websd_webtest_ops(a.string(filter), repeats, a.string(q.get('choices') || ''));
  } else if (suite === 'lab') {
    start = () => module._websd_webtest_lab(a.string(filter), a.string(q.get('dtype') || 'f16'), repeats || 3,
      a.string(q.get('choices') || ''));
  } else if (suite === 'lost') {
    // A device lost before the engine asks for it: the job must end with a status and a message, not hang.
    host.device.destroy();
    await host.device.lost;
    start = () => module._websd_webtest_ops(a.string(filter), 0, a.string(''));
  } else if (suite === 'models') {
    // The filter names a model or one run ('tiny-sdxl euler'): copy only the fixtures it needs (the LoRA and
    // embedding runs, 'tiny-sd1 lora_kohya_s08', read tiny-sd1-creative's files too).
    const needed = MODELS.filter((m) => !filter || filter.includes(m) || m.includes(filter));
    if (needed.includes('tiny-sd1') && !needed.includes('tiny-sd1-creative')) needed.push('tiny-sd1-creative');
    for (const m of needed) await copyFixtures(module, m);
    start = () => module._websd_webtest_models(a.string('/fixtures'), a.string(filter));
  } else {
    throw new Error(`unknown suite '${suite}' (ops, models, lab or lost)`);
  }
  const result = await engine.run(start);
  a.free();
  return result;
}

main().then((r) => { window.websdResult = r; },
  (e) => { window.websdResult = { status: -1, message: String(e && e.stack || e) }; });
