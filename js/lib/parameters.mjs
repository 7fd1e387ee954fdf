// How an image records its making, the same way as `websd generate` (src/apps/generate.cpp) writes it: the
// "parameters" PNG text chunk that other Stable Diffusion tools read and show.

// The CLI's scheduler names and how those tools call them.
export const SAMPLER_NAMES = { pndm: 'PLMS', ddim: 'DDIM', euler: 'Euler', euler_a: 'Euler a',
  euler_karras: 'Euler Karras', dpmpp_2m: 'DPM++ 2M', dpmpp_2m_karras: 'DPM++ 2M Karras', heun: 'Heun',
  unipc: 'UniPC', lcm: 'LCM' };

// "a lighthouse\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512,
// Model: sd15, Scheduler: euler_a"
/** @param {{ prompt: string, negativePrompt?: string, steps: number, scheduler: string, guidance: number,
 *   seed: string | bigint, width: number, height: number, model: string, schedulerConfig?: Record<string, unknown>,
 *   strength?: number, loras?: { name: string, scale: number }[] }} p */
export function parametersText({ prompt, negativePrompt = '', steps, scheduler, guidance, seed, width, height, model,
  schedulerConfig = {}, strength = undefined, loras = [], hires = null, literalPrompt = false, vae = '' }) {
  // LoRAs given as options are recorded as the prompt tags that ask for them, as the native tool does.
  let s = prompt + loras.map(({ name, scale }) => ` <lora:${name}:${scale}>`).join('');
  s += '\n';
  if (negativePrompt) s += `Negative prompt: ${negativePrompt}\n`;
  s += `Steps: ${steps}, Sampler: ${SAMPLER_NAMES[scheduler] || scheduler}, CFG scale: ${guidance}, ` +
    `Seed: ${seed}, Size: ${width}x${height}, Model: ${model}, Scheduler: ${scheduler}`;
  // As the native tool writes them (src/apps/generate.cpp): overrides, then the img2img strength.
  const overrides = Object.entries(schedulerConfig).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (overrides.length) s += `, Scheduler config: ${overrides.join(' ')}`;
  if (strength !== undefined) s += `, Denoising strength: ${strength}`;
  if (hires) {
    if (strength === undefined) s += `, Denoising strength: ${hires.strength}`;
    s += `, Hires upscale: ${hires.scale}`;
    if (hires.steps) s += `, Hires steps: ${hires.steps}`;
    s += `, Hires upscaler: ${hires.upscaler === 'image' ? 'image' : 'Latent'}`;
  }
  if (literalPrompt) s += ', Prompt syntax: literal';
  if (vae) s += `, VAE: ${vae}`;
  return s;
}
