import { randomBytes } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import { errors, SketchError } from '../errors.js';
import { dropUndefined } from '../options.js';
import type { BrokerDirectory, BrokerEntry } from '../discovery/broker.js';
import { inTopic, replyTopic, topicLevel, type BrokerClient } from './broker.js';
import { ackText, decodeReply, encodeRequest } from './protocol.js';

/** Options of {@link BrokerPeer}. */
export interface BrokerPeerOptions {
  /**
   * How long a request may wait for the peer to be online, and for the broker to be reachable,
   * in ms (`--discover-timeout`); past it the requests waiting fail. Default 5000.
   */
  discoverTimeout?: number;
  /** Longest wait for the next acknowledgement while the peer is online, in ms; 0 = forever. Default 10 000. */
  ackTimeout?: number;
  /** Requests published and not yet acknowledged at most; later ones wait unsent. Default 256. */
  maxInFlight?: number;
  /** Unacknowledged requests are published again after this long without progress, in ms. Default 2000. */
  resendAfter?: number;
  /** The channel (request path) to send to. Default `/`. */
  channel?: string;
  /** Where the one-line warnings go. */
  log?: (line: string) => void;
  /** This sketch's instance name, sent as the user property `sketchnet-from` (the receiver's incoming link). Default none. */
  from?: () => string;
}

interface Pending {
  seq: number;
  text: string;
  /** The W3C `traceparent` sent with it, as the MQTT 5 user property `traceparent`. */
  trace: string | undefined;
  sent: boolean;
  resolve: (ack: string) => void;
  reject: (err: Error) => void;
}

/**
 * Requests to one sketch through an MQTT 5 broker, the broker's counterpart of {@link Peer}:
 * `send()` publishes a `sketchnet.v3` request with QoS 1 to `sketchnet/<peer>/in`, with this
 * sender's Response Topic (`sketchnet/$reply/<session>`) and the seq as Correlation Data, and
 * resolves with the acknowledgement published back there.
 *
 * - Many may be in flight (`maxInFlight`, 256); mqtt.js puts no bound of its own on QoS 1
 *   publishes awaiting PUBACK, and the broker's `max_inflight_messages` (mosquitto: 20)
 *   only paces them.
 * - What is unacknowledged is published again when this client reconnects, when the peer comes
 *   (back) online, and after `resendAfter` ms without progress: at-least-once on the wire, and
 *   exactly-once in `loop`, which applies each session's seq once, in order.
 * - A request fails with one line when the peer is offline (or the broker unreachable) for
 *   longer than `discoverTimeout`, or nothing is acknowledged for `ackTimeout`.
 */
