/**
 * The client side of keys: a key is sent only where nobody else can read it — over `wss://`
 * whose certificate was verified, or to a loopback address — unless the user explicitly takes
 * the risk (`--insecure-key`, for a trusted home LAN without TLS).
 */
import { errors } from '../errors.js';

/** Whether a key may be sent to `url` without `insecureKey`: `wss://`/`https://` (verified) or a loopback host. */
export function keySafe(url: string | URL): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'wss:' || u.protocol === 'https:') return true;
  return isLoopback(u.hostname.replace(/^\[|\]$/g, ''));
}

/** Whether `host` (a name or address, as bound or as a socket's remote address) is loopback: `localhost`, 127.0.0.0/8, `::1`, or IPv4-mapped `::ffff:127.x`. */
export function isLoopback(host: string | undefined): boolean {
  return host === 'localhost' || host === '::1' || (host !== undefined && /^(::ffff:)?127\./.test(host));
}

/** How a client presents a key: {@link keyHeaders}' options. */
export interface KeyUse {
  /** The key; none: no header. */
  key?: string;
  /** Send it over plain `ws://`/`http://` beyond loopback too (one warning line). Default false. */
  insecureKey?: boolean;
}

/**
 * The headers that present `use.key` to `url` (`Authorization: Bearer <key>`, RFC 6750 §2.1),
 * or none without a key. Over an unsafe transport with `insecureKey`, `warn` gets one line
 * saying what that risks.
 * @throws SketchError `SKETCH_ERR_INSECURE_KEY` over an unsafe transport without `insecureKey`.
 */
export function keyHeaders(url: string | URL, use: KeyUse, warn: (line: string) => void): Record<string, string> {
  if (use.key === undefined) return {};
  if (!keySafe(url)) {
    if (!use.insecureKey) throw errors.INSECURE_KEY(String(url));
    warn(`sending the key to ${String(url)} in clear text (--insecure-key): anyone who can watch this network can read it and use it`);
  }
  return { authorization: `Bearer ${use.key}` };
}
