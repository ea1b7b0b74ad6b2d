/**
 * Push to a device, the device's side (`sketch up --accept-push`; the client is
 * runtime/push-client.ts): `POST /.well-known/sketch/push` with `{ file, source }` replaces a
 * sketch the device runs by the file's class, in place (as `--watch` does), then keeps it on
 * probation for {@link PUSH_PROBATION_MS}: a version whose `setup()` throws, or that fails
 * meanwhile, is swapped back out and the previous one runs again. Like ESPHome's OTA and
 * Greengrass' rollback, only a version that survived its probation is committed: a power cut
 * during it starts the previous one.
 *
 * Each sketch's pushed files live beside the device file, under
 * `.sketchnet/pushed/<name>/<n>-<file>`, with `state.json` saying which runs (`current`) and
 * what `POST /.well-known/sketch/rollback` restores (`previous`); both written atomically
 * (temporary file, fsync, rename). `sketch up` starts the current pushed version instead of the
 * device file's ({@link PushReceiver.restore}).
 *
 * Both routes need an `admin` key, and TLS or a loopback client: anyone who may push runs code
 * on the device.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { oneLine, type SketchError } from './errors.js';
import type { SketchHost } from './host.js';
import type { ReloadOutcome } from './reload.js';
import { sendJson, sendText, type HttpRoutes } from './net/routes.js';
import { allows, type Right } from './security/keys.js';
import type { SketchClass } from './sketch-config.js';
import { isLoopback } from './security/transport.js';

/** Largest push request body accepted, in bytes: 1 MiB (past it: HTTP 413). */
export const PUSH_MAX_BYTES = 1024 * 1024;
/** How long a pushed version must run without failing before it is committed, in ms: 10 000. */
export const PUSH_PROBATION_MS = 10_000;
/** Where a device accepts a push (`POST`, JSON `{ file, source }`). */
export const PUSH_PATH = '/.well-known/sketch/push';
/** Where a device restores the previous version (`POST`, no body). */
export const ROLLBACK_PATH = '/.well-known/sketch/rollback';
/** The folder of pushed files, relative to the device file's folder: `.sketchnet/pushed`. */
export const PUSH_DIR = path.join('.sketchnet', 'pushed');
/** A pushed file's name: letters, digits, `.`, `_`, `-`, ending in a sketch file extension; at most 100 characters. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,90}\.(?:ts|mts|cts|js|mjs|cjs)$/;

/** One pushed version, as `state.json` and the status's `code` field hold it. */
export interface PushedVersion {
  /** 1, 2, …: numbered per sketch in the order pushed (a refused or rolled-back push takes no number). */
  version: number;
  /** The file name as pushed (`thermostat.ts`). */
  file: string;
  /** When it was pushed (ISO 8601, UTC). */
  pushedAt: string;
  /** SHA-256 of its source (hex). */
  sha256: string;
}

/** What `.sketchnet/pushed/<name>/state.json` holds. */
export interface PushState {
  /** The pushed version that runs; `null`: the device file's. */
  current: PushedVersion | null;
  /** What a rollback restores (`null`: the device file's); absent when there is nothing to go back to. */
  previous?: PushedVersion | null;
  /** The highest version number committed so far. */
  last: number;
}

/** What the push and rollback routes answer (JSON), besides their one-line refusals. */
export interface PushAnswer {
  /** The sketch's name on the device. */
  name: string;
  /** `reloaded`: the version pushed (or rolled back to) runs; `refused`: nothing changed; `rolledBack`: it failed and the previous one runs again. */
  result: 'reloaded' | 'refused' | 'rolledBack';
  /** The version running now (0: the device file's). */
  version: number;
  /** The running version's file (the device file's entry for version 0). */
  file: string;
  /** With a rollback: the version it replaced. */
  replaced?: number;
  /** SHA-256 of the running version's source (pushed versions). */
  sha256?: string;
  /** Why it was refused or rolled back (one line). */
  reason?: string;
  /** Lines below `reason` (a syntax error's source line and caret). */
  detail?: string;
  /** How long messages were held for the swap, ms. */
  pauseMs?: number;
}