export class BrokerPeer {
  /** The peer's instance name. */
  readonly target: string;
  readonly #client: BrokerClient;
  readonly #directory: BrokerDirectory;
  readonly #options: Required<Omit<BrokerPeerOptions, 'log' | 'from'>> & { log: (line: string) => void; from?: () => string };
  readonly #session = randomBytes(16).toString('base64url');
  readonly #replyTopic: string;
  /** `sketchnet/<peer>/in[/<path>]`. */
  readonly #topic: string;
  #seq = 0;
  #pending: Pending[] = [];
  #inFlight = 0;
  #progressAt = 0;
  #resentAt = 0;
  /** Since when the peer (or the broker) has been away while requests wait, in ms; 0 = not away. */
  #awaySince = 0;
  #timer?: NodeJS.Timeout;
  #subscribed = false;
  #closed = false;
  readonly #onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => this.#reply(topic, payload, packet);
  readonly #onUp = () => this.#resend();
  readonly #onState = (e: BrokerEntry) => {
    if (e.online && topicLevel(e.name).toLowerCase() === topicLevel(this.target).toLowerCase()) this.#resend();
  };

  constructor(target: string, client: BrokerClient, directory: BrokerDirectory, options: BrokerPeerOptions = {}) {
    this.target = target;
    this.#client = client;
    this.#directory = directory;
    this.#options = { discoverTimeout: 5000, ackTimeout: 10_000, maxInFlight: 256, resendAfter: 2000, channel: '/', log: () => {}, ...dropUndefined(options) };
    this.#replyTopic = replyTopic(this.#session);
    this.#topic = inTopic(target, this.#options.channel);
  }

  /** A link through the broker (`via` of the status's links). */
  readonly via = 'broker' as const;

  /** `connected` while the peer is online on a connected broker, `retrying` while requests wait for it, else `idle`. */
  get state(): 'connected' | 'retrying' | 'idle' {
    return this.#reachable() ? 'connected' : this.#pending.length ? 'retrying' : 'idle';
  }

  /** Requests sent or queued and not acknowledged yet. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /**
   * Sends one message; resolves with the peer's acknowledgement.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` (never online within `discoverTimeout`),
   *   `SKETCH_ERR_PEER_UNREACHABLE` (went offline, or no acknowledgement within `ackTimeout`),
   *   `SKETCH_ERR_BROKER_UNREACHABLE`, `SKETCH_ERR_REMOTE`, `SKETCH_ERR_CLOSED`.
   */
  send(text: string, traceparent?: string): Promise<string> {
    if (this.#closed) return Promise.reject(errors.CLOSED(`requests to ${this.target}`));
    this.#start();
    return new Promise((resolve, reject) => {
      this.#pending.push({ seq: ++this.#seq, text, trace: traceparent, sent: false, resolve, reject });
      if (this.#pending.length === 1) this.#progressAt = Date.now();
      this.#flush();
    });
  }

  #start(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#client.on('message', this.#onMessage);
    this.#client.on('up', this.#onUp);
    this.#directory.on('state', this.#onState);
    void this.#client.subscribe([this.#replyTopic], 1).then(() => this.#flush());
    this.#timer = setInterval(() => this.#check(), 100);
    this.#timer.unref();
  }

  /** Whether the peer is online on a connected broker. */
  #reachable(): boolean {
    return this.#client.connected && this.#directory.get(this.target)?.online === true;
  }

  #flush(): void {
    if (!this.#reachable()) return;
    const limit = Math.min(this.#pending.length, this.#options.maxInFlight);
    // The sent ones are the first #inFlight (sent in order, only sent ones are removed): start after them.
    for (let i = this.#inFlight; i < limit; i++) {
      const p = this.#pending[i]!;
      if (p.sent) continue;
      p.sent = true;
      this.#inFlight++;
      this.#publish(p);
    }
  }

  #publish(p: Pending): void {
    const done = (this.#pending[0]?.seq ?? this.#seq + 1) - 1;
    const payload = encodeRequest({ session: this.#session, seq: p.seq, done, msg: p.text });
    this.#client.post(this.#topic, payload, {
      qos: 1,
      properties: {
        responseTopic: this.#replyTopic,
        correlationData: Buffer.from(String(p.seq)),
        // MQTT 5 §3.3.2.3.7 user property: the W3C trace context, as a traceparent header would carry it
        ...userProperties(p.trace, this.#options.from?.()),
      },
    });
  }

  /** Publishes every unacknowledged request again (the peer or the broker came back). */
  #resend(): void {
    if (!this.#reachable()) return;
    this.#progressAt = Date.now();
    for (const p of this.#pending) if (p.sent) this.#publish(p);
    this.#flush();
  }

  #reply(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic !== this.#replyTopic) return;
    let reply;
    try {
      reply = decodeReply(payload.toString());
    } catch {
      return;
    }
    if (!('ack' in reply) && !('error' in reply)) return;
    const seq = reply.seq ?? Number(packet.properties?.correlationData?.toString());
    const at = this.#pending[0]?.seq === seq ? 0 : this.#pending.findIndex((p) => p.seq === seq);
    if (at < 0 || !this.#pending[at]!.sent) return; // a duplicate reply, or to nothing of ours
    const p = at === 0 ? this.#pending.shift() : this.#pending.splice(at, 1)[0];
    this.#inFlight--;
    this.#progressAt = Date.now();
    if ('ack' in reply) p!.resolve(ackText(reply.ack));
    else if ('error' in reply) p!.reject(errors.REMOTE(this.target, reply.error.code, reply.error.message));
    this.#flush();
  }

  #check(): void {
    if (this.#pending.length === 0) {
      this.#awaySince = 0;
      return;
    }
    const now = Date.now();
    const { discoverTimeout, ackTimeout, resendAfter } = this.#options;
    if (!this.#reachable()) {
      this.#awaySince ||= now;
      if (now - this.#awaySince <= discoverTimeout) return;
      const entry = this.#directory.get(this.target);
      const s = discoverTimeout / 1000;
      let err: SketchError;
      if (!this.#client.connected) {
        err = errors.BROKER_UNREACHABLE(this.#client.url, `${this.#client.lastError ?? 'no answer'}; ${this.#pending.length} message(s) to ${this.target} not acknowledged (waited ${s} s)`);
      } else if (entry) {
        err = errors.PEER_UNREACHABLE(this.target, `it is offline on the broker at ${this.#client.url} (waited ${s} s); ${this.#pending.length} message(s) not acknowledged`);
      } else {
        err = errors.PEER_NOT_FOUND(this.target, s, this.#client.url, false);
      }
      this.#failAll(err);
      return;
    }
    this.#awaySince = 0;
    if (this.#inFlight === 0) return this.#flush();
    const idle = now - this.#progressAt;
    if (ackTimeout > 0 && idle > ackTimeout) {
      const cause = errors.ACK_TIMEOUT(this.target, ackTimeout / 1000);
      this.#failAll(errors.PEER_UNREACHABLE(this.target, `no acknowledgement through the broker within ${ackTimeout / 1000} s`, cause));
    } else if (now - Math.max(this.#progressAt, this.#resentAt) > resendAfter) {
      this.#resentAt = now;
      for (const p of this.#pending) if (p.sent) this.#publish(p);
    }
  }

  #failAll(err: Error): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#inFlight = 0;
    this.#awaySince = 0;
    for (const p of pending) p.reject(err);
  }

  /** Stops: requests still waiting fail with `SKETCH_ERR_CLOSED`. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#client.off('message', this.#onMessage);
    this.#client.off('up', this.#onUp);
    this.#directory.off('state', this.#onState);
    if (this.#subscribed) this.#client.unsubscribe([this.#replyTopic]);
    this.#failAll(errors.CLOSED(`requests to ${this.target}`));
  }
}

/** The user properties of a request, `{ userProperties }` when there are any (the trace context, the sender's name), else `{}` (an empty one is not sent: mqtt-packet would write a malformed property). */
function userProperties(traceparent: string | undefined, from: string | undefined): { userProperties?: Record<string, string> } {
  if (!traceparent && !from) return {};
  const u: Record<string, string> = {};
  if (traceparent) u.traceparent = traceparent;
  if (from) u['sketchnet-from'] = from;
  return { userProperties: u };
}
