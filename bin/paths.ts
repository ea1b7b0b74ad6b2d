/**
 * Where the CLI's files are, wherever its code runs from: tsc's dist/bin/, a bundle chunk in
 * dist/runtime/chunks/ (scripts/bundle.mjs), or the TypeScript sources under tsx. Code that
 * finds files relative to itself uses {@link binUrl}, never its own `import.meta.url`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** The sketchnet package's folder (its package.json's), found upwards from this module, and its version. */
const [root, version] = ((): [string, string] => {
  for (let dir = path.dirname(here); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sketchnet') return [dir, pkg.version ?? 'unknown'];
    } catch {
      // not here: look higher
    }
  }
  return [path.resolve(path.dirname(here), '..', '..'), 'unknown']; // dist/bin/ → the package
})();

/** The sketchnet package's folder (its package.json's), found upwards from this module. */
export const PACKAGE_ROOT = root;

/**
 * sketchnet's version, from its own package.json: what `sketch --version` prints. (yargs would
 * look for a package.json upwards from its own file, which in the bundle is not under
 * node_modules, and then from the working directory: the user's project.)
 */
export const PACKAGE_VERSION = version;

/** Whether this is the built CLI (JavaScript in dist/) rather than its sources run through tsx. */
export const BUILT = here.endsWith('.js');

/** The folder of the CLI's modules: `dist/bin` when built, `bin` from the sources. */
export const BIN_DIR = path.join(PACKAGE_ROOT, ...(BUILT ? ['dist', 'bin'] : ['bin']));

/** `rel` resolved against {@link BIN_DIR}, as `new URL(rel, import.meta.url)` would in a module there. */
export const binUrl = (rel: string): URL => new URL(rel, pathToFileURL(BIN_DIR + path.sep));
