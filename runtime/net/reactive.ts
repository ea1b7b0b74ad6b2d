import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { TurnBatch } from './batch.js';
import { textFrame } from './frame.js';
import { throttle } from './throttle.js';
import { oneLine, SketchError } from '../errors.js';
import { LOG_TEXT_MAX, printable } from '../text.js';
import type { Dedupe, Outcome } from './dedupe.js';
import { decodeRequest, encodeAck, encodeError, SUBPROTOCOL_V3, type Request } from './protocol.js';
import type { LinkMeter } from './links.js';
import { NO_SPAN, type ServerSpan, type Tracer } from './spans.js';

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

/** The outcome of a `loop` that threw or rejected with `err`, logged as `loop failed on CHANNEL: …`: the SketchError's code, else SKETCH_ERR_LOOP. */
function loopFailed(host: LoopHost, channel: string, err: unknown): Outcome & { ok: false } {
  const code = err instanceof SketchError ? err.code : 'SKETCH_ERR_LOOP';
  const message = oneLine(err);
  host.out(`loop failed on ${printable(channel, LOG_TEXT_MAX)}: ${printable(message, LOG_TEXT_MAX)}`);
  return { ok: false, code, message };
}

/**
 * Runs `host.loop(channel, message)` once, in `span`'s `loop` span when traced (ended here):
 * the outcome at once when `loop` returned a value, a promise of it when it returned one
 * (`then`, if given, is called with the outcome first, in the same turn: no async layers). Never
 * throws nor rejects: a failure is logged and becomes an error outcome (see {@link loopFailed}).
 * The one way the WebSocket, silent and broker serving paths call `loop`.
 */
export function runLoop(host: LoopHost, channel: string, message: string, span?: ServerSpan, then?: (o: Outcome) => void): Outcome | Promise<Outcome> {
  const failed = (err: unknown): Outcome => {
    const o = loopFailed(host, channel, err);
    span?.looped(false, o.message);
    return o;
  };
  let value: unknown;
  try {
    value = span ? span.run(() => host.loop(channel, message)) : host.loop(channel, message);
  } catch (err) {
    return failed(err);
  }
  if (!(value instanceof Promise)) {
    span?.looped(true);
    return { ok: true, value };
  }
  return value.then(
    (v: unknown): Outcome => {
      span?.looped(true);
      const o: Outcome = { ok: true, value: v };
      then?.(o);
      return o;
    },
    (err: unknown) => {
      const o = failed(err);
      then?.(o);
      return o;
    },
  );
}

/** Options of {@link serveReactive}. */
export interface ServeOptions {
  /** The connection's TCP socket: a burst of acknowledgements is then written with one system call. */
  socket?: Writable;
  /** Answer every message with this error instead of calling `loop` (a read-only key). */
  refuse?: SketchError;
  /** The sketch's memory of applied v3 requests (exactly-once). Without it v3 is at-least-once. */
  dedupe?: Dedupe;
  /**
   * Looks at each text frame as it arrives, before it is queued: a frame it returns true for
   * is a control frame (a stream subscriber's `{"credit":N}` grant), handled there, never given
   * to `loop` nor answered. Default: none.
   */
  control?: (text: string) => boolean;
  /** Records each message's `receive` and `loop` spans, continuing a v3 request's `traceparent`. Default none. */
  tracer?: Tracer;
  /** Who is connected (a sketch's name or an address), for the spans. Default `''`. */
  from?: string;
  /** Counts each message (not control frames): the connection's incoming link. Default none. */
  meter?: LinkMeter;
}

/**
 * Unanswered messages queued on one connection before it stops reading (backpressure): 256.
 * A connection that reaches it is also throttled for the rest of its life (see `throttle` in
 * runtime/net/throttle.ts): one of its frames per event-loop turn, its replies 16 per `writev`.
 */
export const QUEUE_HIGH_WATER = 256;
const QUEUE_LOW_WATER = 64;
/**
 * Bytes of replies a connection may have unsent (its client not reading them) before the sketch
 * stops reading from it and stops answering it until they drain: 256 KiB. With
 * {@link QUEUE_HIGH_WATER} this bounds what one flooding client costs.
 */
export const REPLY_HIGH_WATER = 256 * 1024;
/**
 * Messages one connection handles before it lets the event loop turn (`setImmediate`), so that
 * one client's burst never holds up the others for longer than that many `loop` calls: 4.
 */
