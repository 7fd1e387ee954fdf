// Headless Chromium with WebGPU on the CPU (SwiftShader), driven by playwright-core: runs a suite of
// harness.html and relays its output. Chromium comes from Debian (apt-get install chromium).
import fs from 'node:fs';
import { chromium } from 'playwright-core';

import { repoRoot } from '../lib/node.mjs';
import { startServer } from './server.mjs';

const CHROMIUM = process.env.WEBSD_CHROMIUM || '/usr/bin/chromium';
// WebGPU through Vulkan on SwiftShader, headless; no network, no first-run work.
const FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader', '--no-sandbox',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// Headless Chromium with WebGPU on SwiftShader (or, with webgpu false, without WebGPU at all).
export async function launchChromium({ webgpu = true } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Chromium (apt-get install chromium) or set WEBSD_CHROMIUM`);
  }
  const args = webgpu ? FLAGS : [...FLAGS.filter((f) => !f.includes('webgpu')), '--disable-features=WebGPU'];
  return chromium.launch({ executablePath: CHROMIUM, args, headless: true });
}

// Resolves to { status, message } of the suite; `print` receives every line the page logs.
export async function runSuite({ suite, filter = '', repeats = 0, dtype = 'f16', choices = '', fixtures, print = console.log,
  timeoutMs = 30 * 60 * 1000 }) {
  const server = await startServer({ root: repoRoot, fixtures });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => print(m.text()));
    page.on('pageerror', (e) => print(`page error: ${e.message}`));
    const q = new URLSearchParams({ suite, filter, repeats: String(repeats), dtype, choices });
    await page.goto(`${server.url}/js/browser/harness.html?${q}`);
    await page.waitForFunction(() => window.websdResult !== undefined, null, { timeout: timeoutMs, polling: 500 });
    return await page.evaluate(() => window.websdResult);
  } finally {
    await browser.close();
    await server.close();
  }
}
