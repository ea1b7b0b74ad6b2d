import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { TurnBatch } from './batch.js';
import { oneLine, SketchError } from '../errors.js';
import { encodeAck, encodeError } from './protocol.js';

/** The shape of a sketch's `loop`: `channel` is the request path, `message` the text frame. */
export type LoopMethod = (channel: string, message: string) => unknown;

const REACTIVE = Symbol.for('sketchnet.reactive');

/**
 * Standard (TC39) method decorator for `loop`: makes the sketch answer every text message
 * with exactly one text frame, in order: the string `loop` returned (other values
 * JSON-encoded), or `n/a` when it returned nothing; `sketchnet.v2` clients get `{"ack": <value>}`
 * with the value as JSON (`null` for nothing). When `loop` throws or rejects, the reply is an
 * error (plain clients: `error: <message>`; `sketchnet.v2` clients: `{"error":{"code","message"}}`),
 * the error is logged and the connection stays open.
 *
 * ```ts
 * class Echo extends Sketch {
 *   @reactive async loop(channel: string, message: string) { return message; }
 * }
 * ```
 * @throws TypeError when applied to anything but a method.
 */
export function reactive<This, F extends LoopMethod>(method: F, context: ClassMethodDecoratorContext<This, F>): F {
  if (context.kind !== 'method') throw new TypeError('@reactive decorates a method (loop)');
  Object.defineProperty(method, REACTIVE, { value: true });
  return method;
}

/** Whether `fn` was decorated with {@link reactive}. */
export function isReactive(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[REACTIVE] === true;
}

/** What the per-connection handlers need from a sketch. */
export interface LoopHost {
  loop(channel: string, message: string): unknown;
  out(text: string): void;
}

/** Unanswered messages queued on one connection before it stops reading (backpressure). */
export const QUEUE_HIGH_WATER = 256;
const QUEUE_LOW_WATER = 64;

/**
 * Serves one connection reactively: messages are handled one after another, in arrival
 * order, each answered by exactly one frame. Other connections are never stalled: each has
 * its own queue. When more than {@link QUEUE_HIGH_WATER} messages wait, the socket stops
 * reading until the queue drains (TCP backpressure to the sender). With `socket` (the
 * connection's TCP socket), a burst of acknowledgements is written with one system call.
 * With `refuse`, `loop` is never called: every message is answered with that error (a
 * connection whose key may only read).
 */
export function serveReactive(host: LoopHost, ws: WebSocket, channel: string, socket?: Writable, refuse?: SketchError): void {
  const protocol = ws.protocol;
  const batch = socket ? new TurnBatch(socket) : undefined;
  const queue: string[] = [];
  let head = 0;
  let busy = false;
  let paused = false;

  const reply = (frame: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (head < queue.length) batch?.hold(); // more acks follow this turn: one writev for all
    ws.send(frame);
  };
  const fail = (err: unknown) => {
    const code = err instanceof SketchError ? err.code : 'SKETCH_ERR_LOOP';
    const message = oneLine(err);
    host.out(`loop failed on ${channel}: ${message}`);
    reply(encodeError(protocol, code, message));
  };

  const drain = async () => {
    busy = true;
    while (head < queue.length) {
      const message = queue[head]!;
      queue[head++] = '';
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      if (refuse) {
        reply(encodeError(protocol, refuse.code, refuse.message));
      } else {
        try {
          let value = host.loop(channel, message);
          if (value instanceof Promise) value = await value;
          reply(encodeAck(protocol, value));
        } catch (err) {
          fail(err);
        }
      }
      if (paused && queue.length - head <= QUEUE_LOW_WATER) {
        paused = false;
        ws.resume();
      }
    }
    queue.length = 0;
    head = 0;
    busy = false;
  };

  ws.on('message', (data, isBinary) => {
    queue.push(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString());
    if (!paused && queue.length - head >= QUEUE_HIGH_WATER) {
      paused = true;
      ws.pause();
    }
    if (!busy) void drain();
  });
}

/** Serves one connection without replies: `loop` sees each message; what it returns is dropped. */
export function serveSilent(host: LoopHost, ws: WebSocket, channel: string): void {
  ws.on('message', (data) => {
    try {
      const value = host.loop(channel, data.toString());
      if (value instanceof Promise) value.catch((err) => host.out(`loop failed on ${channel}: ${oneLine(err)}`));
    } catch (err) {
      host.out(`loop failed on ${channel}: ${oneLine(err)}`);
    }
  });
}
