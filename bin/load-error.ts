import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors, type SketchError } from '../runtime/index.js';
import { binUrl } from './paths.js';

/** A place in a source file: `line` and `column` count from 1 (columns in characters). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  /** The text of that line, when known. */
  lineText?: string;
}

/** sketchnet's own code (built or not): frames in it are never the user's. */
const OWN_DIRS = ((base) => (path.basename(base) === 'dist' ? [base] : ['runtime', 'bin', 'sketches'].map((d) => path.join(base, d) + path.sep)))(
  fileURLToPath(binUrl('..')),
);

/** Longest `node --check` may take to locate a syntax error, in ms. */
const CHECK_TIMEOUT_MS = 5000;

/**
 * What `sketch run FILE` prints when FILE fails to load (`import()` threw `err`):
 * - a syntax error (esbuild's, when tsx compiled the file, or Node's own) →
 *   `SKETCH_ERR_SKETCH_SYNTAX`: `FILE:LINE:COLUMN: syntax error: MESSAGE`;
 * - anything else thrown while loading → `SKETCH_ERR_SKETCH_FILE`, naming `FILE:LINE:COLUMN`
 *   (the first frame of the stack in a file of the user's) when the stack has one.
 *
 * Both carry the offending line with a caret under the column as `detail`. `spec` is the file as
 * the user named it; locations are printed relative to the working directory. An ES module's
 * syntax error carries no location in Node.js 20: it is found by running `node --check FILE`.
 */
export async function loadError(spec: string, err: unknown): Promise<SketchError> {
  const syntax = (await esbuildLocation(err)) ?? nodeSyntaxLocation(err);
  if (syntax) return errors.SKETCH_SYNTAX(await where(syntax.at), syntax.message, excerpt(syntax.at), err);
  if (err instanceof SyntaxError && !frameLocation(err)) {
    const found = await checkSyntax(spec);
    if (found) return errors.SKETCH_SYNTAX(await where(found.at), found.message, excerpt(found.at), err);
    return errors.SKETCH_FILE(spec, err); // e.g. an import of a name the module does not export
  }
  const at = frameLocation(err);
  if (!at) return errors.SKETCH_FILE(spec, err);
  const located = await where(at);
  return errors.SKETCH_FILE(located, err, excerpt(at));
}

/** `FILE:LINE:COLUMN` (FILE relative to the working directory when inside it), reading the line's text into `at`. */
async function where(at: SourceLocation): Promise<string> {
  at.lineText ??= await lineOf(at.file, at.line);
  const rel = path.relative(process.cwd(), at.file);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : at.file;
  return `${shown}:${at.line}:${at.column}`;
}

/**
 * The source line and a caret under `column`, compiler style:
 * ```
 *     4 |     const a = ;
 *       |               ^
 * ```
 * Tabs before the column are kept in the caret line so that the caret lines up. Undefined when
 * the line's text is unknown.
 */
export function excerpt(at: SourceLocation): string | undefined {
  if (at.lineText === undefined) return undefined;
  const gutter = String(at.line).padStart(5);
  const before = at.lineText.slice(0, Math.max(0, at.column - 1)).replace(/[^\t]/g, ' ');
  return `${gutter} | ${at.lineText}\n${' '.repeat(gutter.length)} | ${before}^`;
}

/**
 * esbuild's error (tsx compiled the file): `errors[0].location`, or (the error crossed a thread
 * and lost its fields) its message's `FILE:LINE:COL: ERROR: TEXT` line. esbuild counts columns in
 * UTF-8 bytes from 0: they become characters from 1 once the line is read.
 */
export async function esbuildLocation(err: unknown): Promise<{ at: SourceLocation; message: string } | undefined> {
  const e = err as { errors?: Array<{ text?: string; location?: { file: string; line: number; column: number; lineText: string } | null }>; message?: unknown };
  const first = Array.isArray(e?.errors) ? e.errors[0] : undefined;
  if (first?.location) {
    const { file, line, column, lineText } = first.location;
    return { at: { file: path.resolve(file), line, column: byteColumn(lineText, column) + 1, lineText }, message: first.text ?? '' };
  }
  if (typeof e?.message !== 'string' || !e.message.startsWith('Transform failed')) return undefined;
  const m = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(e.message);
  if (!m) return undefined;
  const file = path.resolve(m[1]!);
  const line = Number(m[2]);
  const lineText = await lineOf(file, line);
  const column = (lineText === undefined ? Number(m[3]) : byteColumn(lineText, Number(m[3]))) + 1;
  return { at: { file, line, column, lineText }, message: m[4]! };
}

/** Line `line` (from 1) of `file`, or undefined when it cannot be read. */
async function lineOf(file: string, line: number): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text?.split(/\r?\n/)[line - 1];
}

/** The character index in `text` at UTF-8 byte offset `bytes`. */
export function byteColumn(text: string, bytes: number): number {
  return Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8').length;
}

/**
 * Node's own SyntaxError for a CommonJS file (and `node --check` output): its stack starts with
 * `FILE:LINE`, the line, then a caret under the column.
 */
export function nodeSyntaxLocation(err: unknown): { at: SourceLocation; message: string } | undefined {
  if (!(err instanceof SyntaxError) || typeof err.stack !== 'string') return undefined;
  return syntaxHeader(err.stack, err.message);
}

/** `FILE:LINE\nTEXT\n   ^` at the start of `text` (a decorated stack, or `node --check`'s stderr). */
function syntaxHeader(text: string, message: string): { at: SourceLocation; message: string } | undefined {
  const m = /^(.+):(\d+)\r?\n(.*)\r?\n( *)\^/.exec(text);
  if (!m) return undefined;
  const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
  return { at: { file, line: Number(m[2]), column: m[4]!.length + 1, lineText: m[3]! }, message };
}

/** Runs `node --check FILE` (ES modules' syntax errors carry no location): the location it prints, if any. */
function checkSyntax(spec: string): Promise<{ at: SourceLocation; message: string } | undefined> {
  const file = path.resolve(spec);
  if (!/\.[cm]?js$/.test(file)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(process.execPath, ['--check', file], { timeout: CHECK_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) return resolve(undefined);
      const message = /^SyntaxError: (.*)$/m.exec(stderr)?.[1];
      resolve(message ? syntaxHeader(stderr, message) : undefined);
    });
  });
}

/** The first stack frame in a file of the user's (not Node's, not a dependency's, not sketchnet's). */
export function frameLocation(err: unknown): SourceLocation | undefined {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
  for (const m of stack.matchAll(/^\s+at (?:.*\()?((?:file:\/\/)?\/[^():]*|[A-Za-z]:\\[^():]*):(\d+):(\d+)\)?$/gm)) {
    const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (file.includes(`${path.sep}node_modules${path.sep}`) || OWN_DIRS.some((d) => file.startsWith(d))) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}
