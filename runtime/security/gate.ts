/**
 * The gate every HTTP request to a sketch passes before anything else happens: WebSocket
 * upgrades (checked in the server's `upgrade` handler, before a WebSocket exists, as ws
 * recommends) and `GET /.well-known/sketch`. It checks the `Origin` (→ 403) and, when the sketch
 * has keys, the key presented (→ 401), and says what the connection may do.
 */
import type http from 'node:http';
import { KeyRing, presentedKey, type AccessKey, type Right } from './keys.js';
import { originAllowed, type OriginRule } from './origin.js';
import { quoted } from '../text.js';

/** Options of {@link Gate}. */
export interface GateOptions {
  /** Accepted keys; none (the default) leaves the sketch open: every connection may write. */
  keys?: readonly AccessKey[];
  /** Origins allowed besides the sketch's own (see {@link originAllowed}). Default none. */
  allowOrigins?: readonly OriginRule[];
  /** Where the one line per refusal goes. */
  log: (line: string) => void;
}

/** What the gate decided: the connection's right, or the HTTP status and body line to refuse with. */
export type Verdict = { ok: true; right: Right } | { ok: false; status: 401 | 403; line: string };

/** Longest part of a client-controlled header quoted in a log line, in characters: 80. */
const QUOTE_MAX = 80;

/**
 * Decides, for each HTTP request to a sketch, whether it may proceed and with which right: a
 * foreign `Origin` is refused (403) before the key is looked at; with keys configured, a missing
 * or unknown key is refused (401). Each refusal logs one line; the answer to the client names no
 * key. Without keys every allowed request gets `write`.
 */
export class Gate {
  readonly #ring: KeyRing | undefined;
  readonly #origins: readonly OriginRule[];
  readonly #log: (line: string) => void;

  constructor(options: GateOptions) {
    this.#ring = options.keys?.length ? new KeyRing(options.keys) : undefined;
    this.#origins = options.allowOrigins ?? [];
    this.#log = options.log;
  }

  /** Whether connections must present a key. */
  get locked(): boolean {
    return this.#ring !== undefined;
  }

  /**
   * Checks one request. Refusals are logged in one line with the remote address and why; the
   * line returned for the client says only what is missing, never which keys exist.
   */
  check(req: http.IncomingMessage): Verdict {
    const from = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const origin = req.headers.origin;
    if (!originAllowed(origin, req.headers.host, this.#origins)) {
      this.#log(`refused ${from}: origin ${quoted(origin!, QUOTE_MAX)} is not allowed (--allow-origin)`);
      return { ok: false, status: 403, line: 'this origin may not connect to this sketch' };
    }
    if (!this.#ring) return { ok: true, right: 'write' };
    const key = presentedKey(req);
    const right = key === undefined ? undefined : this.#ring.match(key);
    if (!right) {
      this.#log(`refused ${from}: ${key === undefined ? 'no key' : 'unknown key'}`);
      return { ok: false, status: 401, line: 'a valid key is required (Authorization: Bearer KEY, or subprotocol bearer.KEY)' };
    }
    return { ok: true, right };
  }
}
