import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../../runtime/net/protocol.js';

/** The built CLI (npm test builds it first). */
export const SKETCH_BIN = fileURLToPath(new URL('../../dist/bin/sketch.cjs', import.meta.url));

/** Frames received by a {@link connect}ed client and not yet taken by {@link frames}. */
const inboxes = new WeakMap<WebSocket, { frames: string[]; wake?: () => void }>();

/**
 * Opens a WebSocket client (no subprotocol unless given) and waits for it to open. Frames
 * are kept from the very first one (a stream's history can arrive with the handshake
 * response, before 'open' resolves) for {@link frames}, or handed to `onMessage` when given.
 */
export function connect(url: string, protocols: string[] = [], onMessage?: (text: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    if (onMessage) ws.on('message', (d) => onMessage(d.toString()));
    else {
      const inbox: { frames: string[]; wake?: () => void } = { frames: [] };
      inboxes.set(ws, inbox);
      ws.on('message', (d) => {
        inbox.frames.push(d.toString());
        inbox.wake?.();
      });
    }
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Takes the next `n` text frames `ws` received (waiting up to `timeout` ms for them). */
export function frames(ws: WebSocket, n: number, timeout = 5000): Promise<string[]> {
  const inbox = inboxes.get(ws);
  if (!inbox) throw new Error('frames() needs a client opened with connect()');
  return new Promise((resolve, reject) => {
    const check = () => {
      if (inbox.frames.length < n) return;
      clearTimeout(timer);
      inbox.wake = undefined;
      resolve(inbox.frames.splice(0, n));
    };
    const timer = setTimeout(() => {
      inbox.wake = undefined;
      reject(new Error(`got ${inbox.frames.length}/${n} frames: ${JSON.stringify(inbox.frames).slice(0, 300)}`));
    }, timeout);
    inbox.wake = check;
    check();
  });
}

/**
 * What a WebSocket upgrade came to: `status` 101 with the open socket `ws` (its frames kept
 * from the first in `inbox`), or the HTTP status and body it was refused with.
 */
export interface Upgraded {
  status: number;
  body: string;
  ws?: WebSocket;
  inbox: string[];
}

/** Attempts a WebSocket upgrade with these subprotocols and headers; rejects only on a network error. */
export function upgrade(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    const inbox: string[] = [];
    ws.on('message', (d) => inbox.push(d.toString()));
    ws.once('open', () => resolve({ status: 101, body: '', ws, inbox }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, inbox }));
    });
    ws.once('error', reject);
  });
}

/** {@link upgrade} that must succeed: throws with the refusal's status and body otherwise. */
export async function opened(url: string, protocols?: string[], headers?: Record<string, string>): Promise<{ ws: WebSocket; inbox: string[] }> {
  const o = await upgrade(url, protocols, headers);
  if (!o.ws) throw new Error(`refused: ${o.status} ${o.body}`);
  return { ws: o.ws, inbox: o.inbox };
}

/** Resolves with the close code `ws` ends with. */
export function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** A child process of the CLI whose output is kept. */
export interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matched `pattern` (rejects after `timeout` ms or on exit). */
  waitFor(pattern: RegExp, timeout?: number): Promise<string>;
  /** Resolves with the exit code (signal exits give 128 + n). */
  exited(timeout?: number): Promise<number>;
}

/** Starts `node dist/bin/sketch.cjs ...args` (`node`: another Node.js binary). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, node = process.execPath): Cli {
  const child = spawn(node, [SKETCH_BIN, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeout = 8000) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
          const m = pattern.exec(out);
          if (m) return resolve(m[0]);
          if (child.exitCode !== null) return reject(new Error(`exited ${child.exitCode} before ${pattern}: ${out}${err}`));
          if (Date.now() - started > timeout) return reject(new Error(`no ${pattern} within ${timeout} ms: ${out}${err}`));
          setTimeout(poll, 10);
        };
        poll();
      });
    },
    exited(timeout = 15000) {
      return Promise.race([
        exit,
        new Promise<number>((_, reject) =>
          setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`did not exit within ${timeout} ms: ${out}${err}`));
          }, timeout).unref(),
        ),
      ]);
    },
  };
}

/** Runs `sketch ...args` until `ready` shows on its stdout, then `fn`; stops it with SIGTERM whatever happens. */
export async function withCli<T>(args: string[], ready: RegExp, fn: (sketch: Cli) => Promise<T>): Promise<T> {
  const sketch = cli(args);
  try {
    await sketch.waitFor(ready);
    return await fn(sketch);
  } finally {
    sketch.child.kill('SIGTERM');
    await sketch.exited();
  }
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 15000) {
  const c = cli(args, env);
  const code = await c.exited(timeout);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A subscriber that opens, then never reads again (its socket is paused): a slow subscriber. */
export function stalled(url: string, protocols: string[] = [SUBPROTOCOL]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('error', reject);
    ws.on('error', () => {});
  });
}