export const TURN_SLICE = 4;

/** Turns a throttled connection's replies are held for, to leave in one `writev`: 16. */
const THROTTLED_BATCH_TURNS = 16;

/**
 * Serves one connection reactively: messages are handled one after another, in arrival
 * order, each answered by exactly one frame. Other connections are never stalled: each has
 * its own queue. When more than {@link QUEUE_HIGH_WATER} messages wait, the socket stops
 * reading until the queue drains (TCP backpressure to the sender). With `socket` (the
 * connection's TCP socket), a burst of acknowledgements is written with one system call.
 * With `refuse`, `loop` is never called: every message is answered with that error (a
 * connection whose key may only read).
 *
 * Over `sketchnet.v3` each message is a request with a session and seq: with `dedupe`, one
 * resent after a dropped connection is applied once and answered with the first reply.
 */
export function serveReactive(host: LoopHost, ws: WebSocket, channel: string, options: ServeOptions = {}): void {
  const { socket, refuse, dedupe, control, tracer, meter } = options;
  const from = options.from ?? '';
  const protocol = ws.protocol;
  const v3 = protocol === SUBPROTOCOL_V3;
  const batch = socket ? new TurnBatch(socket) : undefined;
  /** A real TCP (or TLS) socket: replies are written to it as whole frames, one `write` each (see ./frame.ts). */
  const direct = socket instanceof Socket ? socket : undefined;
  /** Messages waiting, in order; `null` stands for a binary frame (refused in its turn). */
  const queue: Array<string | null> = [];
  let waitingForDrain = false;
  /** The client is not reading its replies: stop reading and answering until they drain. */
  const backlog = async () => {
    if (!socket || socket.writableLength <= REPLY_HIGH_WATER || ws.readyState !== WebSocket.OPEN) return;
    waitingForDrain = true;
    if (!paused) {
      paused = true;
      ws.pause();
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    waitingForDrain = false;
  };
  let head = 0;
  let busy = false;
  let paused = false;
  let throttled = false;

  const reply = (frame: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (throttled) batch?.holdTurns(THROTTLED_BATCH_TURNS); // one message per turn: a writev per 16
    else if (head < queue.length) batch?.hold(); // more acks follow this turn: one writev for all
    if (direct) direct.write(textFrame(frame));
    else ws.send(frame);
  };
  /** Runs `loop` for `message` (see {@link runLoop}), or refuses it. */
  const apply = (message: string, span?: ServerSpan, then?: (o: Outcome) => void): Outcome | Promise<Outcome> =>
    refuse ? { ok: false, code: refuse.code, message: refuse.message } : runLoop(host, channel, message, span, then);
  const answer = (o: Outcome, seq?: number) =>
    reply(o.ok ? encodeAck(protocol, o.value, seq) : encodeError(protocol, o.code, o.message, seq));
  /** Answers a v3 request with `outcome` and ends its `receive` span. */
  const answered = (outcome: Outcome, seq: number, span: ServerSpan | undefined) => {
    answer(outcome, seq);
    span?.answered(outcome.ok, outcome.ok ? undefined : outcome.message);
  };
  /** The last session seen and its dedupe key (a sender's session stays the same: one key string, not one per message). */
  let session = '';
  let sessionKey = '';
  /**
   * A v3 request: applied once per session and seq (with `dedupe`), answered with its seq; a
   * promise while `loop` runs (no extra turn when it answered at once; the reply written as soon
   * as a `loop` promise settles).
   */
  const request = (frame: string): Promise<unknown> | undefined => {
    let r: Request;
    try {
      r = decodeRequest(frame);
    } catch (err) {
      reply(encodeError(protocol, 'SKETCH_ERR_BAD_MESSAGE', oneLine(err)));
      return undefined;
    }
    const traced = tracer?.server(channel, from, r.msg, r.traceparent);
    const span = traced === NO_SPAN ? undefined : traced; // nothing to record or pass on: loop as it is
    let outcome: Outcome | Promise<Outcome>;
    /** Whether loop ran for it (not a duplicate): a promise from it answers as it settles. */
    let applied = false;
    const settled = (o: Outcome) => answered(o, r.seq, span);
    if (dedupe && !refuse) {
      if (r.session !== session) {
        session = r.session;
        sessionKey = `${channel}\n${session}`;
      }
      outcome = dedupe.run(sessionKey, r.seq, r.done, () => {
        applied = true;
        return apply(r.msg, span, settled);
      });
    } else {
      applied = true;
      outcome = apply(r.msg, span, settled);
    }
    if (outcome instanceof Promise) return applied ? outcome : outcome.then(settled);
    answered(outcome, r.seq, span);
    return undefined;
  };

  const drain = async () => {
    busy = true;
    let slice = 0;
    while (head < queue.length) {
      if (++slice > TURN_SLICE) {
        slice = 0;
        await new Promise<void>((resolve) => setImmediate(resolve)); // fairness: others get a turn
      }
      const message = queue[head]!;
      let span: ServerSpan;
      queue[head++] = '';
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      if (message === null) {
        answer({ ok: false, code: 'SKETCH_ERR_BAD_MESSAGE', message: 'binary frames are not accepted: send text frames' });
      } else if (v3) {
        const pending = request(message);
        if (pending) await pending;
      } else if (refuse) {
        answer({ ok: false, code: refuse.code, message: refuse.message });
      } else if (tracer && (span = tracer.server(channel, from, message)) !== NO_SPAN) {
        let o = apply(message, span);
        if (o instanceof Promise) o = await o;
        answer(o);
        span.answered(o.ok, o.ok ? undefined : o.message);
      } else {
        // Not through apply(): a synchronous loop answers without an extra turn (case 1's bench).
        try {
          let value = host.loop(channel, message);
          if (value instanceof Promise) value = await value;
          reply(encodeAck(protocol, value));
        } catch (err) {
          answer(loopFailed(host, channel, err));
        }
      }
      if (socket && socket.writableLength > REPLY_HIGH_WATER) await backlog();
      if (paused && !waitingForDrain && queue.length - head <= QUEUE_LOW_WATER) {
        paused = false;
        ws.resume();
      }
    }
    queue.length = 0;
    head = 0;
    busy = false;
  };

  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (control && text !== null && control(text)) return;
    meter?.mark();
    queue.push(text);
    if (!paused && queue.length - head >= QUEUE_HIGH_WATER) {
      paused = true;
      ws.pause();
      if (!throttled) throttled = throttle(ws); // a flooder: one frame per turn from now on
    }
    if (!busy) void drain();
  });
}

