/**
 * Exactly-once for `sketchnet.v3` requests: a sender resends every unacknowledged message after
 * a dropped connection (at-least-once), and the receiver remembers, per sending session, the
 * reply to each request it applied until the sender says it holds that reply (`done`), so a
 * resent duplicate gets the remembered reply and `loop` is not called again. Like MQTT QoS 2's
 * packet ids released by PUBREL, and nats' `msgID` with a `duplicate_window` bounded in time and
 * count.
 *
 * Bounds: {@link DEDUPE_WINDOW} replies held per session beyond `done`; sessions unused for
 * {@link DEDUPE_SESSION_TTL_MS} are forgotten; at most {@link DEDUPE_MAX_SESSIONS} sessions
 * (the least recently used is forgotten first). A duplicate older than what is held is still not
 * applied again: it gets a `SKETCH_ERR_DUPLICATE` error reply instead of its lost reply. The
 * window lives in the sketch's memory: a restarted sketch applies a resent message again.
 */
import { errors } from '../errors.js';

/** What applying one request gave: the value `loop` returned, or its error. */
export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/** Replies held per session beyond the sender's `done`: 1024 (a sender keeps at most 256 in flight). */
export const DEDUPE_WINDOW = 1024;
/** A session nobody used for this long is forgotten, in ms: 10 min. */
export const DEDUPE_SESSION_TTL_MS = 10 * 60_000;
/** Most sessions remembered per sketch: 1000. */
export const DEDUPE_MAX_SESSIONS = 1000;

interface Session {
  /** Highest seq started. */
  highest: number;
  /** Replies (or replies in the making) by seq, above what the sender already holds. */
  results: Map<number, Outcome | Promise<Outcome>>;
  /** Lowest seq still in `results` that may be deleted. */
  floor: number;
  lastUsed: number;
}

/** Options of {@link Dedupe}; the bounds default to the constants above. */
export interface DedupeOptions {
  window?: number;
  sessionTtlMs?: number;
  maxSessions?: number;
  /** Clock in ms (tests). Default `Date.now`. */
  now?: () => number;
}

/** The per-sketch memory of applied v3 requests. */
export class Dedupe {
  readonly #sessions = new Map<string, Session>();
  readonly #window: number;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** The session used last, and its key: the most recent in the Map's order already (a sender's run of requests skips the re-insertion). */
  #lastKey?: string;
  #last?: Session;

  constructor(options: DedupeOptions = {}) {
    this.#window = options.window ?? DEDUPE_WINDOW;
    this.#ttl = options.sessionTtlMs ?? DEDUPE_SESSION_TTL_MS;
    this.#max = options.maxSessions ?? DEDUPE_MAX_SESSIONS;
    this.#now = options.now ?? Date.now;
  }

  /** How many sessions are remembered. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Applies request `seq` of `session` once: the first time `apply()` runs and its outcome is
   * kept; a duplicate (resent after a drop, possibly while the first is still running) gets the
   * same outcome without `apply()`. `done` frees the replies the sender already holds.
   * `key` should also name the channel (a session is one sender's connection to one path).
   * An outcome `apply()` returns at once (not a promise) is returned at once, and kept so.
   */
  run(key: string, seq: number, done: number, apply: () => Outcome | Promise<Outcome>): Outcome | Promise<Outcome> {
    const s = this.#session(key);
    release(s, done);
    const held = s.results.get(seq);
    if (held) return held;
    if (seq <= s.highest) {
      const e = errors.DUPLICATE(seq, this.#window);
      return { ok: false, code: e.code, message: e.message };
    }
    s.highest = seq;
    const outcome = apply();
    s.results.set(seq, outcome);
    release(s, seq - this.#window);
    return outcome;
  }

  #session(key: string): Session {
    const now = this.#now();
    if (key === this.#lastKey) {
      const last = this.#last!;
      last.lastUsed = now;
      return last;
    }
    let s = this.#sessions.get(key);
    if (s) {
      this.#sessions.delete(key); // re-inserted below: the Map's order is least recently used first
    } else {
      for (const [k, old] of this.#sessions) {
        if (now - old.lastUsed <= this.#ttl && this.#sessions.size < this.#max) break;
        this.#sessions.delete(k);
      }
      s = { highest: 0, results: new Map(), floor: 1, lastUsed: now };
    }
    s.lastUsed = now;
    this.#sessions.set(key, s);
    this.#lastKey = key;
    this.#last = s;
    return s;
  }
}

/** Forgets the replies up to `upTo`; never loops over more than what is held (a seq may be huge). */
function release(s: Session, upTo: number): void {
  if (upTo < s.floor) return;
  if (upTo - s.floor > s.results.size) {
    for (const k of s.results.keys()) if (k <= upTo) s.results.delete(k);
  } else {
    for (let k = s.floor; k <= upTo; k++) s.results.delete(k);
  }
  s.floor = upTo + 1;
}
