/**
 * The Node.js versions sketchnet runs on. CommonJS, written in syntax that old Node.js releases
 * parse (no `?.`, `??`, class fields; no `node:` imports) and importing nothing, so that the
 * `sketch` entry point can check the version before loading anything else: the Node.js 10, 12 or
 * 18 of an older Raspberry Pi OS then gets one clear line instead of a SyntaxError from deep
 * inside a dependency.
 */

/**
 * The oldest Node.js sketchnet runs on: 20.19.0 (yargs 18 and `require()` of ES modules need it).
 * Tested in CI (`.ci/run`): the machine's Node 20 and the 22, 24 and 26 LTS lines.
 */
export const MIN_NODE = '20.19.0';

/** `'20.19.0'` → `[20, 19, 0]`; missing or non-numeric parts count as 0. */
function parse(version: string): number[] {
  return version
    .replace(/^v/, '')
    .split('.')
    .slice(0, 3)
    .map((part) => parseInt(part, 10) || 0);
}

/** True when `version` (`process.versions.node`, e.g. `'18.20.8'`, a leading `v` allowed) is older than {@link MIN_NODE}. */
export function isTooOld(version: string): boolean {
  const have = parse(version);
  const need = parse(MIN_NODE);
  for (let i = 0; i < 3; i++) {
    if (have[i]! !== need[i]!) return have[i]! < need[i]!;
  }
  return false;
}

/** The one line (`SKETCH_ERR_NODE_VERSION`) for a Node.js that {@link isTooOld} refuses. */
export function tooOldMessage(version: string): string {
  return `this is Node.js v${version.replace(/^v/, '')}, sketchnet needs ${MIN_NODE} or newer: install a current LTS release (22, 24 or 26) from nodejs.org or your package manager`;
}
