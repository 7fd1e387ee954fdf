// The img2img (and inpainting) start image: picked from the disk, dropped on its panel, or taken from a result; kept at its own
// size and resized (stretched, as the widely used web UI's "just resize") to the size asked for when a generation
// starts, with a note when that changed it.
import type { Image } from '../protocol';
import { canvasRgb, decodeImageFile, drawRgb } from './image';

export class StartImage {
  private source: HTMLCanvasElement | null = null;
  private label = '';

  // `stage` holds the preview (and the mask painted over it); onChange hears of every new start image.
  constructor(private stage: HTMLElement, private preview: HTMLCanvasElement, private info: HTMLElement,
              private clear: HTMLButtonElement, private onChange: (width: number, height: number) => void) {
    clear.onclick = () => this.set(null, '');
  }

  get present() { return this.source !== null; }

  // An image file (PNG, JPEG, WebP: whatever the browser decodes); rejects with a message for anything else.
  async fromFile(file: File) {
    this.set(await decodeImageFile(file), file.name);
  }

  fromResult(img: Image) {
    const c = document.createElement('canvas');
    drawRgb(c, img);
    this.set(c, 'the result');
  }

  // The start image as RGB at width x height, and whether it had to be resized to get there.
  at(width: number, height: number): { image: Image; resizedFrom: string | null } | null {
    if (!this.source) return null;
    const same = this.source.width === width && this.source.height === height;
    return { image: canvasRgb(this.source, width, height),
      resizedFrom: same ? null : `${this.source.width}×${this.source.height}` };
  }

  private set(source: HTMLCanvasElement | null, label: string) {
    this.source = source;
    this.label = label;
    this.clear.disabled = !source;
    this.stage.hidden = !source;
    if (source) {
      this.preview.width = source.width;
      this.preview.height = source.height;
      this.preview.getContext('2d')!.drawImage(source, 0, 0);
      this.info.textContent = `${this.label}, ${source.width}×${source.height}: the picture starts from it`;
    } else {
      this.preview.width = this.preview.height = 0;
      this.info.textContent = 'None: the picture starts from noise. Open or drop an image here, or press “Start from this” under a result.';
    }
    this.onChange(source?.width ?? 0, source?.height ?? 0);
  }
}
