// The add-on panel: LoRAs (tick to merge, a scale each), embeddings (click to put the word in the prompt), TAESD
// decoders (chosen for previews and the final image) and ControlNets (chosen in their own panel), stored in the
// Worker's OPFS store. Which LoRAs are ticked
// and their scales are settings (they survive reloads); a ticked LoRA that is no longer stored is dropped.
import type { EngineClient } from '../engine-client';
import type { Adapter, AdapterKind, AdapterSource } from '../protocol';
import { bytes } from './format';

export interface LoraChoice {
  name: string;
  scale: number;
}

export class AdapterPanel {
  private stored: Adapter[] = [];
  private chosen = new Map<string, number>();  // ticked LoRA -> scale
  private scales = new Map<string, number>();  // each LoRA's last scale, ticked or not
  private listed = false;  // the store has been read (until then the settings' LoRAs stand)

  constructor(private engine: EngineClient, private el: {
    loras: HTMLUListElement; embeddings: HTMLUListElement; taesds: HTMLUListElement; summary: HTMLElement;
    previewDecoder: HTMLSelectElement; vaeDecoder: HTMLSelectElement; controlnets: HTMLUListElement;
    controlnet: HTMLSelectElement;
  }, private hooks: { insert: (text: string) => void; changed: () => void; message: (text: string, error: boolean) => void }) {
    for (const select of [el.previewDecoder, el.vaeDecoder, el.controlnet]) {
      select.addEventListener('change', () => { select.dataset.want = select.value; });
    }
  }

  get loras(): LoraChoice[] {
    return [...this.chosen].map(([name, scale]) => ({ name, scale }));
  }

  // The TAESDs chosen (names; '' = none), as the settings keep them.
  get previewDecoder() { return this.el.previewDecoder.dataset.want ?? ''; }
  get vaeDecoder() { return this.el.vaeDecoder.dataset.want ?? ''; }
  // The ControlNet chosen ('' = none).
  get controlnet() { return this.el.controlnet.dataset.want ?? ''; }

  // Settings back into the panel (the stored list decides what stays ticked).
  restore(loras: LoraChoice[], previewDecoder: string, vaeDecoder: string, controlnet: string) {
    this.chosen = new Map(loras.map((l) => [l.name, l.scale]));
    this.el.previewDecoder.dataset.want = previewDecoder;
    this.el.vaeDecoder.dataset.want = vaeDecoder;
    this.el.controlnet.dataset.want = controlnet;
    this.render();
  }

  async refresh() {
    this.stored = await this.engine.request<Adapter[]>({ type: 'adapter-list' }).catch(() => []);
    this.listed = true;
    this.render();
  }

  async add(kind: AdapterKind, source: AdapterSource) {
    const what = { lora: 'LoRA', embedding: 'embedding', taesd: 'TAESD', controlnet: 'ControlNet' }[kind];
    this.hooks.message(`Storing the ${what}…`, false);
    try {
      const a = await this.engine.request<Adapter>({ type: 'adapter-add', kind, source });
      if (kind === 'lora' && !this.chosen.has(a.name)) this.chosen.set(a.name, 1);
      if (kind === 'taesd' && !this.el.previewDecoder.dataset.want) this.el.previewDecoder.dataset.want = a.name;
      if (kind === 'controlnet') this.el.controlnet.dataset.want = a.name;
      this.hooks.message(`Stored the ${what} ${a.name} (${bytes(a.bytes)}).`, false);
    } catch (e) {
      this.hooks.message(`Could not store the ${what}: ${(e as Error).message}`, true);
    }
    await this.refresh();
    this.hooks.changed();
  }

  private async remove(a: Adapter) {
    await this.engine.request({ type: 'adapter-remove', kind: a.kind, name: a.name });
    if (a.kind === 'lora') this.chosen.delete(a.name);
    await this.refresh();
    this.hooks.changed();
  }

  private render() {
    const of = (kind: AdapterKind) => this.stored.filter((a) => a.kind === kind);
    for (const name of [...this.chosen.keys()]) {
      if (this.listed && !of('lora').some((a) => a.name === name)) this.chosen.delete(name);
    }
    this.el.loras.replaceChildren(...of('lora').map((a) => this.loraItem(a)));
    this.el.embeddings.replaceChildren(...of('embedding').map((a) => this.embeddingItem(a)));
    this.el.taesds.replaceChildren(...of('taesd').map((a) => this.item(a, [])));
    this.el.controlnets.replaceChildren(...of('controlnet').map((a) => this.item(a, [])));
    // A select keeps the add-on the settings want until the store has been read; then one not stored is dropped.
    for (const [select, kind] of [[this.el.previewDecoder, 'taesd'], [this.el.vaeDecoder, 'taesd'],
      [this.el.controlnet, 'controlnet']] as const) {
      const want = select.dataset.want ?? '';
      select.replaceChildren(select.options[0]);
      for (const a of of(kind)) select.append(new Option(a.name, a.name));
      select.value = of(kind).some((a) => a.name === want) ? want : '';
      if (this.listed) select.dataset.want = select.value;
    }
    const n = (k: AdapterKind) => of(k).length;
    this.el.summary.textContent = this.stored.length
      ? `${n('lora')} LoRA, ${n('embedding')} embedding(s), ${n('taesd')} TAESD, ${n('controlnet')} ControlNet; ` +
        `${this.chosen.size} LoRA in use`
      : 'none stored';
  }

  private item(a: Adapter, controls: HTMLElement[]) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = `${a.name} — ${bytes(a.bytes)}`;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove ${a.name}`);
    remove.onclick = () => void this.remove(a);
    li.append(...controls, label, remove);
    return li;
  }

  private loraItem(a: Adapter) {
    const use = document.createElement('input');
    use.type = 'checkbox';
    use.checked = this.chosen.has(a.name);
    use.setAttribute('aria-label', `use the LoRA ${a.name}`);
    const scale = document.createElement('input');
    scale.type = 'number';
    scale.step = '0.05';
    scale.min = '-4';
    scale.max = '4';
    scale.value = String(this.chosen.get(a.name) ?? this.scales.get(a.name) ?? 1);
    scale.className = 'scale';
    scale.setAttribute('aria-label', `scale of the LoRA ${a.name}`);
    const update = () => {
      const s = Number(scale.value);
      if (Number.isFinite(s)) this.scales.set(a.name, s);
      if (use.checked && Number.isFinite(s)) this.chosen.set(a.name, s);
      else this.chosen.delete(a.name);
      this.render();
      this.hooks.changed();
    };
    use.onchange = update;
    scale.onchange = update;
    const tag = document.createElement('button');
    tag.type = 'button';
    tag.textContent = 'tag';
    tag.title = `put <lora:${a.name}:${scale.value}> in the prompt instead`;
    tag.onclick = () => this.hooks.insert(`<lora:${a.name}:${scale.value}>`);
    return this.item(a, [use, scale, tag]);
  }

  private embeddingItem(a: Adapter) {
    const word = document.createElement('button');
    word.type = 'button';
    word.textContent = 'add to prompt';
    word.setAttribute('aria-label', `add the word ${a.name} to the prompt`);
    word.onclick = () => this.hooks.insert(a.name);
    return this.item(a, [word]);
  }
}
