/**
 * The transpile cache for users' TypeScript sketches: `sketch run my.ts` compiles the file once
 * (esbuild, as tsx would) and keeps the JavaScript under the user's cache directory, keyed by the
 * file's path, size and mtime (and the runtime it binds to), so that a second start imports plain
 * JavaScript without registering tsx (its loader thread and compiler cost ~100 ms of a start).
 *
 * Only self-contained sketches are cached: a file whose imports are all `sketchnet` and Node.js
 * built-ins, and that uses no CommonJS (`require`, `module`, `__dirname`). Anything else (a
 * relative import of another file, an npm package, a syntax error) is left to tsx, as before.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Bumped when the shape of cached files changes: older entries are then never read. */
const CACHE_FORMAT = 1;

/** esbuild's target for the cache: the running Node.js, as tsx does. */
const TARGET = `node${process.versions.node}`;

const BUILTINS = new Set(builtinModules);

/**
 * The user's cache directory for sketchnet: `$SKETCH_CACHE_DIR` if set, else
 * `$XDG_CACHE_HOME/sketchnet`, else `~/Library/Caches/sketchnet` (macOS),
 * `%LOCALAPPDATA%\sketchnet\Cache` (Windows) or `~/.cache/sketchnet`.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (env.SKETCH_CACHE_DIR) return env.SKETCH_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'sketchnet');
  if (platform === 'darwin') return path.join(home, 'Library', 'Caches', 'sketchnet');
  if (platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'sketchnet', 'Cache');
  return path.join(home, '.cache', 'sketchnet');
}

/** Whether `file` is TypeScript the cache handles (`.ts`, `.mts`; not `.cts`, which is CommonJS). */
export const cacheable = (file: string): boolean => /\.m?ts$/.test(file);

/**
 * The specifiers a module's `import`/`export … from`/`import()` name, read from esbuild's
 * normalised output (double-quoted specifiers). Undefined when an `import()` takes an expression.
 */
export function importedSpecifiers(js: string): string[] | undefined {
  const found: string[] = [];
  for (const m of js.matchAll(/\b(?:import|export)\b[^;"'`()]*?\bfrom\s*"([^"]+)"|\bimport\s*"([^"]+)"|\bimport\s*\(\s*([^)]*)\)/g)) {
    const literal = m[1] ?? m[2] ?? /^"([^"]+)"$/.exec((m[3] ?? '').trim())?.[1];
    if (literal === undefined) return undefined; // import(expression): cannot tell
    found.push(literal);
  }
  return found;
}

/** Whether compiled code stands alone: imports only `sketchnet` and built-ins, and no CommonJS. */
export function selfContained(js: string): boolean {
  if (/\b(?:require\s*\(|module\.exports|exports\.|__dirname|__filename)/.test(js)) return false;
  const specs = importedSpecifiers(js);
  return specs !== undefined && specs.every((s) => s === 'sketchnet' || s.startsWith('node:') || BUILTINS.has(s));
}

/** What {@link TranspileCache} needs besides the file. */
export interface TranspileCacheOptions {
  /** Where cached files go. Default: {@link cacheDir}() + `/ts`. */
  dir?: string;
  /** The URL `import … from 'sketchnet'` is rewritten to (this install's runtime entry). */
  runtimeUrl: string;
}

/** Compiled TypeScript sketches on disk, by path + size + mtime. */
export class TranspileCache {
  readonly dir: string;
  readonly #runtimeUrl: string;

  constructor(options: TranspileCacheOptions) {
    this.dir = options.dir ?? path.join(cacheDir(), 'ts');
    this.#runtimeUrl = options.runtimeUrl;
  }

  /** The cache file for `file` as it is now (absolute path); undefined when it cannot be stat'ed. */
  async entryFor(file: string): Promise<string | undefined> {
    const st = await stat(file).catch(() => undefined);
    if (!st) return undefined;
    const key = createHash('sha256')
      .update(JSON.stringify([CACHE_FORMAT, file, st.size, st.mtimeMs, this.#runtimeUrl, TARGET]))
      .digest('hex')
      .slice(0, 32);
    return path.join(this.dir, `${key}.mjs`);
  }

  /**
   * The URL to import for `file`: its cached compilation when there is one, else a new one
   * compiled and stored now. Undefined when the file is not for the cache (not self-contained, a
   * syntax error, an unwritable cache): the caller loads it through tsx.
   */
  async urlFor(file: string): Promise<string | undefined> {
    if (!cacheable(file)) return undefined;
    const entry = await this.entryFor(file);
    if (!entry) return undefined;
    if (await stat(entry).then(() => true, () => false)) return pathToFileURL(entry).href;
    const js = await this.#compile(file);
    if (js === undefined) return undefined;
    try {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${entry}.${process.pid}.tmp`;
      await writeFile(tmp, js);
      await rename(tmp, entry); // whole or nothing, whoever else compiles it at the same time
    } catch {
      return undefined; // a cache that cannot be written only costs start-up time
    }
    return pathToFileURL(entry).href;
  }

  /** `file` compiled to an ES module with `sketchnet` bound to this runtime; undefined if not cacheable. */
  async #compile(file: string): Promise<string | undefined> {
    let transform: typeof import('esbuild').transform;
    try {
      ({ transform } = await import('esbuild'));
    } catch {
      return undefined; // no esbuild beside sketchnet: tsx does it all
    }
    const source = await readFile(file, 'utf8');
    let code: string;
    try {
      // Standard (TC39) decorators, as `sketch check` type-checks them; a source map inline so
      // that stack traces name the .ts file and its lines.
      ({ code } = await transform(source, {
        loader: 'ts',
        format: 'esm',
        target: TARGET,
        sourcemap: 'inline',
        sourcefile: pathToFileURL(file).href,
        tsconfigRaw: { compilerOptions: { experimentalDecorators: false, useDefineForClassFields: true } },
      }));
    } catch {
      return undefined; // a syntax error: tsx's path reports it with its location
    }
    if (!selfContained(code)) return undefined;
    return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)"sketchnet"/g, (_m, lead: string) => `${lead}${JSON.stringify(this.#runtimeUrl)}`);
  }
}
