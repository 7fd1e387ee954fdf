// The schedulers websd has and the names the widely used web UI shows for them (as its PNG "parameters" text
// writes them: the engine's pipeline/parameters_text.cpp has the same table, and a test checks they agree). The
// text itself comes from the engine: Model.parametersText in js/lib/engine.mjs.
export const SAMPLER_NAMES = { pndm: 'PLMS', ddim: 'DDIM', euler: 'Euler', euler_a: 'Euler a',
  euler_karras: 'Euler Karras', dpmpp_2m: 'DPM++ 2M', dpmpp_2m_karras: 'DPM++ 2M Karras', heun: 'Heun',
  unipc: 'UniPC', lcm: 'LCM' };

// A "parameters" text (websd's, or the web UI's it follows) -> { prompt, negativePrompt, fields }, where fields
// is every "Key: value" of its last line in order ([key, value] pairs, quoted values unquoted). As the web UI reads
// its own: the last line holds the fields only when at least three of them parse, else it is part of the prompt;
// a line starting "Negative prompt:" begins the negative prompt, and lines after it continue it.
/** @param {string} text @returns {{ prompt: string, negativePrompt: string, fields: [string, string][] }} */
export function parseParameters(text) {
  const lines = String(text).trim().split('\n');
  const FIELD = /\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
  const fieldsOf = (line) => [...line.matchAll(FIELD)].filter((m) => m[0].trim());
  let found = lines.length > 1 || /^Steps: /.test(lines[0]) ? fieldsOf(lines[lines.length - 1]) : [];
  if (found.length < 3) found = [];
  else lines.pop();
  let prompt = '', negativePrompt = '', inNegative = false;
  for (let line of lines) {
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trimStart();
    }
    if (inNegative) negativePrompt += (negativePrompt ? '\n' : '') + line;
    else prompt += (prompt ? '\n' : '') + line;
  }
  const unquote = (v) => {
    if (!v.startsWith('"')) return v.trim();
    try { return JSON.parse(v); } catch { return v.slice(1, -1); }
  };
  return { prompt: prompt.trim(), negativePrompt: negativePrompt.trim(),
    fields: found.map((m) => /** @type {[string, string]} */ ([m[1].trim(), unquote(m[2])])) };
}

// The web UI's sampler names (and its newer "Schedule type" beside them) -> the scheduler websd names them by;
// '' when websd has none of that name.
/** @param {string} sampler @param {string} [scheduleType] @returns {string} */
export function schedulerFromSampler(sampler, scheduleType = '') {
  const karras = /karras/i.test(scheduleType) && !/karras/i.test(sampler) ? ' Karras' : '';
  const wanted = `${sampler}${karras}`.toLowerCase();
  for (const [name, shown] of Object.entries(SAMPLER_NAMES)) if (shown.toLowerCase() === wanted) return name;
  return '';
}
