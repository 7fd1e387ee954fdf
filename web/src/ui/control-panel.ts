// The ControlNet panel's picture and map: the control image (opened, dropped, or a result), kept at its own size
// (up to kMaxSide a side) and handed to the engine as it is, and the map the ControlNet will read, drawn by the
// engine itself (its fitting and preprocessor) whenever the picture, the options or the size change.
import type { EngineClient } from '../engine-client';
import type { ControlOptions, Image } from '../protocol';
import { canvasRgb, decodeImageFile, drawRgb } from './image';

const kMaxSide = 4096;  // larger pictures are scaled down first: the engine fits them to at most 4096 anyway

export class ControlImage {
  private source: Image | null = null;
  private label = '';
  private pending = 0;

  // `options()` reads the form's preprocessor, thresholds, invert and fit; `size()` the size generated.
  constructor(private engine: EngineClient, private el: { map: HTMLCanvasElement; info: HTMLElement;
    clear: HTMLButtonElement }, private options: () => Omit<ControlOptions, 'image'>,
              private size: () => [number, number], private onProblem: (message: string) => void) {
    el.clear.onclick = () => this.set(null, '');
  }

  get image(): Image | null { return this.source; }

  // An image file (PNG, JPEG, WebP: whatever the browser decodes); rejects with a message for anything else.
  async fromFile(file: File) {
    this.set(canvasRgb(await decodeImageFile(file, kMaxSide)), file.name);
  }

  fromResult(img: Image) { this.set({ ...img, rgb: img.rgb.slice() }, 'the result'); }

  // Draws the map again (the latest request wins); says what is wrong when the engine refuses the options.
  async refresh() {
    const ticket = ++this.pending;
    if (!this.source) return;
    const [width, height] = this.size();
    const same = this.source.width * height === this.source.height * width;
    try {
      const map = await this.engine.request<Image>({ type: 'control-map', control: { ...this.options(),
        image: this.source }, width, height });
      if (ticket !== this.pending) return;
      drawRgb(this.el.map, map);
      this.el.map.hidden = false;
      this.el.info.textContent = `${this.label}, ${this.source.width}×${this.source.height}` +
        (same ? '' : `, ${this.options().resize === 'crop' ? 'scaled and cropped' : 'stretched'} to ${width}×${height}`) +
        ': the ControlNet reads the map shown';
    } catch (e) {
      if (ticket === this.pending) this.onProblem(`The control map: ${(e as Error).message}`);
    }
  }

  private set(source: Image | null, label: string) {
    this.source = source;
    this.label = label;
    this.el.clear.disabled = !source;
    if (!source) {
      this.el.map.hidden = true;
      this.el.info.textContent = 'No control image: open an edge map, a pose or a depth picture, or a photo to ' +
        'take the edges of.';
      return;
    }
    void this.refresh();
  }
}
