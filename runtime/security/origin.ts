/**
 * The `Origin` check at the WebSocket upgrade. Browsers do not apply the same-origin rule to
 * WebSockets: any page a user opens may connect to a sketch on the LAN and drive it (CWE-1385,
 * cross-site WebSocket hijacking). Browsers always send `Origin` (RFC 6454, RFC 6455 §4.1, §10.2),
 * so an upgrade that carries one is accepted only from the sketch's own origin or an allowed one
 * (OWASP ASVS 4.4.2). Programs (ws, the Python original) send none and are not affected.
 */
import { errors } from '../errors.js';

/**
 * One allowed origin: `'*'` (every origin, explicitly), `'null'` (the opaque origin of `file:`
 * pages and sandboxed frames), an origin such as `'http://pi.local:8080'`, or a RegExp tested
 * against the `Origin` header as sent.
 */
export type OriginRule = string | RegExp;

/**
 * Whether an upgrade may proceed. Allowed: no `Origin` header (not a browser); an origin whose
 * host and port are the request's `Host` (a page the sketch served itself); or one matching a
 * rule. Everything else, including an `Origin` that is not a URL, is refused.
 * @param origin the `Origin` header, if any.
 * @param host the `Host` header, if any (`pi.local:8765`).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, rules: readonly OriginRule[]): boolean {
  if (origin === undefined) return true;
  if (rules.includes('*')) return true;
  if (rules.some((r) => (r instanceof RegExp ? r.test(origin) : r === origin))) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (rules.some((r) => typeof r === 'string' && r !== 'null' && r === url.origin)) return true;
  if (!host) return false;
  try {
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}

/**
 * Turns `--allow-origin` values into rules: `*`, `null`, or an `http(s)://host[:port]` URL
 * (normalised to its origin: lower case, no path, no default port).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for anything else.
 */
export function parseOrigins(values: readonly string[]): OriginRule[] {
  return values.map((value) => {
    if (value === '*' || value === 'null') return value;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw errors.INVALID_OPTION(`--allow-origin must be an http(s) origin like http://pi.local:8080, "null" or "*"; got ${JSON.stringify(value)}`);
    }
    return url.origin;
  });
}
