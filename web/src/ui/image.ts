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

// An image file (PNG, JPEG, WebP: whatever the browser decodes) on a canvas, scaled down to at most `maxSide` pixels
// a side; rejects with a message naming the file for anything else.
export async function decodeImageFile(file: File, maxSide = Infinity): Promise<HTMLCanvasElement> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name} is not an image this browser can read`);
  }
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const c = document.createElement('canvas');
  c.width = Math.max(1, Math.round(bitmap.width * scale));
  c.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = c.getContext('2d')!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, c.width, c.height);
  bitmap.close();
  return c;
}

// A canvas (or `source` drawn on one at width x height) as RGB.
export function canvasRgb(source: HTMLCanvasElement, width = source.width, height = source.height): Image {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, n = width * height; i < n; ++i) {
    rgb[3 * i] = rgba[4 * i];
    rgb[3 * i + 1] = rgba[4 * i + 1];
    rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width, height, rgb };
}

export function downloadPng(img: Image, parameters: string, fileName: string) {
  const png = encodePng(img, { parameters, Software: 'websd' }) as Uint8Array;
  downloadBlob(new Blob([png as BlobPart], { type: 'image/png' }), fileName);
}

export function downloadBlob(blob: Blob, fileName: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