/** Options of {@link PushReceiver}. */
export interface PushReceiverOptions {
  /** The device file's folder: pushed files go under `<dir>/.sketchnet/pushed/<name>/`. */
  dir: string;
  /** Swaps a version in, on probation: `SketchHost.reload(name, cls, { ms, fallback })`. */
  host: Pick<SketchHost, 'reload'>;
  /** Loads the sketch class of a file; `version` makes each load a new module. Rejects with a `SketchError` (`SKETCH_ERR_SKETCH_SYNTAX`: `FILE:LINE:COLUMN`). */
  load(file: string, version: number): Promise<SketchClass>;
  /** Probation after a push, ms. Default {@link PUSH_PROBATION_MS}. */
  probationMs?: number;
  /** Largest request body, bytes. Default {@link PUSH_MAX_BYTES}. */
  maxBytes?: number;
  /** Where its lines go (`counter: version 3 (thermostat.ts) runs …`). Default: stderr. */
  log?: (level: 'info' | 'warn', line: string) => void;
}

interface Slot {
  name: string;
  /** The device file's class and how to name it (`counter.ts`, or the kind). */
  original: SketchClass;
  originalFile: string;
  state: PushState;
  classes: Map<number, SketchClass>;
  busy: boolean;
}

/** See the module comment. One per device; {@link add} each sketch it may replace. */
export class PushReceiver {
  readonly #o: Required<Omit<PushReceiverOptions, 'log'>> & Pick<PushReceiverOptions, 'log'>;
  readonly #slots = new Map<string, Slot>();
  /** Files loaded so far: each load is a new module (`load(file, n)`), even of a path loaded before. */
  #loads = 0;

  constructor(options: PushReceiverOptions) {
    this.#o = { probationMs: PUSH_PROBATION_MS, maxBytes: PUSH_MAX_BYTES, ...options };
  }

  #log(level: 'info' | 'warn', line: string): void {
    if (this.#o.log) this.#o.log(level, line);
    else process.stderr.write(`${line}\n`);
  }

  /** Registers the sketch `name`, whose device-file class is `original` (named `file` in answers: `counter.ts`, or its kind). */
  add(name: string, original: SketchClass, file: string): void {
    this.#slots.set(name, { name, original, originalFile: file, state: { current: null, last: 0 }, classes: new Map(), busy: false });
  }

  /** The folder of `name`'s pushed files. */
  folder(name: string): string {
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
    return path.join(this.#o.dir, PUSH_DIR, safe);
  }

  #fileOf(name: string, v: PushedVersion): string {
    return path.join(this.folder(name), `${v.version}-${v.file}`);
  }

