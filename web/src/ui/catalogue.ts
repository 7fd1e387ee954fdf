// The model catalogue: well-known public models (catalogue/models.json, copied to catalogue.json by the build), each
// with its repository, family, license, download size and GPU memory, and whether it fits here: the browser's free
// storage and, for the GPU, WebGPU at all. One click loads it through the diffusers-folder loader (or, for a TAESD,
// adds it as an add-on) and puts its recommended settings in the form.
import type { Capabilities } from '../protocol';
import type { Settings } from '../settings';
import { bytes } from './format';

export interface CatalogueEntry {
  id: string;
  name: string;
  kind: 'model' | 'taesd';
  family: string;
  repository: string;
  url: string;
  license: string;
  native?: number;
  variant: string;
  downloadBytes: number;
  gpuBytes: number;
  estimate: boolean;
  description: string;
  settings?: Partial<Settings>;
  examples?: string[];
}

interface Actions {
  load: (entry: CatalogueEntry) => Promise<void>;
  example: (entry: CatalogueEntry, prompt: string) => Promise<void>;  // load it if need be, then draw the prompt
  storedUrls: () => Promise<string[]>;   // models (and add-ons) complete in this browser's storage
}

// Whether `entry` fits here, in words, and whether it fits at all.
export async function fitOf(entry: CatalogueEntry, caps: Capabilities | null, stored: boolean): Promise<{ fits: boolean; text: string }> {
  const parts: string[] = [];
  let fits = true;
  if (stored) {
    parts.push('stored in this browser: loads with no download');
  } else {
    const estimate = navigator.storage?.estimate ? await navigator.storage.estimate().catch(() => undefined) : undefined;
    if (estimate?.quota) {
      const free = estimate.quota - (estimate.usage ?? 0);
      if (free < entry.downloadBytes) {
        fits = false;
        parts.push(`needs ${bytes(entry.downloadBytes)} of storage but this browser has ${bytes(Math.max(0, free))} free ` +
          'for websd: remove stored models or free disk space');
      } else {
        parts.push(`${bytes(entry.downloadBytes)} to download, ${bytes(free)} of storage free`);
      }
    } else {
      parts.push(`${bytes(entry.downloadBytes)} to download (this browser does not say how much storage is free)`);
    }
  }
  if (entry.kind === 'model') {
    const gpu = `${entry.estimate ? 'about ' : ''}${bytes(entry.gpuBytes)} of GPU memory`;
    if (caps?.webgpu) {
      const binding = caps.limits.maxStorageBufferBindingSize;
      parts.push(`needs ${gpu} (browsers do not say how much a GPU has); this GPU binds ${bytes(binding)} per buffer` +
        (binding < 2 ** 30 ? ', so websd splits the biggest ones' : ''));
    } else {
      parts.push(`no WebGPU here: it would run on the CPU, minutes per step at ${entry.native ?? 512}×${entry.native ?? 512}`);
    }
  }
  return { fits, text: parts.join('; ') };
}

export class Catalogue {
  private entries: CatalogueEntry[] = [];

  constructor(private list: HTMLUListElement, private actions: Actions) {}

  async show(caps: Capabilities | null) {
    try {
      const r = await fetch('catalogue.json');
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      this.entries = (await r.json()).models ?? [];
    } catch {
      this.entries = [];  // a copy of the app without its catalogue: nothing to offer
    }
    const stored = new Set(await this.actions.storedUrls());
    this.list.replaceChildren();
    for (const entry of this.entries) {
      const li = document.createElement('li');
      li.dataset.id = entry.id;
      const title = document.createElement('div');
      title.className = 'catalogue-title';
      const name = document.createElement('b');
      name.textContent = entry.name;
      const facts = document.createElement('span');
      facts.className = 'hint';
      facts.textContent = ` ${entry.family} · ${entry.license} · ${entry.variant}` +
        (entry.native ? ` · ${entry.native}×${entry.native}` : '');
      title.append(name, facts);
      const description = document.createElement('p');
      description.textContent = entry.description;
      const repo = document.createElement('a');
      repo.href = entry.url.replace(/\/resolve\/main\/?$/, '');
      repo.textContent = entry.repository;
      repo.target = '_blank';
      repo.rel = 'noopener noreferrer';
      const fit = document.createElement('p');
      fit.className = 'fit hint';
      const { fits, text } = await fitOf(entry, caps, stored.has(entry.url));
      fit.textContent = `${fits ? 'Fits' : 'Does not fit'}: ${text}.`;
      fit.classList.toggle('error', !fits);
      const load = document.createElement('button');
      load.type = 'button';
      load.textContent = entry.kind === 'taesd' ? 'Add' : 'Load';
      load.setAttribute('aria-label', `${load.textContent} ${entry.name}`);
      load.onclick = () => void this.actions.load(entry);
      const row = document.createElement('div');
      row.className = 'row';
      row.append(load, repo);
      li.append(title, description, fit, row);
      if (entry.examples?.length) {
        const examples = document.createElement('ul');
        examples.className = 'examples';
        examples.setAttribute('aria-label', `Example prompts for ${entry.name}`);
        for (const prompt of entry.examples) {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = prompt;
          b.onclick = () => void this.actions.example(entry, prompt);
          const item = document.createElement('li');
          item.append(b);
          examples.append(item);
        }
        li.append(examples);
      }
      this.list.append(li);
    }
  }
}
