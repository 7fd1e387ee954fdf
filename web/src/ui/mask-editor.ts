// The inpainting mask, painted over the start image: brush and eraser with a size, invert, clear, undo, open a mask
// file or save the one drawn. Kept at the start image's own size as an alpha mask (painted = repaint) and handed to
// the engine as a white-on-black RGB picture at the generation size, as the CLI's --mask reads one.
// Keys while the mask has the focus: B brush, E eraser, [ and ] size, I invert, X clear, Ctrl+Z undo.
import type { Image } from '../protocol';

const UNDO_DEPTH = 30;
// What the painted part looks like over the picture (only the alpha channel is the mask).
const INK = [255, 48, 48];

export class MaskEditor {
  private ctx: CanvasRenderingContext2D;
  private undo: ImageData[] = [];
  private last: { x: number; y: number } | null = null;
  private painted = false;  // anything painted since the last reset (an empty mask means img2img)

  constructor(private canvas: HTMLCanvasElement, private tools: {
    brush: HTMLInputElement; eraser: HTMLInputElement; size: HTMLInputElement; info: HTMLElement;
  }, private onChange: () => void) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel', 'pointerleave']) canvas.addEventListener(type, () => this.up());
    canvas.addEventListener('keydown', (e) => this.key(e));
  }

  // A new, empty mask the size of a new start image (0 x 0: none).
  reset(width: number, height: number) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.undo = [];
    this.painted = false;
    this.tools.size.max = String(Math.max(8, Math.round(Math.max(width, height) / 2)));
    this.tools.size.value = String(Math.max(1, Math.round(Math.max(width, height) / 16)));
    this.changed();
  }

  get empty() {
    if (!this.painted || !this.canvas.width) return true;
    const a = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    for (let i = 3; i < a.length; i += 4) if (a[i] >= 128) return false;
    return true;
  }

  // The mask as white (repaint) on black RGB at width x height; null when nothing is painted.
  at(width: number, height: number): Image | null {
    if (this.empty) return null;
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    const ctx = c.getContext('2d', { willReadFrequently: true })!;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(this.canvas, 0, 0, width, height);
    const a = ctx.getImageData(0, 0, width, height).data;
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, n = width * height; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = a[4 * i + 3];
    return { width, height, rgb };
  }

  // A mask picture from the disk (white = repaint; grey levels kept), stretched over the start image.
  async fromFile(file: File) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      throw new Error(`${file.name} is not an image this browser can read, so it cannot be a mask`);
    }
    const { width, height } = this.canvas;
    const stretched = bitmap.width !== width || bitmap.height !== height
      ? ` (${file.name} is ${bitmap.width}×${bitmap.height}: stretched to the start image's ${width}×${height})` : '';
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    const ctx = c.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const src = ctx.getImageData(0, 0, width, height);
    const out = new ImageData(width, height);
    for (let i = 0; i < width * height; ++i) {
      const d = src.data;
      out.data.set(INK, 4 * i);
      out.data[4 * i + 3] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]);
    }
    this.remember();
    this.ctx.putImageData(out, 0, 0);
    this.painted = true;
    this.changed();
    this.tools.info.textContent += stretched;
  }

  invert() {
    this.remember();
    const img = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    for (let i = 0; i < img.data.length; i += 4) {
      img.data.set(INK, i);
      img.data[i + 3] = 255 - img.data[i + 3];
    }
    this.ctx.putImageData(img, 0, 0);
    this.painted = true;
    this.changed();
  }

  clear() {
    this.remember();
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.changed();
  }

  stepBack() {
    const img = this.undo.pop();
    if (!img) return;
    this.ctx.putImageData(img, 0, 0);
    this.changed();
  }

  private remember() {
    if (!this.canvas.width) return;
    this.undo.push(this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height));
    if (this.undo.length > UNDO_DEPTH) this.undo.shift();
  }

  // Pointer position in mask pixels (the canvas is shown scaled).
  private point(e: PointerEvent) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  private down(e: PointerEvent) {
    if (e.button !== 0 || !this.canvas.width) return;
    this.canvas.setPointerCapture(e.pointerId);
    this.canvas.focus();
    this.remember();
    this.last = this.point(e);
    this.stroke(this.last, this.last);
  }

  private move(e: PointerEvent) {
    if (!this.last) return;
    const p = this.point(e);
    this.stroke(this.last, p);
    this.last = p;
  }

  private up() {
    if (!this.last) return;
    this.last = null;
    this.changed();
  }

  private stroke(from: { x: number; y: number }, to: { x: number; y: number }) {
    const c = this.ctx;
    c.globalCompositeOperation = this.tools.eraser.checked ? 'destination-out' : 'source-over';
    c.strokeStyle = c.fillStyle = `rgb(${INK.join(' ')})`;
    c.lineWidth = Number(this.tools.size.value);
    c.lineCap = c.lineJoin = 'round';
    c.beginPath();
    if (from.x === to.x && from.y === to.y) {
      c.arc(to.x, to.y, c.lineWidth / 2, 0, 2 * Math.PI);  // a dab: canvases skip zero-length strokes
      c.fill();
    } else {
      c.moveTo(from.x, from.y);
      c.lineTo(to.x, to.y);
      c.stroke();
    }
    c.globalCompositeOperation = 'source-over';
    if (!this.tools.eraser.checked) this.painted = true;
  }

  private key(e: KeyboardEvent) {
    const size = this.tools.size;
    const k = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && k === 'z') this.stepBack();
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (k === 'b') this.tools.brush.checked = true;
    else if (k === 'e') this.tools.eraser.checked = true;
    else if (k === '[') size.value = String(Math.max(1, Math.round(Number(size.value) / 1.25)));
    else if (k === ']') size.value = String(Math.min(Number(size.max), Math.round(Number(size.value) * 1.25) + 1));
    else if (k === 'i') this.invert();
    else if (k === 'x') this.clear();
    else return;
    e.preventDefault();
    this.showInfo();
  }

  private changed() {
    this.showInfo();
    this.onChange();
  }

  private showInfo() {
    const info = this.tools.info;
    info.hidden = !this.canvas.width;
    info.textContent = this.empty
      ? `No mask: the whole picture is redrawn (img2img). Brush size ${this.tools.size.value} px.`
      : `Inpainting: the painted part is redrawn, the rest kept. Brush size ${this.tools.size.value} px.`;
  }
}
