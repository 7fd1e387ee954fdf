// The page's handle on the engine Worker: requests become promises, the worker's events go to a per-request
// callback. The page holds no engine state of its own.
import type { Event, Reply, Request } from './protocol';

type Pending = { resolve: (v: any) => void; reject: (e: EngineError) => void; onEvent?: (e: Event) => void };

export class EngineError extends Error {
  constructor(message: string, readonly status: string) {
    super(message);
  }
}

// Distributes Omit over the request union so that each variant keeps its own fields.
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class EngineClient {
  private worker: Worker;
  private nextId = 1;
  private pending = new Map<number, Pending>();

  constructor(url = 'engine-worker.js') {
    this.worker = new Worker(url);
    this.worker.onmessage = (m: MessageEvent<Reply>) => this.receive(m.data);
    this.worker.onerror = (e) => {
      const error = new EngineError(`the engine worker failed: ${e.message || 'could not start (is websd.js served?)'}`, 'error');
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  request<T>(r: WithoutId<Request>, onEvent?: (e: Event) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEvent });
      this.worker.postMessage({ ...r, id });
    });
  }

  cancel() {
    this.worker.postMessage({ type: 'cancel' });
  }

  private receive(r: Reply) {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.type === 'event') {
      p.onEvent?.(r.event);
      return;
    }
    this.pending.delete(r.id);
    if (r.type === 'result') p.resolve(r.value);
    else p.reject(new EngineError(r.message, r.status));
  }
}