/**
 * Serves one connection without replies: `loop` sees each message; what it returns is dropped.
 * A `sketchnet.v3` request is unwrapped first and, with `dedupe`, given to `loop` once.
 * `control`: as in {@link ServeOptions}.
 */
export function serveSilent(host: LoopHost, ws: WebSocket, channel: string, options: Pick<ServeOptions, 'dedupe' | 'control' | 'tracer' | 'from' | 'meter'> = {}): void {
  const { dedupe, control, tracer, meter } = options;
  const v3 = ws.protocol === SUBPROTOCOL_V3;
  ws.on('message', (data) => {
    let message = data.toString();
    if (control?.(message)) return;
    meter?.mark();
    let traceparent: string | undefined;
    if (v3) {
      let r: Request;
      try {
        r = decodeRequest(message);
      } catch (err) {
        host.out(`ignored a message on ${printable(channel, LOG_TEXT_MAX)}: ${printable(oneLine(err), LOG_TEXT_MAX)}`);
        return;
      }
      if (dedupe) {
        void dedupe.run(`${channel}\n${r.session}`, r.seq, r.done, async () => {
          silently(host, channel, r.msg, tracer?.server(channel, options.from ?? '', r.msg, r.traceparent));
          return { ok: true, value: undefined };
        });
        return;
      }
      message = r.msg;
      traceparent = r.traceparent;
    }
    silently(host, channel, message, tracer?.server(channel, options.from ?? '', message, traceparent));
  });
}

/** Calls `loop` (in `span` when traced, its spans ended) and drops what it returns; a failure is logged. */
function silently(host: LoopHost, channel: string, message: string, span?: ServerSpan): void {
  const answered = (o: Outcome) => span?.answered(o.ok, o.ok ? undefined : o.message);
  const o = runLoop(host, channel, message, span, answered);
  if (!(o instanceof Promise)) answered(o);
}
