// PNG info: the settings a PNG was made with, read from its "parameters" text (websd's, or the widely used web
// UI's that it follows), as changes to the form's settings; every field of the text is accounted for, either used
// or listed as not used here, so nothing it says is lost.
import { parseParameters, schedulerFromSampler } from '../../../js/lib/parameters.mjs';
import { readPngText } from '../../../js/lib/png.mjs';
import type { Settings } from '../settings';

export interface PngInfo {
  settings: Partial<Settings>;
  used: [string, string][];     // the fields that set something, as the text has them
  unused: [string, string][];   // the fields websd has no setting for (Model hash, Clip skip, ...)
  model: string;                // the "Model" field: the model it was made with ('' = not said)
}

// A PNG file's bytes -> its settings. Throws with a message that names the file when it is not a PNG or has no
// parameters text.
export function pngInfo(bytes: Uint8Array, fileName: string): PngInfo {
  let text: Record<string, string>;
  try {
    text = readPngText(bytes);
  } catch {
    throw new Error(`${fileName} is not a PNG file: PNG info reads the settings PNGs are saved with`);
  }
  if (!text.parameters) {
    throw new Error(`${fileName} has no "parameters" text, so it records no settings (websd and the widely used ` +
      'web UI write one into every PNG they save)');
  }
  return settingsFromParameters(text.parameters);
}

export function settingsFromParameters(parameters: string): PngInfo {
  const { prompt, negativePrompt, fields } = parseParameters(parameters);
  const get = new Map(fields);
  // What a text leaves out is off (no negative prompt, no hires fix, no scheduler options): it describes the image.
  const s: Partial<Settings> = { prompt, negativePrompt, literalPrompt: false, schedulerOptions: '', hiresScale: 1,
    hiresSteps: 0 };
  const used: [string, string][] = [], unused: [string, string][] = [];
  const int = (v: string) => (/^\d+$/.test(v) ? Number(v) : NaN);
  const num = (v: string) => (v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : NaN);
  const hires = get.has('Hires upscale');
  for (const [key, value] of fields) {
    let ok = true;
    switch (key) {
      case 'Steps': ok = int(value) >= 1 && (s.steps = int(value), true); break;
      case 'CFG scale': ok = num(value) >= 0 && (s.guidance = num(value), true); break;
      case 'Seed': ok = /^\d+$/.test(value) && (s.seed = value, s.seedLocked = true, true); break;
      case 'Size': {
        const m = /^(\d+)x(\d+)$/.exec(value);
        ok = !!m && (s.width = Number(m[1]), s.height = Number(m[2]), true);
        break;
      }
      case 'Sampler': {
        // websd's own "Scheduler" field names it exactly; the web UI's sampler (and schedule type) otherwise.
        const name = get.get('Scheduler') || schedulerFromSampler(value, get.get('Schedule type') ?? '');
        ok = !!name && (s.scheduler = name, true);
        break;
      }
      case 'Schedule type': ok = !!s.scheduler || !!schedulerFromSampler(get.get('Sampler') ?? '', value); break;
      case 'Scheduler': ok = !!get.get('Sampler') && s.scheduler === value; break;
      case 'Scheduler config': s.schedulerOptions = value; break;
      case 'Denoising strength':
        ok = num(value) >= 0 && num(value) <= 1;
        if (ok && hires) s.hiresStrength = num(value);
        else if (ok) s.strength = num(value);
        break;
      case 'Hires upscale': ok = num(value) >= 1 && (s.hiresScale = num(value), true); break;
      case 'Hires steps': ok = int(value) >= 0 && (s.hiresSteps = int(value), true); break;
      case 'Hires upscaler':
        ok = /^(latent|image)$/i.test(value) && (s.hiresUpscaler = value.toLowerCase() as Settings['hiresUpscaler'], true);
        break;
      case 'Prompt syntax': ok = value === 'literal' && (s.literalPrompt = true, true); break;
      case 'Model': break;  // said beside the settings: the user picks the model
      default: ok = false;
    }
    (ok ? used : unused).push([key, value]);
  }
  return { settings: s, used, unused, model: get.get('Model') ?? '' };
}
