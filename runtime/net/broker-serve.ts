/**
 * The receiving side of requests through an MQTT 5 broker: messages on
 * `sketchnet/<name>/in[/<path>]` reach the sketch's `loop` exactly as WebSocket messages do.
 *
 * A sketchnet sender publishes a `sketchnet.v3` request (session, seq, done, msg) with QoS 1, a
 * Response Topic and Correlation Data (MQTT 5 §4.10). QoS 1 is at-least-once (the broker may
 * deliver twice; the sender resends what is unacknowledged), so requests go through the
 * sketch's {@link Dedupe}: each applied once, in seq order per sender — one that arrives ahead
 * of a missing one waits for it — and answered on the Response Topic with the same
 * Correlation Data. Any other payload (Home Assistant's `1`, a `mosquitto_pub`) goes to `loop`
 * as it is, answered only when it carries a Response Topic.
 */
import type { IPublishPacket } from 'mqtt';
import { printable } from '../text.js';
import { inTopic, type BrokerClient } from './broker.js';
import { DEDUPE_MAX_SESSIONS, DEDUPE_SESSION_TTL_MS, DEDUPE_WINDOW, type Dedupe, type Outcome } from './dedupe.js';
import { decodeRequest, encodeAck, encodeError, SUBPROTOCOL_V3, type Request } from './protocol.js';
import { runLoop, type LoopHost } from './reactive.js';
import type { IncomingLinks, LinkMeter } from './links.js';
import { NO_SPAN, type Tracer } from './spans.js';

/** Options of {@link serveBroker}. */
export interface BrokerServeOptions {
  /** The sketch's memory of applied requests (shared with its WebSocket side). */
  dedupe: Dedupe;
  /** Whether `loop` is `@reactive`: otherwise nothing is answered. */
  acknowledges: boolean;
  /** Records each request's `receive` and `loop` spans, continuing its `traceparent` user property. Default none. */
  tracer?: Tracer;
  /** Counts requests per sender (user property `sketchnet-from`, else `broker`) and channel. Default none. */
  incoming?: IncomingLinks<object>;
}

/** A request that arrived, waiting for its turn. */
interface Held {
  request: Request;
  /** Who sent it (user property `sketchnet-from`), for the span. */
  from: string;
  replyTo?: string;
  correlation?: Buffer;
}

/** One sender's ordered queue on one channel. */
interface Sender {
  /** The next seq to apply. */
  next: number;
  held: Map<number, Held>;
  busy: boolean;
  lastUsed: number;
}

/** What {@link serveBroker} returns: follow a rename, stop. */
export interface BrokerServer {
  /** Resolves once the broker acknowledged the subscription (SUBACK), or at once while disconnected. */
  ready: Promise<void>;
  /** Serves `sketchnet/<name>/in/#` instead (after a rename). */
  rename(name: string): void;
  close(): void;
}

