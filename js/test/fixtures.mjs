// Where the parity fixtures live (never copied into the repo): $WEBSD_FIXTURES, else ../shared/fixtures.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../lib/node.mjs';

export const fixturesDir = process.env.WEBSD_FIXTURES || path.resolve(repoRoot, '../shared/fixtures');
export const fixture = (...parts) => path.join(fixturesDir, ...parts);

// A fixture's reference.json. Python wrote it, with bare Infinity in some scheduler configs: read as null.
export function readReferenceJson(model, name = 'reference.json') {
  return JSON.parse(fs.readFileSync(fixture(model, name), 'utf8').replace(/-?Infinity/g, 'null'));
}
