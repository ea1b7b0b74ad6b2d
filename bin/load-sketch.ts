import { access, constants } from 'node:fs/promises';
import Module, { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as runtime from '../runtime/index.js';
import { errors, Sketch, type SketchClass } from '../runtime/index.js';
import { addonError } from '../runtime/addon.js';
import { BUILTINS } from '../sketches/index.js';
import { loadError } from './load-error.js';
import { TranspileCache } from './ts-cache.js';
import { binUrl } from './paths.js';

/** URL of the runtime's entry point, which `import … from 'sketchnet'` in a user's file resolves to. */
const RUNTIME_URL = binUrl('../runtime/index.js').href;

let hooked = false;

/**
 * Makes `import { Sketch } from 'sketchnet'` in a user's sketch file resolve to this very
 * runtime (one module instance, so `instanceof Sketch` holds), wherever the file lives, and
 * registers tsx so TypeScript files load without a build step.
 */
async function installHooks(): Promise<void> {
  if (hooked) return;
  hooked = true;
  // Node.js 26 deprecates module.register() (DEP0205, for module.registerHooks()), which tsx's
  // register() calls too: its warning would be the first line on stderr of every `sketch run
  // FILE.ts`. Deprecation warnings are checked when emitted, so they are off only meanwhile.
  const noDeprecation = process.noDeprecation;
  process.noDeprecation = true;
  try {
    await registerHooks();
  } finally {
    process.noDeprecation = noDeprecation;
  }
}

async function registerHooks(): Promise<void> {
  register(
    'data:text/javascript,' +
      encodeURIComponent(
        `export async function resolve(s, c, next) { return s === 'sketchnet' ? { url: ${JSON.stringify(RUNTIME_URL)}, shortCircuit: true } : next(s, c); }`,
      ),
  );
  // A .ts file outside an ESM package is compiled to CommonJS: its require('sketchnet') gets
  // this runtime's own exports from the require cache, not a second copy of the runtime.
  const M = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, unknown>;
  };
  const runtimeFile = fileURLToPath(RUNTIME_URL);
  const cached = new Module(runtimeFile);
  Object.assign(cached, { filename: runtimeFile, loaded: true, exports: { __esModule: true, ...runtime } });
  M._cache[runtimeFile] = cached;
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'sketchnet' ? runtimeFile : original.call(this, request, ...rest);
  };
  (await import('tsx/esm/api')).register();
  (await import('tsx/cjs/api')).register();
}

/**
 * Loads the sketch class for `sketch run SPEC`: a built-in name (`clock`, `iopin`…) or a
 * path to a `.ts`/`.js` file whose default export extends `Sketch`.
 * @throws SketchError `SKETCH_ERR_UNKNOWN_SKETCH` (neither a built-in nor a file),
 *   `SKETCH_ERR_SKETCH_SYNTAX` (a syntax error, at `FILE:LINE:COLUMN`), `SKETCH_ERR_SKETCH_FILE`
 *   (unreadable or fails to load), `SKETCH_ERR_ADDON` (a native addon it
 *   imports fails to load), `SKETCH_ERR_NOT_A_SKETCH`.
 */
export async function loadSketch(spec: string, version?: number): Promise<SketchClass> {
  const builtin = BUILTINS[spec];
  if (builtin) return builtin();
  const looksLikeFile = spec.includes('/') || spec.includes(path.sep) || /\.[cm]?[jt]sx?$/.test(spec);
  const file = path.resolve(spec);
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    if (!looksLikeFile && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw errors.UNKNOWN_SKETCH(spec, Object.keys(BUILTINS));
    }
    throw errors.SKETCH_FILE(spec, err);
  }
  // `version` (a reload: `--watch`): a new module each time, not the one imported before.
  const query = version === undefined ? '' : `?v=${version}`;
  let mod: { default?: unknown } | undefined = await importCached(file, query);
  if (!mod) mod = await importThroughTsx(spec, file, query);
  let cls = mod.default;
  // A .ts file outside an ESM package is compiled to CommonJS: import() then wraps its exports.
  if (cls && typeof cls === 'object' && 'default' in cls) cls = (cls as { default: unknown }).default;
  if (typeof cls !== 'function' || !(cls.prototype instanceof Sketch)) throw errors.NOT_A_SKETCH(spec);
  return cls as SketchClass;
}

/**
 * A TypeScript sketch from the transpile cache (bin/ts-cache.ts): no tsx, no loader hooks, since
 * the cached code imports this runtime by URL. Undefined when the file is not cached and cannot
 * be, or when the cached module throws while loading: then tsx loads it again, and its error is
 * reported with the file's own locations (the module's top level runs a second time).
 */
async function importCached(file: string, query = ''): Promise<{ default?: unknown } | undefined> {
  const url = await new TranspileCache({ runtimeUrl: RUNTIME_URL }).urlFor(file).catch(() => undefined);
  if (!url) return undefined;
  process.setSourceMapsEnabled(true); // stack traces name the .ts file, as under tsx
  return (import(url + query) as Promise<{ default?: unknown }>).catch(() => undefined);
}

/** Any sketch file through tsx (TypeScript) or Node.js (JavaScript), with `sketchnet` mapped to this runtime. */
async function importThroughTsx(spec: string, file: string, query = ''): Promise<{ default?: unknown }> {
  await installHooks();
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(file).href + query);
  } catch (err) {
    // a native addon it imports: say which; else where it failed (FILE:LINE:COLUMN, the line, a caret)
    throw addonError(err) ?? (await loadError(spec, err));
  }
  return mod;
}

/** Names of the built-in sketches. */
export const builtinNames = (): string[] => Object.keys(BUILTINS);
