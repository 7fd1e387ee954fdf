// The session gallery: every image made in this tab, with its parameters, a download and "reuse settings".
import { drawRgb, downloadPng } from './image';
import type { Image } from '../protocol';
import type { Settings } from '../settings';

export interface GalleryItem {
  image: Image;
  settings: Settings;   // as used, with the image's own seed
  parameters: string;   // the PNG text
  fileName: string;
}

export class Gallery {
  constructor(private list: HTMLOListElement, private onReuse: (s: Settings) => void) {}

  add(item: GalleryItem) {
    const li = document.createElement('li');
    const canvas = document.createElement('canvas');
    drawRgb(canvas, item.image);
    const params = document.createElement('div');
    params.className = 'params';
    params.textContent = item.parameters;
    params.title = item.parameters;
    const reuse = document.createElement('button');
    reuse.type = 'button';
    reuse.textContent = 'Reuse settings';
    reuse.onclick = () => this.onReuse(item.settings);
    const save = document.createElement('button');
    save.type = 'button';
    save.textContent = 'PNG';
    save.onclick = () => downloadPng(item.image, item.parameters, item.fileName);
    li.append(canvas, params, reuse, save);
    this.list.prepend(li);
  }
}
