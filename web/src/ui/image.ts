// Images on canvases and as PNG files with their generation parameters (the same text chunk the CLI writes).
import { encodePng } from '../../../js/lib/png.mjs';
import type { Image } from '../protocol';

export function drawRgb(canvas: HTMLCanvasElement, img: Image) {
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0, n = img.width * img.height; i < n; ++i) {
    rgba.data[4 * i] = img.rgb[3 * i];
    rgba.data[4 * i + 1] = img.rgb[3 * i + 1];
    rgba.data[4 * i + 2] = img.rgb[3 * i + 2];
    rgba.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
}

export function downloadPng(img: Image, parameters: string, fileName: string) {
  const png = encodePng(img, { parameters, Software: 'websd' }) as Uint8Array;
  const url = URL.createObjectURL(new Blob([png as BlobPart], { type: 'image/png' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
