/**
 * The device file of `sketch up` (`sketchnet.yaml`; JSON too): which sketches one device runs,
 * each with its kind or file and its `sketch run` options. Parsed with the `yaml` package and
 * checked as `sketch run` checks its options, with one `FILE:LINE: where: what` line per
 * problem. No network: the only I/O is reading the file and loading the sketch classes named.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Options } from 'yargs';
import type { Node, Pair, YAMLMap } from 'yaml';
import { resolveOptions, type OptionSchema, type SketchClass } from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import { parsePeerAddress } from '../runtime/net/address.js';
import { flagName } from '../runtime/options.js';
import { parseOrigins } from '../runtime/security/origin.js';
import { BUILTINS } from '../sketches/index.js';
import { BROKER_OPTIONS, HA_OPTION } from './broker-options.js';
import { CLIENT_SECURITY_OPTIONS, COMMON_RUN_OPTIONS, SERVER_SECURITY_OPTIONS, TRACE_OPTIONS } from './cli-options.js';
import { loadSketch } from './load-sketch.js';
import { checkRunOptions } from './run.js';

import { DEVICE_FILE } from './commands.js';

export { DEVICE_FILE };

/** Keys of the file itself. */
const TOP_KEYS = ['defaults', 'sketches'] as const;

/** One sketch of a device file, checked. */
export interface DeviceSketch {
  /** Its position in `sketches:` (0-based). */
  index: number;
  /** The line of its entry (1-based). */
  line: number;
  /** `sketches[2] (iopin)`: how problems name it. */
  where: string;
  /** The built-in kind, or the sketch file's absolute path. */
  spec: string;
  cls: SketchClass;
  /** Its instance name: `name`, else the class's kind (as `sketch run` names it). */
  name: string;
  /** Its options (defaults merged under its own) as `sketch run` has them parsed: kebab-case and camelCase keys. */
  argv: Record<string, unknown>;
}

/** A checked device file. */
export interface Device {
  /** The file, as named. */
  file: string;
  /** The folder relative paths in it resolve against. */
  dir: string;
  sketches: DeviceSketch[];
}

/** What {@link readDeviceFile} found: the device when there is no problem, else the problems (one line each). */
export type DeviceResult = { ok: true; device: Device } | { ok: false; problems: string[] };

/** Options of {@link readDeviceFile} and {@link checkDeviceText}. */
export interface DeviceFileOptions {
  /** Loads a sketch class from a built-in name or an absolute file path. Default `loadSketch`. */
  load?: (spec: string) => Promise<SketchClass>;
}

/** The `sketch run` options every entry (and `defaults`) may set, by their long flag names, with their yargs definitions. */
const RUN_OPTIONS: Record<string, Options> = {
  ...Object.fromEntries(Object.entries(COMMON_RUN_OPTIONS).map(([k, spec]) => [flagName(k).slice(2), { type: spec.type }])),
  ...SERVER_SECURITY_OPTIONS,
  ...CLIENT_SECURITY_OPTIONS,
  ...BROKER_OPTIONS,
  ...HA_OPTION,
  ...TRACE_OPTIONS,
};

/**
 * Reads and checks the device file `file`: {@link checkDeviceText} on its text.
 * A file that cannot be read is one problem (`FILE: cannot read it: ENOENT …`).
 */
export async function readDeviceFile(file: string, options: DeviceFileOptions = {}): Promise<DeviceResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `: no such file (sketch up reads ${DEVICE_FILE} in this folder unless given a FILE)` : `: ${oneLine(err)}`;
    return { ok: false, problems: [`${file}: cannot read it${hint}`] };
  }
  return checkDeviceText(text, file, options);
}

/**
 * Parses `text` (YAML or JSON) as the device file `file` and checks it: the file's keys, each
 * entry's `kind` or `file` (exactly one), its options (every key a `sketch run` long option or
 * one of the sketch's own, camelCase accepted; values checked as `sketch run` checks them),
 * unique instance names and unique explicit ports (port 0, the default, picks a free one).
 * Relative sketch files resolve against the file's folder.
 */
