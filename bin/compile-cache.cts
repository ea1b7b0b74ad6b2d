/**
 * Node's on-disk compile cache for the CLI. Loaded by the entry point before the Node.js version
 * is known to be supported, so: CommonJS in old syntax, like runtime/node-version.cts.
 */
import nodeModule = require('module');

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