/** Serves the sketch's `loop` on `sketchnet/<name>/in/#` through `client`. */
export function serveBroker(host: LoopHost, client: BrokerClient, name: string, options: BrokerServeOptions): BrokerServer {
  let prefix = `${inTopic(name, '/')}`;
  let prefixSlash = `${prefix}/`;
  let filter = `${prefix}/#`; // also matches the bare `…/in` (MQTT 5 §4.7.1.2)
  const senders = new Map<string, Sender>();
  /** Plain messages run one after another too, in arrival order. */
  let plainChain: Promise<unknown> = Promise.resolve();

  const { tracer } = options;
  /** Per sender and channel: the meter of its incoming link. */
  const meters = new Map<string, { meter: LinkMeter; key: object; used: number }>();
  const count = (from: string, channel: string) => {
    const incoming = options.incoming;
    if (!incoming) return;
    const k = `${from}\n${channel}`;
    let m = meters.get(k);
    if (!m) {
      if (meters.size >= DEDUPE_MAX_SESSIONS) {
        const [oldest] = [...meters].sort((a, b) => a[1].used - b[1].used);
        incoming.remove(oldest![1].key);
        meters.delete(oldest![0]);
      }
      const key = {};
      m = { meter: incoming.add(key, from, channel), key, used: 0 };
      meters.set(k, m);
    }
    m.used = Date.now();
    m.meter.mark();
  };
  /** Runs `loop` once in the request's spans when traced (see {@link runLoop}), ending its `receive` span too. */
  const apply = (channel: string, message: string, from: string, traceparent?: string): Outcome | Promise<Outcome> => {
    const traced = tracer?.server(channel, from, message, traceparent);
    if (!traced || traced === NO_SPAN) return runLoop(host, channel, message);
    const answered = (o: Outcome) => traced.answered(o.ok, o.ok ? undefined : o.message);
    const o = runLoop(host, channel, message, traced, answered);
    if (!(o instanceof Promise)) answered(o);
    return o;
  };
  const reply = (to: string | undefined, correlation: Buffer | undefined, frame: string) => {
    if (!to || !options.acknowledges) return;
    client.post(to, frame, { qos: 1, properties: correlation ? { correlationData: correlation } : {} });
  };
  const encode = (o: Outcome, protocol: string, seq?: number) =>
    o.ok ? encodeAck(protocol, o.value, seq) : encodeError(protocol, o.code, o.message, seq);

  /** A request below the next one to apply: applied before (or being applied): answered from the dedupe memory. */
  const duplicate = async (key: string, channel: string, h: Held) => {
    const seq = h.request.seq;
    const o = await options.dedupe.run(key, seq, h.request.done, () => apply(channel, h.request.msg, h.from, h.request.traceparent));
    reply(h.replyTo, h.correlation, encode(o, SUBPROTOCOL_V3, seq));
  };

  /** Applies the held requests in seq order, as long as the next one is there. */
  const pump = async (key: string, channel: string, s: Sender) => {
    if (s.busy) return;
    s.busy = true;
    try {
      for (let h = s.held.get(s.next); h; h = s.held.get(s.next)) {
        s.held.delete(s.next);
        const seq = s.next++;
        let o = options.dedupe.run(key, seq, h.request.done, () => apply(channel, h!.request.msg, h!.from, h!.request.traceparent));
        if (o instanceof Promise) o = await o;
        reply(h.replyTo, h.correlation, encode(o, SUBPROTOCOL_V3, seq));
      }
    } finally {
      s.busy = false;
    }
  };

  const sender = (key: string, done: number): Sender => {
    const now = Date.now();
    let s = senders.get(key);
    if (!s) {
      if (senders.size >= DEDUPE_MAX_SESSIONS) {
        for (const [k, old] of senders) {
          if (senders.size < DEDUPE_MAX_SESSIONS && now - old.lastUsed <= DEDUPE_SESSION_TTL_MS) break;
          senders.delete(k);
        }
      }
      s = { next: done + 1, held: new Map(), busy: false, lastUsed: now };
      senders.set(key, s);
    }
    s.lastUsed = now;
    return s;
  };

  /** The last session and channel seen, and their dedupe key. */
  let lastSession = '';
  let lastSessionChannel = '';
  let sessionKey = '';
  const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => {
    if (topic !== prefix && !topic.startsWith(prefixSlash)) return;
    const channel = `/${topic.slice(prefix.length + 1)}`;
    const text = payload.toString();
    const replyTo = packet.properties?.responseTopic;
    const correlation = packet.properties?.correlationData;
    const user = packet.properties?.userProperties;
    const from = typeof user?.['sketchnet-from'] === 'string' ? printable(user['sketchnet-from'], 64) : 'broker';
    count(from, channel);
    let request: Request | undefined;
    if (text.startsWith('{"session"')) {
      try {
        request = decodeRequest(text);
      } catch {
        request = undefined;
      }
    }
    if (!request) {
      const traceparent = typeof user?.traceparent === 'string' ? user.traceparent : undefined;
      plainChain = plainChain.then(async () => reply(replyTo, correlation, encode(await apply(channel, text, from, traceparent), '')));
      return;
    }
    if (request.session !== lastSession || channel !== lastSessionChannel) {
      lastSession = request.session;
      lastSessionChannel = channel;
      sessionKey = `${channel}\n${request.session}`;
    }
    const key = sessionKey;
    const s = sender(key, request.done);
    // The sender holds every reply up to `done`: nothing below it is waited for any more.
    if (request.done + 1 > s.next) {
      s.next = request.done + 1;
      for (const seq of s.held.keys()) if (seq < s.next) s.held.delete(seq); // it holds their replies
    }
    if (request.traceparent === undefined && typeof user?.traceparent === 'string') request.traceparent = user.traceparent;
    const h: Held = { request, from, replyTo, correlation };
    if (request.seq < s.next) return void duplicate(key, channel, h);
    if (s.held.size >= DEDUPE_WINDOW) return; // a sender past its window: it resends later
    s.held.set(request.seq, h);
    void pump(key, channel, s);
  };

  client.on('message', onMessage);
  const ready = client.subscribe([filter], 1);
  return {
    ready,
    rename(next: string) {
      client.unsubscribe([filter]);
      prefix = inTopic(next, '/');
      prefixSlash = `${prefix}/`;
      filter = `${prefix}/#`;
      void client.subscribe([filter], 1);
    },
    close() {
      client.off('message', onMessage);
      client.unsubscribe([filter]);
    },
  };
}
