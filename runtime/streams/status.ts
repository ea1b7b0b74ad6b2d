import type { StreamStatus } from './stream.js';
import type { LinksStatus } from '../net/links.js';

/** Where a sketch answers its status over plain HTTP GET (RFC 8615 well-known URI). */
export const STATUS_PATH = '/.well-known/sketch';

/** Whether a request URL asks for the status (`/.well-known/sketch`, any query string). */
export function statusPath(url: string | undefined): boolean {
  if (!url) return false;
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)) === STATUS_PATH;
}

/** What `GET /.well-known/sketch` answers (JSON). Times in seconds. */
export interface SketchStatus {
  /** The instance name announced. */
  name: string;
  /** The sketch kind (TXT `kind=`). */
  kind: string;
  /** Protocol version (TXT `protocol=`). */
  protocol: number;
  /** Seconds since the sketch started listening. */
  uptime: number;
  /** Whether its `loop` is `@reactive`: a message sent to it gets an acknowledgement (false: it is read and never answered). */
  acknowledges: boolean;
  /** Open WebSocket connections per request path. */
  connections: Record<string, number>;
  /** Every stream by path. */
  streams: Record<string, StreamStatus>;
  /** Every outbox by peer (`Sketch.outbox()`), when there is one: see `OutboxStatus`. */
  forward?: Record<string, unknown>;
  /**
   * The traffic with other sketches: `out`, one link per peer it sends to (`stream()`, `--to`, an
   * outbox, the broker); `in`, one per client connection (and per sender through the broker).
   * See runtime/net/links.ts.
   */
  links?: LinksStatus;
  /** With a broker (`--broker`): its URL (no credentials), whether connected now, and the name held there. */
  broker?: { url: string; connected: boolean; name: string | null };
  /** A pushed version running (`sketch push` to a `sketch up --accept-push` device): its number, file name, when it was pushed (ISO 8601) and SHA-256. Absent for the device file's version. */
  code?: { version: number; file: string; pushedAt: string; sha256: string };
  /** Sketches may add their own fields (the thermometer adds `sensor`). */
  [extra: string]: unknown;
}