  /**
   * Reads `name`'s state and loads its current pushed version, if any (`sketch up` at start): from
   * then on {@link classOf} gives it. A pushed file that no longer loads is one warning line, and
   * the device file's version runs.
   * @returns the pushed version that will run, if any.
   */
  async restore(name: string): Promise<PushedVersion | undefined> {
    const slot = this.#slot(name);
    let text: string;
    try {
      text = await readFile(path.join(this.folder(name), 'state.json'), 'utf8');
    } catch {
      return undefined; // nothing pushed yet
    }
    try {
      slot.state = checkState(JSON.parse(text));
    } catch (err) {
      this.#log('warn', `${name}: ${path.join(this.folder(name), 'state.json')} is not a push state (${oneLine(err)}): running the device file's version`);
      return undefined;
    }
    const current = slot.state.current;
    if (!current) return undefined;
    try {
      slot.classes.set(current.version, await this.#load(this.#fileOf(name, current)));
    } catch (err) {
      this.#log('warn', `${name}: pushed version ${current.version} (${current.file}) does not load (${oneLine(err)}): running the device file's version`);
      slot.state = { ...slot.state, current: null };
      return undefined;
    }
    this.#log('info', `${name}: running pushed version ${current.version} (${current.file}, pushed ${current.pushedAt}) instead of the device file's ${slot.originalFile}`);
    return current;
  }

  /** The class `name` runs now (what its restarts build). */
  classOf(name: string): SketchClass {
    const slot = this.#slot(name);
    const current = slot.state.current;
    return (current && slot.classes.get(current.version)) || slot.original;
  }

  /** The status's `code` field for `name`: the pushed version running, undefined for the device file's. */
  code(name: string): PushedVersion | undefined {
    return this.#slots.get(name)?.state.current ?? undefined;
  }

  /** The routes to add to `name`'s server (`SketchServer.addRoutes`): push and rollback. */
  routes(name: string): HttpRoutes {
    const slot = this.#slot(name);
    return {
      [PUSH_PATH]: { handle: (req, res, right) => this.#serve(slot, req, res, right, (body) => this.#push(slot, req, body)) },
      [ROLLBACK_PATH]: { handle: (req, res, right) => this.#serve(slot, req, res, right, () => this.#rollback(slot)) },
    };
  }

  #load(file: string): Promise<SketchClass> {
    return this.#o.load(file, ++this.#loads);
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (!slot) throw new Error(`no sketch "${name}" was added to the push receiver`);
    return slot;
  }

  /** The checks both routes make, in order, then `act` with the body: one line per refusal, JSON for what was done. */
  async #serve(slot: Slot, req: http.IncomingMessage, res: http.ServerResponse, right: Right | undefined, act: (body: Buffer) => Promise<{ status: number; answer: PushAnswer }>): Promise<void> {
    const refuse = (status: number, line: string) => {
      req.resume(); // the body is not read
      sendText(res, status, line);
    };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return refuse(405, `${req.method ?? 'GET'} is not allowed here: POST`);
    }
    if (!right || !allows(right, 'admin')) {
      this.#log('warn', `${slot.name}: push from ${from(req)} refused: the key is not an admin key`);
      return refuse(403, 'pushing needs an admin key ("sketch key new --admin" in the sketch\'s key file)');
    }
    if (!(req.socket as TLSSocket).encrypted && !isLoopback(req.socket.remoteAddress)) {
      this.#log('warn', `${slot.name}: push from ${from(req)} refused: plain HTTP beyond loopback`);
      return refuse(403, 'push needs TLS or loopback: serve the sketch with --tls-cert and --tls-key');
    }
    if (slot.busy) return refuse(409, `a push to ${slot.name} is under way: try again once it is done`);
    slot.busy = true;
    try {
      const body = await readBody(req, this.#o.maxBytes);
      if (body === undefined) return sendText(res, 413, `the push is larger than ${this.#o.maxBytes} bytes (PUSH_MAX_BYTES)`);
      const { status, answer } = await act(body);
      sendJson(res, answer, status);
    } finally {
      slot.busy = false;
    }
  }

  /** `POST /.well-known/sketch/push`: store, load, swap in on probation, commit. */
  async #push(slot: Slot, req: http.IncomingMessage, body: Buffer): Promise<{ status: number; answer: PushAnswer }> {
    let file: string;
    let source: string;
    try {
      ({ file, source } = parsePush(body));
    } catch (err) {
      return { status: 400, answer: this.#running(slot, 'refused', oneLine(err)) };
    }
    const entry: PushedVersion = {
      version: slot.state.last + 1,
      file,
      pushedAt: new Date().toISOString(),
      sha256: createHash('sha256').update(source).digest('hex'),
    };
    const stored = this.#fileOf(slot.name, entry);
    await mkdir(path.dirname(stored), { recursive: true });
    await writeAtomic(stored, source);
    let cls: SketchClass;
    try {
      cls = await this.#load(stored);
    } catch (err) {
      await unlink(stored).catch(() => {});
      const named = (text: string) => text.split(path.relative(process.cwd(), stored)).join(file).split(stored).join(file);
      const reason = named(oneLine(err));
      this.#log('warn', `${slot.name}: push of ${file} from ${from(req)} refused: ${reason}`);
      const detail = (err as SketchError).detail;
      return { status: 422, answer: { ...this.#running(slot, 'refused', reason), ...(detail ? { detail: named(detail) } : {}) } };
    }
    const done = await this.#install(slot, entry, cls, `version ${entry.version} (${file}) from ${from(req)}`, false);
    if (done.status !== 200) await unlink(stored).catch(() => {});
    return done;
  }

  /** `POST /.well-known/sketch/rollback`: the previous version swapped in on probation, then current and previous trade places. */
  async #rollback(slot: Slot): Promise<{ status: number; answer: PushAnswer }> {
    const target = slot.state.previous;
    if (target === undefined) return { status: 409, answer: this.#running(slot, 'refused', `nothing to roll back to: no other version of ${slot.name} ran since the first push`) };
    let cls = target ? slot.classes.get(target.version) : slot.original;
    if (!cls) {
      try {
        cls = await this.#load(this.#fileOf(slot.name, target!));
      } catch (err) {
        return { status: 422, answer: this.#running(slot, 'refused', `version ${target!.version} (${target!.file}) does not load: ${oneLine(err)}`) };
      }
    }
    return this.#install(slot, target, cls, target ? `version ${target.version} (${target.file})` : `the device file's ${slot.originalFile}`, true);
  }

  /**
   * Swaps `cls` (the version `entry`; null: the device file's) in on probation; on success it
   * becomes current and what ran becomes previous (so a rollback twice comes back).
   */
  async #install(slot: Slot, entry: PushedVersion | null, cls: SketchClass, what: string, rollingBack: boolean): Promise<{ status: number; answer: PushAnswer }> {
    const before = slot.state.current;
    const outcome: ReloadOutcome | undefined = await this.#o.host.reload(slot.name, cls, { ms: this.#o.probationMs, fallback: this.classOf(slot.name) });
    if (!outcome) return { status: 409, answer: this.#running(slot, 'refused', `${slot.name} is not running now: it can be replaced only while it runs`) };
    if (outcome.result === 'refused') {
      this.#log('warn', `${slot.name}: ${what} refused: ${outcome.reason}`);
      return { status: 422, answer: this.#running(slot, 'refused', outcome.reason ?? 'refused') };
    }
    if (outcome.result === 'rolledBack') {
      const reason = outcome.failedIn === 'probation' ? `failed within its ${this.#o.probationMs / 1000} s probation: ${outcome.reason}` : `setup() threw: ${outcome.reason}`;
      this.#log('warn', `${slot.name}: ${what} ${reason}: rolled back to ${before ? `version ${before.version}` : "the device file's version"}`);
      return { status: 422, answer: this.#running(slot, 'rolledBack', reason) };
    }
    if (entry) slot.classes.set(entry.version, cls);
    slot.state = { current: entry, previous: before, last: Math.max(slot.state.last, entry?.version ?? 0) };
    await this.#save(slot);
    this.#log('info', `${slot.name}: ${what} runs${rollingBack ? ' again (a rollback)' : ''} (messages held ${outcome.pauseMs.toFixed(1)} ms)`);
    const answer = this.#running(slot, 'reloaded');
    return { status: 200, answer: { ...answer, pauseMs: outcome.pauseMs, ...(rollingBack ? { replaced: before?.version ?? 0 } : {}) } };
  }

  /** An answer naming the version running now. */
  #running(slot: Slot, result: PushAnswer['result'], reason?: string): PushAnswer {
    const c = slot.state.current;
    return { name: slot.name, result, version: c?.version ?? 0, file: c?.file ?? slot.originalFile, ...(c ? { sha256: c.sha256 } : {}), ...(reason !== undefined ? { reason } : {}) };
  }

  /** Writes `state.json` atomically and removes the pushed files neither current nor previous. */
  async #save(slot: Slot): Promise<void> {
    const dir = this.folder(slot.name);
    await mkdir(dir, { recursive: true });
    await writeAtomic(path.join(dir, 'state.json'), `${JSON.stringify(slot.state, null, 2)}\n`);
    const keep = new Set([slot.state.current, slot.state.previous].filter((v): v is PushedVersion => !!v).map((v) => `${v.version}-${v.file}`));
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (/^\d+-/.test(name) && !keep.has(name)) await unlink(path.join(dir, name)).catch(() => {});
    }
    for (const v of slot.classes.keys()) if (v !== slot.state.current?.version && v !== slot.state.previous?.version) slot.classes.delete(v);
  }
}

/** `{ file, source }` from a push body. @throws Error (one line) for anything else. */
function parsePush(body: Buffer): { file: string; source: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error('the push is not JSON: send { "file": "NAME.ts", "source": "…" }');
  }
  const { file, source } = (value ?? {}) as { file?: unknown; source?: unknown };
  if (typeof file !== 'string' || !FILE_NAME.test(file)) {
    throw new Error(`"file" must be a file name (letters, digits, . _ -) ending in .ts, .mts, .cts, .js, .mjs or .cjs, got ${JSON.stringify(file)?.slice(0, 60)}`);
  }
  if (typeof source !== 'string') throw new Error('"source" must be the file\'s text');
  return { file, source };
}

/** A state file's content, checked. @throws Error for anything else. */
function checkState(value: unknown): PushState {
  const s = value as PushState;
  const version = (v: unknown) => v === null || (typeof v === 'object' && typeof (v as PushedVersion).version === 'number' && typeof (v as PushedVersion).file === 'string' && FILE_NAME.test((v as PushedVersion).file));
  if (!s || typeof s !== 'object' || !version(s.current) || (s.previous !== undefined && !version(s.previous)) || typeof s.last !== 'number') throw new Error('unexpected content');
  return s;
}

/** The request's body, or undefined when it is larger than `max` bytes (then read to its end and dropped). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.once('end', () => resolve(size > max ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client went away before the end of its push'));
    });
  });
}

/** Writes `text` to `file` so that a power cut leaves the old file or the new one, never half of one. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}

/** `ADDRESS:PORT` of the client. */
const from = (req: http.IncomingMessage) => `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
