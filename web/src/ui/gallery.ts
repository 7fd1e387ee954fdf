// The gallery: every image made here, newest first, with its parameters, its time and speed, a download, "reuse
// settings" and delete; kept in the browser (gallery-store.ts) across reloads, all of it downloadable as one zip.
import { zipSync } from 'fflate';
import { encodePng } from '../../../js/lib/png.mjs';
import type { Image } from '../protocol';
import type { Settings } from '../settings';
import { bytes, duration } from './format';
import { downloadBlob, drawRgb } from './image';
import { GalleryStore, type StoredImage } from './gallery-store';

export interface GalleryItem {
  image: Image;
  settings: Settings;   // as used, with the image's own seed
  parameters: string;   // the PNG text
  fileName: string;
  seconds: number;
  itPerSecond: number;
}

interface Elements {
  list: HTMLOListElement;
  summary: HTMLElement;           // "3 images, 1.2 MiB"
  downloadAll: HTMLButtonElement;
  deleteAll: HTMLButtonElement;
}

export class Gallery {
  private store = new GalleryStore();
  private items: StoredImage[] = [];
  private persistent = true;
  // Called whenever what is stored changes (the page shows the total beside the models').
  onChange = () => {};

  constructor(private el: Elements, private onReuse: (s: Settings) => void,
    private onError: (message: string) => void) {
    el.downloadAll.onclick = () => this.downloadAll();
    el.deleteAll.onclick = () => void this.deleteAll();
    this.show();
  }

  get bytes() { return this.items.reduce((n, i) => n + i.png.size, 0); }

  // Shows what earlier visits stored.
  async restore() {
    try {
      this.items = await this.store.all();
    } catch (e) {
      this.persistent = false;
      this.onError(`The gallery cannot be kept in this browser (${(e as Error).message}): images made now last until ` +
        'the page is closed; download the ones to keep.');
      return;
    }
    this.el.list.replaceChildren();
    for (const item of this.items) this.render(item, null);
    this.show();
  }

  async add(item: GalleryItem) {
    const png = encodePng(item.image, { parameters: item.parameters, Software: 'websd' }) as Uint8Array;
    const stored: StoredImage = { png: new Blob([png as BlobPart], { type: 'image/png' }), parameters: item.parameters,
      settings: item.settings, fileName: item.fileName, width: item.image.width, height: item.image.height,
      seconds: item.seconds, itPerSecond: item.itPerSecond, createdAt: Date.now() };
    if (this.persistent) {
      try {
        stored.id = await this.store.add(stored);
      } catch (e) {
        const full = (e as Error).name === 'QuotaExceededError';
        this.onError(full ? 'The browser\'s storage is full, so this image is not kept after the page closes: ' +
          'delete some images or stored models, or download it.' : `This image could not be stored: ${(e as Error).message}`);
      }
    }
    this.items.push(stored);
    this.render(stored, item.image);
    this.show();
  }

  private render(item: StoredImage, image: Image | null) {
    const li = document.createElement('li');
    const canvas = document.createElement('canvas');
    canvas.setAttribute('aria-label', `image: ${item.settings.prompt}`);
    if (image) drawRgb(canvas, image);
    else void drawBlob(canvas, item.png);
    const params = document.createElement('div');
    params.className = 'params';
    params.textContent = item.parameters;
    params.title = item.parameters;
    const timing = document.createElement('div');
    timing.className = 'timing';
    timing.textContent = `${item.width}×${item.height} · ${duration(item.seconds)} · ${item.itPerSecond.toFixed(2)} it/s`;
    const button = (text: string, title: string, onclick: () => void) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      b.title = title;
      b.onclick = onclick;
      return b;
    };
    const actions = document.createElement('div');
    actions.className = 'row tight';
    actions.append(
      button('Reuse settings', 'put these settings in the form', () => this.onReuse(item.settings)),
      button('PNG', `download ${item.fileName}`, () => downloadBlob(item.png, item.fileName)),
      button('Delete', 'delete this image from the browser', () => void this.remove(item, li)));
    li.append(canvas, timing, params, actions);
    this.el.list.prepend(li);
  }

  private async remove(item: StoredImage, li: HTMLLIElement) {
    try {
      if (item.id !== undefined) await this.store.remove(item.id);
    } catch (e) {
      this.onError(`The image could not be deleted: ${(e as Error).message}`);
      return;
    }
    this.items = this.items.filter((i) => i !== item);
    li.remove();
    this.show();
  }

  private async deleteAll() {
    if (!this.items.length || !confirm(`Delete all ${this.items.length} images from this browser?`)) return;
    try {
      await this.store.clear();
    } catch (e) {
      this.onError(`The gallery could not be emptied: ${(e as Error).message}`);
      return;
    }
    this.items = [];
    this.el.list.replaceChildren();
    this.show();
  }

  // One zip of every image as its PNG file (PNGs are compressed already: stored as they are).
  private async downloadAll() {
    const files: Record<string, [Uint8Array, { level: 0 }]> = {};
    for (const item of this.items) {
      let name = item.fileName;
      for (let n = 2; name in files; ++n) name = item.fileName.replace(/\.png$/, `-${n}.png`);
      files[name] = [new Uint8Array(await item.png.arrayBuffer()), { level: 0 }];
    }
    downloadBlob(new Blob([zipSync(files) as BlobPart], { type: 'application/zip' }), 'websd-gallery.zip');
  }

  private show() {
    const n = this.items.length;
    this.el.summary.textContent = n ? `${n} image${n > 1 ? 's' : ''}, ${bytes(this.bytes)}` +
      (this.persistent ? ' kept in this browser' : ' (not kept: this browser offers no storage)') : 'none yet';
    this.el.downloadAll.disabled = this.el.deleteAll.disabled = !n;
    this.onChange();
  }
}

async function drawBlob(canvas: HTMLCanvasElement, blob: Blob) {
  const bitmap = await createImageBitmap(blob);
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
  bitmap.close();
}
