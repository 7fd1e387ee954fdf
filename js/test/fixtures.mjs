// Where the parity fixtures live (never copied into the repo): $WEBSD_FIXTURES, else ../shared/fixtures.
import path from 'node:path';
import { repoRoot } from '../lib/node.mjs';

export const fixturesDir = process.env.WEBSD_FIXTURES || path.resolve(repoRoot, '../shared/fixtures');
export const fixture = (...parts) => path.join(fixturesDir, ...parts);
