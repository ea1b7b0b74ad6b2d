/**
 * Push to a device, the client's side (`sketch push`; the device's is runtime/push.ts): one
 * `POST` to the sketch's own port, with the key as `Authorization: Bearer` (sent only over
 * verified TLS or to loopback, as every client does), answered once the device has swapped the
 * file in and its probation is over, or once it refused or rolled back.
 */
import http from 'node:http';
import https from 'node:https';
import { errors, oneLine } from './errors.js';
import { httpUrl, type ClientSecurity } from './net/client.js';
import { PUSH_PATH, PUSH_PROBATION_MS, ROLLBACK_PATH, type PushAnswer } from './push.js';
import { clientTlsOptions, verifyError } from './security/tls.js';
import { keyHeaders, keySafe } from './security/transport.js';

/** Default wait for a device's answer, ms: 60 000 (the answer comes after the {@link PUSH_PROBATION_MS} probation). */
export const PUSH_TIMEOUT_MS = 60_000;
/** Largest answer read, bytes: 64 KiB. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What {@link pushSketch} sends where. */
export interface PushRequest {
  /** The sketch's WebSocket address (`ws://HOST:PORT/`, `wss://…`), found over mDNS or given. */
  url: string;
  /** How lines name the sketch (its instance name, or the address as written). */
  label: string;
  /** The instance name it was found by: its TLS certificate must be for that name. None for an address. */
  name?: string;
  /** The file to push; none: roll back to the previous version. */
  push?: { file: string; source: string };
  /** The key (an `admin` one) and the CA; `insecureKey` is ignored: a push goes over TLS or to loopback only. */
  security?: ClientSecurity;
  /** Longest wait for the answer, ms. Default {@link PUSH_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * Pushes `r.push` (or asks for a rollback) and resolves with the device's answer when the version
 * asked for runs (`result: 'reloaded'`).
 * @throws SketchError `SKETCH_ERR_PUSH_REFUSED` (401, 403, 404/426: no `--accept-push`, 409, 413,
 *   422 for a file that does not load: nothing changed; the device's line), `SKETCH_ERR_PUSH_FAILED`
 *   (the version failed and was rolled back), `SKETCH_ERR_INSECURE_KEY`, `SKETCH_ERR_TLS_VERIFY`,
 *   `SKETCH_ERR_PEER_UNREACHABLE` (no connection, or no answer within the timeout).
 */
export async function pushSketch(r: PushRequest): Promise<PushAnswer> {
  const url = httpUrl(r.url, r.push ? PUSH_PATH : ROLLBACK_PATH);
  const security = r.security ?? {};
  const body = r.push ? JSON.stringify(r.push) : '';
  // The device refuses a push over plain HTTP beyond loopback: the key is not even sent there.
  if (security.key !== undefined && !keySafe(url)) throw errors.INSECURE_KEY(url.href, "a push needs TLS (the device's --tls-cert and --tls-key) or a loopback address");
  const headers = {
    ...keyHeaders(url, security, () => {}),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  const tls = clientTlsOptions(url, r.label, security.ca, r.name) as https.RequestOptions;
  const timeoutMs = r.timeoutMs ?? PUSH_TIMEOUT_MS;
  const { status, type, text } = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers, timeout: timeoutMs, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(errors.PEER_UNREACHABLE(r.label, `no answer to the ${r.push ? 'push' : 'rollback'} within ${timeoutMs / 1000} s`)));
    req.once('error', (err) => reject(verifyError(r.label, url.href, err) ?? (err instanceof Error && err.name === 'SketchError' ? err : errors.PEER_UNREACHABLE(r.label, oneLine(err), err))));
    req.end(body);
  });
  let answer: PushAnswer | undefined;
  if (type.startsWith('application/json')) {
    try {
      answer = JSON.parse(text) as PushAnswer;
    } catch {
      // a proxy's page: read as text below
    }
  }
  const line = answer?.reason ?? text.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? '';
  if (status === 200 && answer?.result === 'reloaded') return answer;
  const who = typeof answer?.name === 'string' ? answer.name : r.label; // the device's name for the sketch, when it said
  if (answer?.result === 'rolledBack') throw errors.PUSH_FAILED(who, line, running(answer));
  if (status === 404 || status === 426) throw errors.PUSH_REFUSED(r.label, status, 'it takes no pushes: start its device with "sketch up --accept-push"');
  if (status === 401) throw errors.PUSH_REFUSED(r.label, status, `${line}: pass an admin key with --key KEY or SKETCH_KEY`);
  if (status >= 400 && status < 500) throw errors.PUSH_REFUSED(who, status, line || 'no reason given', answer?.detail);
  throw errors.PUSH_REFUSED(r.label, status, `unexpected answer${line ? `: ${line}` : ''}`);
}

/** `version 3`, or `the device file's version (counter.ts)`: what an answer says runs. */
export function running(answer: Pick<PushAnswer, 'version' | 'file'>): string {
  return answer.version > 0 ? `version ${answer.version}` : `the device file's version (${answer.file})`;
}
