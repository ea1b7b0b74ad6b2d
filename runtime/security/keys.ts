/**
 * Access keys: who may read a sketch (subscribe to its streams, `GET /.well-known/sketch`) and
 * who may also write to it (send messages to `loop`). Like Initial State's read and write access
 * keys, and carried like Kubernetes' bearer tokens: `Authorization: Bearer <key>` (RFC 6750 §2.1)
 * from programs, or a WebSocket subprotocol entry `bearer.<key>` (RFC 6455 §1.9) from browsers,
 * which cannot set headers. Never in the query string (it ends up in logs and histories).
 *
 * A key file holds one key per line, `<right> <key> [label…]`, with `#` comments and blank
 * lines allowed:
 *
 * ```text
 * # sketch key new --write >> keys
 * write Yx3u0gqV9Z1oN8k2bQ7dS6tW4cR5eF0aH1jL3mP8vX2 kitchen tablet
 * read  3JpQv8nX0sK4dW1eT7yB2gR6hU9cM5aZ0fL8iO3qE1r
 * ```
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type http from 'node:http';
import { errors } from '../errors.js';

/**
 * What a key allows: `read` (streams, status), `write` (that, and messages to `loop`) or `admin`
 * (that, and replacing the sketches of a `sketch up --accept-push` device: `sketch push`).
 */
export type Right = 'read' | 'write' | 'admin';

/** The rights, weakest first: each allows what the ones before it do. */
export const RIGHTS: readonly Right[] = ['read', 'write', 'admin'];

/** Whether `right` allows what `needed` does (`admin` ⊇ `write` ⊇ `read`). */
export function allows(right: Right, needed: Right): boolean {
  return RIGHTS.indexOf(right) >= RIGHTS.indexOf(needed);
}

/** One access key. */
export interface AccessKey {
  /** The secret: base64url characters (`A–Z a–z 0–9 - _`), at least {@link MIN_KEY_CHARS} of them. */
  key: string;
  right: Right;
  /** Free text after the key on its line (who holds it), for the operator; never logged with the key. */
  label?: string;
}

/** Random bytes in a key made by {@link newKey}: 32 (256 bits). */
export const KEY_BYTES = 32;
/** Fewest characters a key may have: 22 base64url characters carry 128 bits. */
export const MIN_KEY_CHARS = 22;
/** Longest key accepted, in characters (a longer `Authorization` value is not compared at all). */
export const MAX_KEY_CHARS = 512;
/** Prefix of the WebSocket subprotocol entry that carries a key from a browser: `bearer.<key>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

const KEY_CHARS = /^[A-Za-z0-9_-]+$/;

/** A new random key: {@link KEY_BYTES} bytes from `crypto.randomBytes`, base64url (43 characters), never starting with `-` (drawn again: 1 in 64). */
export function newKey(): string {
  // Never starting with '-': `--key -abc…` would be read as an option by the CLI's parser.
  for (;;) {
    const key = randomBytes(KEY_BYTES).toString('base64url');
    if (!key.startsWith('-')) return key;
  }
}

/** The key-file line for a key: `write <key>` (plus ` label` when given). */
export function keyLine(right: Right, key: string, label?: string): string {
  return `${right} ${key}${label ? ` ${label}` : ''}`;
}

/**
 * Parses a key file's text (format: see the module comment).
 * @param where the file's name, for error messages.
 * @throws SketchError `SKETCH_ERR_KEY_FILE` naming the line: an unknown right, a missing key, a
 *   key with other characters than base64url, shorter than 128 bits, or listed twice; or a file
 *   with no key at all.
 */
export function parseKeys(text: string, where: string): AccessKey[] {
  const keys: AccessKey[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const at = `${where}:${i + 1}`;
    const [right, key, ...label] = line.split(/\s+/);
    if (right !== 'read' && right !== 'write' && right !== 'admin') {
      throw errors.KEY_FILE(at, `expected "read KEY", "write KEY" or "admin KEY", got ${JSON.stringify(right!.slice(0, 20))}`);
    }
    if (!key) throw errors.KEY_FILE(at, `no key after "${right}"`);
    if (!KEY_CHARS.test(key)) throw errors.KEY_FILE(at, 'a key may only hold the characters A–Z a–z 0–9 - _ (base64url)');
    if (key.length < MIN_KEY_CHARS) {
      throw errors.KEY_FILE(at, `the key is ${key.length} characters, fewer than ${MIN_KEY_CHARS} (128 bits): make one with "sketch key new"`);
    }
    if (key.length > MAX_KEY_CHARS) throw errors.KEY_FILE(at, `the key is longer than ${MAX_KEY_CHARS} characters`);
    if (seen.has(key)) throw errors.KEY_FILE(at, 'this key is already listed above');
    seen.add(key);
    keys.push(label.length ? { key, right, label: label.join(' ') } : { key, right });
  });
  if (!keys.length) throw errors.KEY_FILE(where, 'no key in the file: add one with "sketch key new --write >> FILE"');
  return keys;
}

/**
 * Reads and parses a key file. When group or others may read it (mode wider than 0600), `warn`
 * gets one line saying so and how to fix it; the keys are used anyway.
 * @throws SketchError `SKETCH_ERR_KEY_FILE` when it cannot be read or does not parse.
 */
export async function loadKeyFile(file: string, warn: (line: string) => void): Promise<AccessKey[]> {
  let text: string;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      warn(`key file ${file} can be read by others (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw errors.KEY_FILE(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseKeys(text, file);
}

/**
 * The keys a sketch accepts. {@link KeyRing.match} compares in constant time: every presented key
 * is hashed (SHA-256) and compared with `crypto.timingSafeEqual` against every known key's hash,
 * without stopping at a match, so the time taken says nothing about which key, or how much of
 * one, matched.
 */
export class KeyRing {
  readonly #keys: Array<{ digest: Buffer; right: Right }>;

  constructor(keys: readonly AccessKey[]) {
    this.#keys = keys.map(({ key, right }) => ({ digest: digest(key), right }));
  }

  /** How many keys there are. */
  get size(): number {
    return this.#keys.length;
  }

  /** The right of `presented`, or undefined when it is no known key. */
  match(presented: string): Right | undefined {
    if (presented.length > MAX_KEY_CHARS) return undefined;
    const d = digest(presented);
    let right: Right | undefined;
    for (const k of this.#keys) {
      if (timingSafeEqual(d, k.digest) && (right === undefined || allows(k.right, right))) right = k.right;
    }
    return right;
  }
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * The key a request presents: `Authorization: Bearer <key>`, else the first
 * `Sec-WebSocket-Protocol` entry `bearer.<key>`; undefined when neither. The query string is
 * never looked at.
 */
export function presentedKey(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols) {
    for (const entry of protocols.split(',')) {
      const p = entry.trim();
      if (p.startsWith(BEARER_PROTOCOL_PREFIX)) return p.slice(BEARER_PROTOCOL_PREFIX.length);
    }
  }
  return undefined;
}
