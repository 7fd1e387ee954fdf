// The GPU tuning panel: whether kernels are tuned for this GPU (a table in the Worker's OPFS store, one per
// adapter), a button that tunes them at the loaded model's problems (src/backends/webgpu/tuner.h: every kernel
// variant timed on this GPU, the fastest kept where it beats the built-in rules), and one that forgets the table.
import type { EngineClient } from '../engine-client';
import type { Event, TuningInfo } from '../protocol';
import { duration } from './format';

export class TuningPanel {
  constructor(private engine: EngineClient, private el: {
    summary: HTMLElement; detail: HTMLElement; tune: HTMLButtonElement; reset: HTMLButtonElement;
    progress: HTMLProgressElement;
  }, private hooks: {
    // What tuning runs for: the loaded model on the GPU at the generation's size and guidance, or why not.
    job: () => { width: number; height: number; guidance: number } | string;
    busy: (message: string) => void;   // tuning started (the page's Cancel stops it)
    done: (message: string, error: boolean) => void;
  }) {
    el.tune.addEventListener('click', () => void this.tune());
    el.reset.addEventListener('click', () => void this.reset());
  }

  show(t: TuningInfo | null) {
    this.el.summary.textContent = t ? `tuned, ${t.improved} of ${t.problems} problems faster` : 'built-in rules';
    this.el.detail.textContent = t
      ? `The kernels are tuned for this GPU: ${t.improved} of the ${t.problems} problems measured run a faster ` +
        `variant than the built-in rules pick (${t.rulesMs.toFixed(1)} → ${t.tunedMs.toFixed(1)} ms of GPU time ` +
        `for one run of the networks, each problem timed alone)${t.seconds ? `; tuned in ${duration(t.seconds)}` : ''}.`
      : 'The kernels run as websd\'s built-in rules pick them for every GPU. Tuning times each kernel variant at ' +
        'the loaded model\'s problems on this GPU (one to a few minutes) and keeps the fastest; it is stored in this ' +
        'browser and used from then on.';
    this.el.reset.disabled = !t;
  }

  private async tune() {
    const job = this.hooks.job();
    if (typeof job === 'string') return this.hooks.done(job, true);
    this.hooks.busy('Tuning the GPU kernels for this model…');
    this.el.progress.hidden = false;
    this.el.progress.value = 0;
    const onEvent = (e: Event) => {
      if (e.phase !== 'tune') return;
      this.el.progress.max = Math.max(e.total, 1);
      this.el.progress.value = e.done;
    };
    try {
      const t = await this.engine.request<TuningInfo>({ type: 'tune', ...job }, onEvent);
      this.show(t);
      this.hooks.done(`Tuned in ${duration(t.seconds)}: ${t.improved} of ${t.problems} problems run faster here; ` +
        'the model was opened again with them.', false);
    } catch (e) {
      const err = e as Error & { status?: string };
      this.hooks.done(err.status === 'cancelled' ? 'Tuning cancelled: nothing was stored, the kernels stay as they were.'
        : `Tuning failed: ${err.message}`, err.status !== 'cancelled');
    } finally {
      this.el.progress.hidden = true;
    }
  }

  private async reset() {
    this.hooks.busy('Forgetting the tuning…');
    try {
      await this.engine.request({ type: 'tuning-reset' });
      this.show(null);
      this.hooks.done('The tuning of this GPU is forgotten: the built-in rules apply again.', false);
    } catch (e) {
      this.hooks.done(`Could not forget the tuning: ${(e as Error).message}`, true);
    }
  }
}
