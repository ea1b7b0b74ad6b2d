/**
 * Other Node.js binaries for the tests that need one: those `.ci/fetch-node` put under
 * `$SKETCH_TEST_NODE_DIR` (default `.ci/.node`), one per release line (`.ci/run` fetches 18, 22,
 * 24 and 26 before the suite runs). Tests print `skipped: <reason>` when none fits.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './child.js';

export interface OtherNode {
  bin: string;
  /** `process.versions.node`, e.g. `24.21.0`. */
  version: string;
  /** `process.versions.modules`: the native addon ABI. */
  abi: string;
}

export const NODE_DIR = process.env.SKETCH_TEST_NODE_DIR || path.join(ROOT, '.ci', '.node');

/** Every Node.js binary under {@link NODE_DIR} that runs here, oldest line first. */
export function otherNodes(): OtherNode[] {
  if (!existsSync(NODE_DIR)) return [];
  const out: OtherNode[] = [];
  for (const line of readdirSync(NODE_DIR).sort((a, b) => Number(a) - Number(b))) {
    const bin = path.join(NODE_DIR, line, 'bin', 'node');
    const r = spawnSync(bin, ['-p', 'process.versions.node + " " + process.versions.modules'], { encoding: 'utf8', timeout: 10_000 });
    const [version, abi] = (r.stdout ?? '').trim().split(' ');
    if (r.status === 0 && version && abi) out.push({ bin, version, abi });
  }
  return out;
}

/** Why no Node.js binary under {@link NODE_DIR} fits, for a `skipped:` line. */
export const noNodeReason = (what: string) =>
  `no ${what} under ${NODE_DIR} (fetch one with .ci/fetch-node LINE, as .ci/run does)`;
