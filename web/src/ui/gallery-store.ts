// The gallery's storage: every image made here, as the PNG file it downloads as (its parameters text inside) with
// the settings it was made with, in IndexedDB, so that it survives reloads until the user deletes it.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { Settings } from '../settings';

export interface StoredImage {
  id?: number;          // given by the store, in the order images were made
  png: Blob;
  parameters: string;
  settings: Settings;
  fileName: string;
  width: number;
  height: number;
  seconds: number;      // the generation's time, shared by the images it made together
  itPerSecond: number;
  createdAt: number;    // ms since the epoch
}

interface GallerySchema extends DBSchema {
  images: { key: number; value: StoredImage };
}

const DB = 'websd-gallery';

export class GalleryStore {
  private db: Promise<IDBPDatabase<GallerySchema>> | null = null;

  private open() {
    this.db ??= openDB<GallerySchema>(DB, 1, {
      upgrade(db) { db.createObjectStore('images', { keyPath: 'id', autoIncrement: true }); },
    });
    return this.db;
  }

  async all(): Promise<StoredImage[]> {
    return (await this.open()).getAll('images');
  }

  // Stores the image and resolves to its id.
  async add(image: StoredImage): Promise<number> {
    return (await this.open()).add('images', image);
  }

  async remove(id: number) {
    await (await this.open()).delete('images', id);
  }

  async clear() {
    await (await this.open()).clear('images');
  }
}