export async function checkDeviceText(text: string, file: string, options: DeviceFileOptions = {}): Promise<DeviceResult> {
  const load = options.load ?? loadSketch;
  // Loaded here, not at start-up: only `sketch up`, `demo` and `service install --device` read device files.
  // `yaml` is CommonJS: Node.js gives its named exports, a bundle (scripts/bundle.mjs) only `default`.
  const yaml = await import('yaml');
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = (yaml.default as typeof yaml.default | undefined) ?? yaml;
  const keyOf = (pair: Pair): string => String(isScalar(pair.key) ? pair.key.value : pair.key);
  const findPair = (map: YAMLMap, key: string): Pair | undefined => map.items.find((p) => keyOf(p) === key) as Pair | undefined;
  const dir = path.dirname(path.resolve(file));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as Node | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const problems: string[] = [];
  const problem = (line: number | undefined, where: string | undefined, what: string) =>
    problems.push(`${file}${line !== undefined ? `:${line}` : ''}: ${where ? `${where}: ` : ''}${what}`);

  if (doc.errors.length) {
    for (const e of doc.errors) problem(e.linePos?.[0].line ?? lineCounter.linePos(e.pos[0]).line, undefined, `not valid YAML: ${oneLine(e.message)}`);
    return { ok: false, problems };
  }
  const root = doc.contents;
  if (!isMap(root)) {
    problem(lineOf(root) ?? 1, undefined, 'the file must be a mapping with a "sketches:" list (and optional "defaults:")');
    return { ok: false, problems };
  }
  for (const pair of root.items) {
    const key = keyOf(pair);
    if (!(TOP_KEYS as readonly string[]).includes(key)) problem(lineOf(pair.key), undefined, `unknown key "${key}"${suggest(key, TOP_KEYS)}: the file has "defaults:" and "sketches:"`);
  }

  // defaults: the common `sketch run` options, for every entry that does not set its own
  const defaults: Record<string, { value: unknown; line: number | undefined }> = {};
  const defaultsNode = root.get('defaults', true);
  if (defaultsNode !== undefined && !(isScalar(defaultsNode) && defaultsNode.value === null)) {
    if (!isMap(defaultsNode)) problem(lineOf(defaultsNode), 'defaults', 'must be a mapping of option: value');
    else {
      for (const pair of defaultsNode.items) {
        const key = keyOf(pair);
        const flag = kebab(key);
        const line = lineOf(pair.key);
        if (flag === 'name' || flag === 'port') {
          problem(line, 'defaults', `"${key}" cannot be a default: each sketch needs its own ${flag}`);
          continue;
        }
        if (!(flag in RUN_OPTIONS)) {
          problem(line, 'defaults', `unknown option "${key}"${suggest(flag, Object.keys(RUN_OPTIONS))}: defaults take the options of every "sketch run" (a sketch's own options go in its entry)`);
          continue;
        }
        const bad = checkValue(flag, RUN_OPTIONS[flag]!, COMMON_SCHEMA, pair.value);
        if (bad) problem(line, 'defaults', bad);
        else defaults[flag] = { value: plain(pair.value), line };
      }
    }
  }

  const list = root.get('sketches', true);
  if (list === undefined) {
    problem(lineOf(root) ?? 1, undefined, 'no "sketches:" list: name the sketches this device runs');
    return { ok: false, problems };
  }
  if (!isSeq(list)) {
    problem(lineOf(list) ?? lineOf(root), 'sketches', 'must be a list (each entry "- kind: NAME" or "- file: PATH")');
    return { ok: false, problems };
  }
  if (list.items.length === 0) problem(lineOf(list) ?? lineOf(root), 'sketches', 'the list is empty: name the sketches this device runs');

  const sketches: DeviceSketch[] = [];
  const names = new Map<string, DeviceSketch>();
  const ports = new Map<number, DeviceSketch>();
  for (const [index, item] of list.items.entries()) {
    const line = lineOf(item) ?? lineOf(list)!;
    let where = `sketches[${index}]`;
    if (!isMap(item)) {
      problem(line, where, 'must be a mapping ("kind: NAME" or "file: PATH", then options)');
      continue;
    }
    const before = problems.length;
    const kindPair = findPair(item, 'kind');
    const filePair = findPair(item, 'file');
    if (kindPair && filePair) {
      problem(lineOf(filePair.key), where, 'has both "kind" and "file": give one (a built-in kind, or a sketch file)');
      continue;
    }
    if (!kindPair && !filePair) {
      problem(line, where, `has neither "kind" nor "file": give a built-in kind (${Object.keys(BUILTINS).join(', ')}) or a sketch file`);
      continue;
    }
    const pair = (kindPair ?? filePair)!;
    const value = plain(pair.value);
    if (typeof value !== 'string' || value === '') {
      problem(lineOf(pair.value ?? pair.key), where, `"${keyOf(pair)}" must be a ${kindPair ? 'sketch kind' : 'file path'}, got ${JSON.stringify(value)}`);
      continue;
    }
    where = `${where} (${kindPair ? value : path.basename(value)})`;
    let spec: string;
    if (kindPair) {
      if (!Object.hasOwn(BUILTINS, value)) {
        problem(lineOf(pair.value), where, `unknown kind "${value}"${suggest(value, Object.keys(BUILTINS))}: built-ins are ${Object.keys(BUILTINS).join(', ')} (a sketch of your own: "file: PATH")`);
        continue;
      }
      spec = value;
    } else {
      spec = path.resolve(dir, value);
      if (!existsSync(spec)) {
        problem(lineOf(pair.value), where, `file ${JSON.stringify(value)} not found${path.isAbsolute(value) ? '' : ` (relative paths start at the device file's folder, ${dir})`}`);
        continue;
      }
    }
    let cls: SketchClass;
    try {
      cls = await load(spec);
    } catch (err) {
      problem(lineOf(pair.value), where, oneLine(err));
      continue;
    }
    const own = cls.options ?? {};
    const ownFlags = new Map(Object.keys(own).map((k) => [flagName(k).slice(2), k]));
    const argv: Record<string, unknown> = {};
    const seen = new Set<string>();
    const givenLine = new Map<string, number | undefined>();
    for (const p of item.items) {
      const key = keyOf(p);
      if (p === kindPair || p === filePair) continue;
      const flag = kebab(key);
      const keyLine = lineOf(p.key);
      if (seen.has(flag)) {
        problem(keyLine, where, `"${key}" is given twice (as ${flag} and in camelCase)`);
        continue;
      }
      seen.add(flag);
      if (flag in LOG_KEYS) {
        problem(keyLine, where, `"${key}" is an option of "sketch up" itself, for every sketch: sketch up --${flag}`);
        continue;
      }
      const known = flag in RUN_OPTIONS || ownFlags.has(flag);
      if (!known) {
        problem(keyLine, where, `unknown option "${key}"${suggest(flag, [...Object.keys(RUN_OPTIONS), ...ownFlags.keys()])}`);
        continue;
      }
      const bad = ownFlags.has(flag) && !(flag in RUN_OPTIONS) ? checkValue(flag, { type: own[ownFlags.get(flag)!]!.type }, own, p.value) : checkValue(flag, RUN_OPTIONS[flag]!, COMMON_SCHEMA, p.value);
      if (bad) {
        problem(keyLine, where, bad);
        continue;
      }
      set(argv, flag, normalize(RUN_OPTIONS[flag], plain(p.value)));
      givenLine.set(flag, keyLine);
    }
    if (problems.length > before) continue;
    for (const [flag, d] of Object.entries(defaults)) if (!seen.has(flag)) set(argv, flag, normalize(RUN_OPTIONS[flag], d.value));
    try {
      checkRunOptions(cls, argv); // the checks that take several options together, as `sketch run` makes them
    } catch (err) {
      problem(line, where, oneLine(err));
      continue;
    }
    const name = typeof argv.name === 'string' ? argv.name : (cls.kind ?? cls.name.toLowerCase());
    const entry: DeviceSketch = { index, line, where, spec, cls, name, argv };
    const other = names.get(name);
    if (other) problem(givenLine.get('name') ?? line, where, `duplicate instance name "${name}" (also ${other.where}, line ${other.line}): give each a different "name:"`);
    else names.set(name, entry);
    const port = resolveOptions(COMMON_RUN_OPTIONS, { port: argv.port }).port;
    const taken = port !== 0 ? ports.get(port) : undefined;
    if (taken) problem(givenLine.get('port') ?? defaults.port?.line ?? line, where, `duplicate port ${port} (also ${taken.where}, line ${taken.line}): give each its own port, or none (a free one is picked)`);
    else if (port !== 0) ports.set(port, entry);
    sketches.push(entry);
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, device: { file, dir, sketches } };
}

/** `sketch up`'s own options, which an entry cannot set. */
const LOG_KEYS = { quiet: 1, verbose: 1, 'log-format': 1, 'log-time': 1, restart: 1, check: 1 };

/** The common options' schema, checked through `resolveOptions` as `sketch run` checks them. */
const COMMON_SCHEMA: OptionSchema = Object.fromEntries(Object.entries(COMMON_RUN_OPTIONS).map(([k, spec]) => [flagName(k).slice(2), spec]));

/**
 * One option's value, checked: against `schema` (an `OptionSchema`, with `resolveOptions`) when
 * it is there, else by its yargs type (string, boolean, number, array of strings); `--to` and
 * `--allow-origin` also as `sketch run` parses them.
 * @returns the problem, or undefined when the value is good.
 */
function checkValue(flag: string, yargsSpec: Options, schema: OptionSchema, node: unknown): string | undefined {
  const value = plain(node);
  const camel = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const spec = schema[flag] ?? schema[camel];
  try {
    if (spec) resolveOptions({ [camel]: spec }, { [camel]: value });
    else if (yargsSpec.array) {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v) => typeof v === 'string')) return `--${flag} must be a string or a list of strings, got ${JSON.stringify(value)}`;
    } else if (yargsSpec.type === 'boolean' || (yargsSpec.type === undefined && yargsSpec.default === false)) {
      if (typeof value !== 'boolean') return `--${flag} must be true or false, got ${JSON.stringify(value)}`;
    } else if (yargsSpec.type === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `--${flag} must be a number, got ${JSON.stringify(value)}`;
    } else if (typeof value !== 'string' && typeof value !== 'number') return `--${flag} must be a string, got ${JSON.stringify(value)}`;
    if (flag === 'to' && typeof value === 'string') parsePeerAddress(value);
    if (flag === 'allow-origin') parseOrigins((Array.isArray(value) ? value : [value]) as string[]);
  } catch (err) {
    return oneLine(err);
  }
  return undefined;
}

/** A value as the command line gives it: lists for array options, strings for string options. */
function normalize(yargsSpec: Options | undefined, value: unknown): unknown {
  if (yargsSpec?.array) return (Array.isArray(value) ? value : [value]).map(String);
  if (yargsSpec?.type === 'string' && typeof value === 'number') return String(value);
  return value;
}

/** Sets `flag` in `argv` as yargs does: under its kebab-case and its camelCase name. */
function set(argv: Record<string, unknown>, flag: string, value: unknown): void {
  argv[flag] = value;
  argv[flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
}

/** `discoverTimeout` → `discover-timeout`; kebab-case stays. */
const kebab = (key: string): string => flagName(key).slice(2);

/** A node's plain JavaScript value. */
function plain(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  const n = node as { toJSON?: () => unknown };
  return typeof n.toJSON === 'function' ? n.toJSON() : node;
}

/** ` (did you mean "to"?)` when one of `names` is within 2 edits of `word`, else ``. */
export function suggest(word: string, names: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const n of names) {
    const d = distance(word.toLowerCase(), n.toLowerCase());
    if (d < bestDistance) {
      best = n;
      bestDistance = d;
    }
  }
  return best !== undefined ? ` (did you mean "${best}"?)` : '';
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
