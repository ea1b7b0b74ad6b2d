/**
 * Native addons (compiled `.node` files such as onoff's `epoll`) are what usually breaks on a
 * new Node.js or a new machine. {@link addonError} turns the many ways they fail to load into
 * one `SKETCH_ERR_ADDON` line: which addon, what uses it, why, and the command that fixes it.
 *
 * The failures recognised:
 * - Node's `process.dlopen` refusing a file built for another Node.js ABI
 *   (`ERR_DLOPEN_FAILED`, "compiled against a different Node.js version using
 *   NODE_MODULE_VERSION A. This version of Node.js requires NODE_MODULE_VERSION B");
 * - the dynamic linker refusing a file built for another machine (`invalid ELF header`,
 *   `wrong ELF class`, a missing shared library or symbol);
 * - the `bindings` package finding no built file at all ("Could not locate the bindings file"),
 *   which is what an install without its build step (no compiler, scripts not allowed) leaves.
 */
import path from 'node:path';
import { errors, oneLine, type SketchError } from './errors.js';

/** What each native addon sketchnet depends on is for, as said in {@link addonError}'s line. */
export const KNOWN_ADDONS: Readonly<Record<string, string>> = {
  epoll: 'used by onoff for GPIO pins',
  'better-sqlite3': 'used by the recorder, sketch export and sketch replay for the SQLite database',
  'better-sqlite3-v12': 'used on Node.js 20 by the recorder, sketch export and sketch replay for the SQLite database',
};

/**
 * `process.versions.modules` (the addon ABI, NODE_MODULE_VERSION) of each Node.js release line,
 * from Node's doc/abi_version_registry.json, to name the Node an addon was built for.
 */
const NODE_FOR_ABI: Readonly<Record<string, string>> = {
  '93': '16',
  '108': '18',
  '115': '20',
  '120': '21',
  '127': '22',
  '131': '23',
  '137': '24',
  '141': '25',
  '147': '26',
};

const abiName = (abi: string) => (NODE_FOR_ABI[abi] ? `Node.js ${NODE_FOR_ABI[abi]}, ABI ${abi}` : `ABI ${abi}`);

/** Build tools a rebuild needs on Debian and Raspberry Pi OS. */
const BUILD_TOOLS = 'sudo apt install python3 make g++';

/**
 * When `err` is a failure to load a native addon, the `SKETCH_ERR_ADDON` error to show instead;
 * otherwise undefined. `runtime` is the running Node.js (defaults: `process.version`,
 * `process.versions.modules`, `process.arch`) so that tests can vary it.
 */
export function addonError(
  err: unknown,
  runtime: { version: string; abi: string; arch: string } = {
    version: process.version,
    abi: process.versions.modules,
    arch: process.arch,
  },
): SketchError | undefined {
  if (!(err instanceof Error)) return undefined;
  const text = err.message;
  const code = (err as NodeJS.ErrnoException).code;
  const notBuilt = /Could not locate the bindings file/.test(text);
  if (code !== 'ERR_DLOPEN_FAILED' && !notBuilt && !/\.node\b[^\n]*:/.test(text.split('\n', 1)[0] ?? '')) {
    return undefined;
  }
  const file = /(\/[^\s'"]+\.node)\b/.exec(text)?.[1];
  const { addon, dir } = locate(file ?? '');
  const usedBy = KNOWN_ADDONS[addon] ?? 'a compiled module';
  const rebuild = dir
    ? `rebuild it with "npm rebuild ${addon}" in ${dir} (needs build tools: ${BUILD_TOOLS})`
    : `rebuild it with "npm rebuild" where sketchnet is installed (needs build tools: ${BUILD_TOOLS})`;
  const abi = /NODE_MODULE_VERSION (\d+)\.[^]*NODE_MODULE_VERSION (\d+)/.exec(text);
  let why: string;
  if (abi) {
    why = `it was built for ${abiName(abi[1]!)} but this is ${runtime.version} (ABI ${abi[2]}), e.g. after Node.js was upgraded`;
  } else if (notBuilt) {
    why = 'it was never built (its build step did not run or failed during npm install)';
  } else if (/invalid ELF header|wrong ELF class|ELF file|architecture/i.test(text)) {
    why = `the compiled file is for another kind of machine than this ${runtime.arch} one (copied node_modules?): ${detail(text, file)}`;
  } else {
    why = detail(text, file);
  }
  return errors.ADDON(addon, usedBy, why, rebuild, err);
}

/** The addon's package name and the folder holding its `node_modules`, from the `.node` file's path. */
function locate(file: string): { addon: string; dir: string | undefined } {
  const parts = file.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at === -1 || at + 1 >= parts.length) return { addon: path.basename(file || 'addon.node', '.node'), dir: undefined };
  const scoped = parts[at + 1]!.startsWith('@');
  const addon = scoped ? `${parts[at + 1]}/${parts[at + 2]}` : parts[at + 1]!;
  return { addon, dir: parts.slice(0, at).join('/') || '/' };
}

/** The loader's own words, without the file path already named elsewhere. */
function detail(text: string, file: string | undefined): string {
  const line = oneLine(text);
  const rest = file ? line.split(`${file}: `).pop()! : line;
  return rest.trim() || line;
}
