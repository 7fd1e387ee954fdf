// Prompt weighting shown as it is typed: a layer behind the textarea repeats its text with each weighted run
// tinted (stronger above 1, cooler below, BREAK marked), and a counter gives the tokens of each 75-token chunk.
// The reading is the engine's own (Model.promptInfo through the Worker), so what is shown is what is encoded.
import type { EngineClient } from '../engine-client';
import type { PromptInfo } from '../protocol';

const DELAY_MS = 120;

export class PromptHighlight {
  private timer = 0;
  private asked = 0;

  constructor(private engine: EngineClient, private text: HTMLTextAreaElement, private layer: HTMLElement,
              private counter: HTMLElement, private literal: () => boolean) {
    text.addEventListener('input', () => this.schedule());
    text.addEventListener('scroll', () => { layer.scrollTop = text.scrollTop; });
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.update(), DELAY_MS) as unknown as number;
  }

  private async update() {
    const prompt = this.text.value;
    const ask = ++this.asked;
    const info = await this.engine.request<PromptInfo | null>({ type: 'prompt-info', prompt, literal: this.literal() })
      .catch(() => null);
    if (ask !== this.asked) return;  // typed on since: a newer answer is coming
    this.render(prompt, info);
  }

  private render(prompt: string, info: PromptInfo | null) {
    if (!info) {
      this.layer.replaceChildren(prompt);
      this.counter.textContent = '';
      return;
    }
    const parts: (string | HTMLElement)[] = [];
    let at = 0;
    for (const [start, end, weight, isBreak] of info.spans) {
      if (start > at) parts.push(prompt.slice(at, start));  // brackets and weights: shown plain
      const s = document.createElement('span');
      s.textContent = prompt.slice(start, end);
      if (isBreak) s.className = 'w-break';
      else if (weight !== 1) {
        s.className = weight > 1 ? 'w-up' : 'w-down';
        // Stronger tint for stronger weights, capped: 1.1 is faint, 1.5 and above full.
        s.style.setProperty('--w', String(Math.min(1, Math.abs(Math.log(Math.max(weight, 1e-3))) / Math.log(1.5))));
        s.title = `weight ${+weight.toFixed(3)}`;
      }
      parts.push(s);
      at = end;
    }
    if (at < prompt.length) parts.push(prompt.slice(at));
    parts.push('\u200b');  // keeps a trailing newline's height
    this.layer.replaceChildren(...parts);
    this.layer.scrollTop = this.text.scrollTop;
    const n = info.tokens.length;
    const total = info.tokens.reduce((a, b) => a + b, 0);
    const over = n > info.maxChunks;
    this.counter.textContent = `${total}/${Math.max(1, n) * info.chunkSize} tokens` + (n > 1 ? ` (${n} chunks)` : '') +
      (over ? ` — over the limit of ${info.maxChunks} chunks` : '');
    this.counter.classList.toggle('error', over);
  }
}
