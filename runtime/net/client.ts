/**
 * How a client (the dashboard, the recorder, `sketch ls`) reaches a sketch over HTTP: the key
 * headers and TLS options for a URL (like `sketch tap`), and a bounded JSON GET (status,
 * recorder history).
 */
import http from 'node:http';
import https from 'node:https';
import { errors } from '../errors.js';
import { clientTlsOptions } from '../security/tls.js';
import { keyHeaders, type KeyUse } from '../security/transport.js';

/** A client's credentials for the sketches it reads (`--key` / `SKETCH_KEY`, `--insecure-key`, `--ca`). */
export interface ClientSecurity extends KeyUse {
  /** CA (PEM) a `wss://` sketch's certificate must chain to. Default: the system CAs. */
  ca?: string | Buffer;
}

/** Headers and TLS options to reach `url` of the sketch `name`. @throws SketchError `SKETCH_ERR_INSECURE_KEY`, `SKETCH_ERR_TLS_VERIFY`. */
export function reach(url: URL, name: string, security: ClientSecurity, warn: (line: string) => void): { headers: Record<string, string>; tls: https.RequestOptions } {
  return {
    headers: keyHeaders(url, security, warn),
    tls: clientTlsOptions(url, name, security.ca, name) as https.RequestOptions,
  };
}

/** Largest JSON answer read by {@link getJson}, in bytes: 64 MiB (a 100 000-point history). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/**
 * GETs `url` (`http:`/`https:`) and parses the JSON answer.
 * @throws Error (one line) on a connection error, after `timeoutMs`, for a non-200 answer
 *   (with the first line of its body; the error's `statusCode` and `line` hold them), a body over `maxBytes`, or a body that is not JSON;
 *   SketchError `SKETCH_ERR_UNAUTHORIZED` for a 401.
 */
export function getJson(
  url: URL,
  name: string,
  security: ClientSecurity,
  timeoutMs: number,
  warn: (line: string) => void,
  maxBytes = MAX_JSON_BYTES,
): Promise<unknown> {
  const { headers, tls } = reach(url, name, security, warn);
  const get = url.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs, headers, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) return void req.destroy(new Error(`${name}: answer to GET ${url.pathname} is larger than ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      res.once('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 401) return reject(errors.UNAUTHORIZED(name));
        if (res.statusCode !== 200) {
          const line = body.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200) ?? '';
          // `statusCode` and `line` kept for callers that tell answers apart (sketch trace: 404 = no spans)
          return reject(Object.assign(new Error(`${name} answered ${res.statusCode} to GET ${url.pathname}${line ? `: ${line}` : ''}`), { statusCode: res.statusCode, line }));
        }
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`${name} answered GET ${url.pathname} with something that is not JSON`));
        }
      });
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`${name}: no answer to GET ${url.pathname} within ${timeoutMs / 1000} s`)));
    req.once('error', reject);
  });
}

/** `ws://H:P/` → `http://H:P/` (and `wss:` → `https:`), with `path` and `query`. */
export function httpUrl(wsUrl: string, path: string, query: Record<string, string | number> = {}): URL {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = path;
  u.search = '';
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return u;
}
