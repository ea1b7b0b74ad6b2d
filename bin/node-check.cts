/**
 * What `sketch` checks before it loads anything else. CommonJS, and written in syntax that old
 * Node.js releases parse (no `?.`, `??`, class fields; no `node:` imports), so that the Node.js 10
 * or 12 of an older Raspberry Pi OS gets one clear line instead of a SyntaxError from deep inside
 * a dependency. Nothing here may import the rest of sketchnet.
 */
import nodeModule = require('module');

/**
 * The oldest Node.js `sketch` runs on: 20.19.0 (yargs 18 and `require()` of ES modules need it).
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

/**
 * Checks a Node.js version (`process.versions.node`, e.g. `'18.20.8'`) against {@link MIN_NODE}.
 * @returns undefined when it is new enough, else the line to print (error code
 *   `SKETCH_ERR_NODE_VERSION`, exit 1).
 */
export function checkNode(version: string): string | undefined {
  const have = parse(version);
  const need = parse(MIN_NODE);
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return undefined;
    if (have[i]! < need[i]!) {
      return `this is Node.js v${version.replace(/^v/, '')}, sketchnet needs ${MIN_NODE} or newer: install a current LTS release (22, 24 or 26) from nodejs.org or your package manager`;
    }
  }
  return undefined;
}

type CacheModule = {
  enableCompileCache?: () => { status: number };
  flushCompileCache?: () => void;
  constants?: { compileCacheStatus?: Record<string, number> };
};
const cacheApi = nodeModule as unknown as CacheModule;

/**
 * Turns on Node's on-disk compile cache (`module.enableCompileCache()`, Node ≥ 22.1) for the
 * modules loaded after this call, so that a second start skips compiling them. The cache lives
 * where Node puts it by default (`$NODE_COMPILE_CACHE`, else `<os.tmpdir()>/node-compile-cache`);
 * `NODE_DISABLE_COMPILE_CACHE=1` turns it off. A no-op on Node 20, which has no compile cache.
 * @returns Node's status name (`ENABLED`, `ALREADY_ENABLED`, `DISABLED`, `FAILED`; see
 *   `module.constants.compileCacheStatus`) or `'unsupported'`.
 */
export function enableCompileCache(): string {
  if (typeof cacheApi.enableCompileCache !== 'function') return 'unsupported';
  try {
    const status = cacheApi.enableCompileCache().status;
    const names = (cacheApi.constants && cacheApi.constants.compileCacheStatus) || {};
    for (const name of Object.keys(names)) if (names[name] === status) return name;
    return String(status);
  } catch (err) {
    return 'FAILED'; // a cache that cannot be written only costs start-up time
  }
}

/** Writes what the compile cache gathered so far (`module.flushCompileCache()`, Node ≥ 22.10); else a no-op. */
export function flushCompileCache(): void {
  if (typeof cacheApi.flushCompileCache !== 'function') return;
  try {
    cacheApi.flushCompileCache();
  } catch (err) {
    // as above: only start-up time is at stake
  }
}
