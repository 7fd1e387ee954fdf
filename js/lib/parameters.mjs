// The schedulers websd has and the names the widely used web UI shows for them (as its PNG "parameters" text
// writes them: the engine's pipeline/parameters_text.cpp has the same table, and a test checks they agree). The
// text itself comes from the engine: Model.parametersText in js/lib/engine.mjs.
export const SAMPLER_NAMES = { pndm: 'PLMS', ddim: 'DDIM', euler: 'Euler', euler_a: 'Euler a',
  euler_karras: 'Euler Karras', dpmpp_2m: 'DPM++ 2M', dpmpp_2m_karras: 'DPM++ 2M Karras', heun: 'Heun',
  unipc: 'UniPC', lcm: 'LCM' };
