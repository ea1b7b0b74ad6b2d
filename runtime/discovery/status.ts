/**
 * Reading a found sketch's status (`GET /.well-known/sketch`) with the caller's key and CA:
 * what `sketch ls` and the dashboard show.
 */
import { getJson, httpUrl, type ClientSecurity } from '../net/client.js';
import { STATUS_PATH, type SketchStatus } from '../streams/status.js';
import type { FoundSketch } from './mdns.js';

/** Longest wait for a status, ms: 2000. */
export const STATUS_TIMEOUT_MS = 2000;
/** Largest status read, bytes: 4 MiB (a sketch with thousands of subscribers listed). */
export const MAX_STATUS_BYTES = 4 << 20;

/** Options of {@link fetchStatus}. */
export interface FetchStatusOptions {
  /** Longest wait for the answer, ms. Default {@link STATUS_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Where the one line about a key not sent (plain `ws://` beyond loopback) goes. Default: nowhere. */
  warn?: (line: string) => void;
}

/**
 * The status of the sketch at `found.url` (`ws://` → `http://`, `wss://` → `https://`, the
 * certificate checked against `found.name`), presenting `security.key` where it is safe.
 * @throws Error (one line) when it does not answer within the timeout, answers anything but
 *   200, or answers something that is not a sketch status; SketchError
 *   `SKETCH_ERR_UNAUTHORIZED` for a 401 (a key is needed), `SKETCH_ERR_INSECURE_KEY`,
 *   `SKETCH_ERR_TLS_VERIFY`.
 */
export async function fetchStatus(found: Pick<FoundSketch, 'url' | 'name'>, security: ClientSecurity = {}, options: FetchStatusOptions = {}): Promise<SketchStatus> {
  const url = httpUrl(found.url, STATUS_PATH);
  const s = await getJson(url, found.name, security, options.timeoutMs ?? STATUS_TIMEOUT_MS, options.warn ?? (() => {}), MAX_STATUS_BYTES);
  if (!s || typeof s !== 'object' || typeof (s as SketchStatus).streams !== 'object' || (s as SketchStatus).streams === null) {
    throw new Error(`${found.name} answered GET ${STATUS_PATH} with something that is not a sketch status`);
  }
  return s as SketchStatus;
}
