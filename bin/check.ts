import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as TS from 'typescript';
import type { CommandModule } from 'yargs';
import { errors } from '../runtime/index.js';
import { die } from './fail.js';
import { binUrl } from './paths.js';

type TypeScript = typeof TS;

/**
 * The types `import … from 'sketchnet'` resolves to: this package's own — the very runtime that
 * `sketch run` gives a sketch file — as built (`dist/runtime/index.d.ts`), or its sources when
 * run unbuilt.
 */
const SKETCHNET_TYPES =
  ['../runtime/index.d.ts', '../dist/runtime/index.d.ts', '../runtime/index.ts']
    .map((rel) => fileURLToPath(binUrl(rel)))
    .find((file) => existsSync(file)) ?? fileURLToPath(binUrl('../runtime/index.d.ts'));

/**
 * Loads the TypeScript compiler: the user's own (`typescript` resolved from `cwd`, where
 * `npm install --save-dev typescript` puts it), else one installed beside sketchnet.
 * @throws SketchError `SKETCH_ERR_TYPESCRIPT_MISSING` when neither is found.
 */
export async function loadTypeScript(cwd = process.cwd()): Promise<TypeScript> {
  const candidates = [() => createRequire(path.join(cwd, 'noop.js')).resolve('typescript'), () => 'typescript'];
  for (const where of candidates) {
    let specifier: string;
    try {
      specifier = where();
    } catch {
      continue; // not installed in the user's project
    }
    try {
      const mod = (await import(path.isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier)) as TypeScript & { default?: TypeScript };
      return mod.default ?? mod;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  throw errors.TYPESCRIPT_MISSING();
}

/**
 * The compiler options `sketch check` uses: strict, ES modules as Node.js runs them (NodeNext),
 * standard (TC39) decorators — `experimentalDecorators` off, as `@reactive` needs — `.js` files
 * checked too, and `sketchnet` mapped to this package's own types.
 */
export function checkOptions(ts: TypeScript): TS.CompilerOptions {
  return {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    experimentalDecorators: false,
    esModuleInterop: true,
    allowJs: true,
    checkJs: true,
    skipLibCheck: true,
    paths: { sketchnet: [SKETCHNET_TYPES] },
  };
}

/**
 * Type-checks `files` (paths as given, relative to `cwd`) and returns one line per diagnostic,
 * `FILE:LINE:COL error TS2322: message` (FILE relative to `cwd`, LINE and COL from 1), in file
 * order; empty when there are none. Diagnostics in sketchnet's own types and in installed
 * packages are left out: only the user's files (the ones given and what they import) count.
 */
export function checkFiles(ts: TypeScript, files: readonly string[], cwd = process.cwd()): string[] {
  const roots = files.map((f) => path.resolve(cwd, f));
  const program = ts.createProgram(roots, checkOptions(ts));
  const ownDir = path.dirname(SKETCHNET_TYPES) + path.sep;
  const lines: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\s+/g, ' ').trim();
    const label = `${ts.DiagnosticCategory[d.category].toLowerCase()} TS${d.code}: ${text}`;
    if (!d.file || d.start === undefined) {
      lines.push(label);
      continue;
    }
    const file = path.resolve(d.file.fileName);
    if (file.startsWith(ownDir) || program.isSourceFileFromExternalLibrary(d.file) || d.file.isDeclarationFile) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const rel = path.relative(cwd, file);
    const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
    lines.push(`${shown}:${line + 1}:${character + 1} ${label}`);
  }
  return lines;
}

/** `sketch check FILE…`: type-check sketch files; one line per diagnostic, exit 1 on any. */
export const checkCommand: CommandModule<object, { files: string[] }> = {
  builder: (y) =>
    y.positional('files', { type: 'string', array: true, demandOption: true, describe: 'sketch files (.ts or .js)' }),
  handler: async (argv) => {
    const files = argv.files.map(String);
    for (const file of files) await access(file, constants.R_OK).catch((err: unknown) => die(errors.SKETCH_FILE(file, err)));
    const ts = await loadTypeScript().catch(die);
    const lines = checkFiles(ts, files);
    for (const line of lines) console.log(line);
    const n = `${files.length} file${files.length === 1 ? '' : 's'} checked`;
    if (lines.length === 0) {
      console.log(`${n}, no errors`);
      process.exit(0);
    }
    console.log(`${n}, ${lines.length} error${lines.length === 1 ? '' : 's'}`);
    process.exit(1);
  },
};
