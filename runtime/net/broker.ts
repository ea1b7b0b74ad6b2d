/**
 * One connection to an MQTT 5 broker (OASIS MQTT Version 5.0), through mqtt.js: the transport
 * that carries presence, requests and streams beyond one LAN (docs/API.md, "Beyond one LAN").
 *
 * mqtt.js reconnects at a fixed period; sketchnet reconnects itself instead, with exponential
 * backoff and full jitter (so that fifty sketches that lost one broker do not all come back in
 * the same millisecond), and logs one line when the broker is lost and one when it is back.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { errors, oneLine, SketchError } from '../errors.js';
import { TurnBatch } from './batch.js';

/** How to reach the broker (`--broker`, `--broker-user`, `SKETCH_BROKER_PASSWORD`, `--ca`). */
export interface BrokerOptions {
  /** `mqtt://HOST[:PORT]` (1883), `mqtts://HOST[:PORT]` (8883), `ws://…` or `wss://…`. */
  url: string;
  /** MQTT user name (`--broker-user`, `$SKETCH_BROKER_USER`). Default none. */
  username?: string;
  /** MQTT password (`$SKETCH_BROKER_PASSWORD`). Default none. */
  password?: string;
  /** CA certificate(s), PEM, that an `mqtts://` broker's certificate must chain to (`--ca`). Default: the system CAs. */
  ca?: string | Buffer;
  /**
   * MQTT keep alive, in seconds (MQTT 5 §3.1.2.10): the broker drops a silent connection, and
   * publishes its Last Will, after 1.5 × this. Default {@link BROKER_KEEPALIVE_S} (10).
   */
  keepalive?: number;
  /** How long one connection attempt may take, in ms. Default 5000. */
  connectTimeout?: number;
  /** First reconnect delay, in ms; doubles per failed attempt up to `maxBackoff`, each with full jitter. Default 250. */
  backoff?: number;
  /** Longest reconnect delay, in ms. Default 10 000. */
  maxBackoff?: number;
  /** Where the lost/restored lines go. Default: nowhere. */
  log?: (line: string) => void;
  /** Makes the mqtt.js client (tests inject a fake). Default `mqtt.connect`. */
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

/** Default MQTT keep alive, in seconds: 10. */
export const BROKER_KEEPALIVE_S = 10;
/** The topic root every sketchnet topic lives under: `sketchnet`. */
export const TOPIC_ROOT = 'sketchnet';

/** A Last Will (MQTT 5 §3.1.2.5): published by the broker if the connection ends without DISCONNECT. */
export interface Will {
  topic: string;
  payload: string;
  retain: boolean;
  qos: 0 | 1;
}

/** Events of {@link BrokerClient}. */
export interface BrokerClientEvents {
  /** Connected (CONNACK accepted); `again` is false the first time. Subscriptions are already renewed. */
  up: [again: boolean];
  /** The connection was lost (a reconnect is scheduled). */
  down: [];
  /** A PUBLISH arrived. */
  message: [topic: string, payload: Buffer, packet: IPublishPacket];
  /** The broker refused the credentials (final: no retry follows). */
  refused: [err: SketchError];
}

/**
 * A topic level for an instance name: MQTT forbids `+`, `#` and NUL anywhere in a topic name and
 * `/` separates levels (MQTT 5 §4.7), so those become `_`.
 */
export function topicLevel(name: string): string {
  return name.replace(/[+#/\u0000]/g, '_');
}

/** `sketchnet/<name>/$state`: the retained presence of a sketch (`online` / `offline`). */
export function stateTopic(name: string): string {
  return `${TOPIC_ROOT}/${topicLevel(name)}/$state`;
}

/** `sketchnet/<name>/in` for channel `/`, `sketchnet/<name>/in/<path>` for `/<path>`: requests to a sketch's loop. */
export function inTopic(name: string, channel: string): string {
  const rest = channel.replace(/^\/+/, '');
  return `${TOPIC_ROOT}/${topicLevel(name)}/in${rest ? `/${rest}` : ''}`;
}

/** `sketchnet/<name>/<path>`: the items of the stream at `path` (e.g. `/readings`), as plain data. */
export function streamTopic(name: string, path: string): string {
  return `${TOPIC_ROOT}/${topicLevel(name)}/${path.replace(/^\/+/, '')}`;
}

/** `sketchnet/$reply/<session>`: a sender's Response Topic (MQTT 5 §4.10). */
export function replyTopic(session: string): string {
  return `${TOPIC_ROOT}/$reply/${session}`;
}

/** Whether a stream path maps onto a topic of its own, not onto `$state` or the `in` requests. */
export function streamPathAllowed(path: string): boolean {
  const first = path.replace(/^\/+/, '').split('/')[0] ?? '';
  return first !== '' && first !== 'in' && !first.startsWith('$') && !/[+#\u0000]/.test(path);
}

/** The URL with any password removed, for log lines. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * Checks a broker URL.
 * @throws SketchError `SKETCH_ERR_BROKER_URL` for anything but mqtt/mqtts/ws/wss with a host.
 */
export function checkBrokerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.BROKER_URL(url);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol) || !u.hostname) throw errors.BROKER_URL(url);
  return url;
}

/** mqtt.js, loaded on first use: importing it costs ~120 ms and ~20 MiB, which a sketch without a broker should not pay. */
let mqttConnect: Promise<(url: string, options: IClientOptions) => MqttClient> | undefined;
const loadMqtt = () => (mqttConnect ??= import('mqtt').then((m) => m.connect));

const noLog = () => {};

/** CONNACK reason codes that no retry will cure (MQTT 5 §3.2.2.2): bad credentials, not authorized, banned. */
const REFUSALS = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);

/**
 * A reconnecting MQTT 5 client. Subscriptions made with {@link subscribe} are renewed on every
 * connection (each is a clean start); `up` fires after that. A refused CONNACK (bad password,
 * not authorized) is final: {@link ready} rejects with `SKETCH_ERR_BROKER_AUTH` and no retry
 * follows. Anything else (refused, unreachable, dropped) is retried with backoff and jitter.
 */
export class BrokerClient extends EventEmitter<BrokerClientEvents> {
  /** The broker URL without credentials. */
  readonly url: string;
  /** This connection's MQTT client identifier. */
  readonly clientId: string;
  readonly #options: BrokerOptions;
  #will?: Will;
  #client?: MqttClient;
  readonly #subscriptions = new Map<string, 0 | 1>();
  #connected = false;
  #everUp = false;
  #closed = false;
  #attempt = 0;
  #retryTimer?: NodeJS.Timeout;
  #lostLogged = false;
  #firstAttempt: Promise<'up' | 'unreachable'>;
  #settleFirst?: (outcome: 'up' | 'unreachable') => void;
  #failFirst?: (err: Error) => void;
  #refused?: SketchError;
  #lastError?: string;
  /** Counts #open() calls: a connection asked for while mqtt.js loaded is made only if still wanted. */
  #generation = 0;

  /** Starts connecting at once. `will`: the Last Will to register (presence). */
  constructor(options: BrokerOptions, will?: Will, clientId = `sketchnet-${randomBytes(6).toString('hex')}`) {
    super();
    checkBrokerUrl(options.url);
    this.#options = options;
    this.url = shownUrl(options.url);
    this.clientId = clientId;
    this.#will = will;
    this.#firstAttempt = new Promise((resolve, reject) => {
      this.#settleFirst = resolve;
      this.#failFirst = reject;
    });
    this.#firstAttempt.catch(() => {});
    this.#open();
  }

  /** Whether a connection is up now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Why the last attempt failed, one line; undefined once connected. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * How the first connection attempt ended: `'up'`, or `'unreachable'` (retries go on in the
   * background).
   * @throws SketchError `SKETCH_ERR_BROKER_AUTH` when the broker refused the credentials.
   */
  firstAttempt(): Promise<'up' | 'unreachable'> {
    return this.#firstAttempt;
  }

  /**
   * Resolves once connected, or rejects after `timeout` ms.
   * @throws SketchError `SKETCH_ERR_BROKER_UNREACHABLE` after `timeout`, `SKETCH_ERR_BROKER_AUTH` when refused.
   */
  whenUp(timeout: number): Promise<void> {
    if (this.#refused) return Promise.reject(this.#refused);
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('up', onUp);
        this.off('refused', onRefused);
        if (err) reject(err);
        else resolve();
      };
      const onUp = () => done();
      const onRefused = (err: Error) => done(err);
      const timer = setTimeout(
        () => done(errors.BROKER_UNREACHABLE(this.url, `${this.#lastError ?? 'no answer'} (waited ${timeout / 1000} s)`)),
        timeout,
      );
      this.on('up', onUp);
      this.on('refused', onRefused);
    });
  }

  /** Subscribes now (if connected) and on every later connection. */
  subscribe(topics: string[], qos: 0 | 1 = 1): Promise<void> {
    for (const t of topics) this.#subscriptions.set(t, qos);
    const client = this.#client;
    if (!client || !this.#connected) return Promise.resolve();
    return new Promise((resolve) => client.subscribe(topics, { qos }, () => resolve()));
  }

  /** Stops subscribing to `topics`. */
  unsubscribe(topics: string[]): void {
    for (const t of topics) this.#subscriptions.delete(t);
    if (this.#connected) this.#client?.unsubscribe(topics);
  }

  /**
   * Publishes one message. QoS 1 resolves on PUBACK, QoS 0 once written; while disconnected it
   * resolves at once (false) and the message is dropped: callers that need it resend it.
   */
  publish(topic: string, payload: string | Buffer, options: IClientPublishOptions = {}): Promise<boolean> {
    const client = this.#client;
    if (!client || !this.#connected) return Promise.resolve(false);
    return new Promise((resolve) => client.publish(topic, payload, options, (err) => resolve(!err)));
  }

  /** Publishes without waiting for anything (QoS 0 or 1); dropped while disconnected. Returns whether it was handed to the connection. */
  post(topic: string, payload: string | Buffer, options: IClientPublishOptions = {}): boolean {
    const client = this.#client;
    if (!client || !this.#connected) return false;
    client.publish(topic, payload, options);
    return true;
  }

  /**
   * A round trip through the broker: resolves once every message the broker had queued for
   * this client before it (e.g. the retained messages of a new subscription) has arrived. A
   * QoS 1 publish to our own reply topic, whose PUBACK the broker sends after them (mosquitto
   * handles a client's packets in order). Resolves false when not connected or after `timeout` ms.
   */
  barrier(timeout = 2000): Promise<boolean> {
    return Promise.race([
      this.publish(replyTopic(`${this.clientId}-barrier`), '', { qos: 1 }),
      new Promise<boolean>((resolve) => setTimeout(resolve, timeout, false).unref()),
    ]);
  }

  /** Registers another Last Will: the connection is made again with it (presence renamed). */
  setWill(will: Will): void {
    this.#will = will;
    const old = this.#client;
    if (!old) return;
    this.#client = undefined;
    this.#connected = false;
    old.removeAllListeners();
    old.on('error', () => {});
    old.end(false, {}, () => {}); // a DISCONNECT: the old will is discarded, not published
    this.#open();
  }

  #open(): void {
    if (this.#closed) return;
    const o = this.#options;
    if (o.connect) return this.#openWith(o.connect);
    const generation = ++this.#generation;
    void loadMqtt().then((connect) => {
      if (generation === this.#generation && !this.#closed) this.#openWith(connect);
    });
  }

  #openWith(connect: (url: string, options: IClientOptions) => MqttClient): void {
    const o = this.#options;
    const will = this.#will;
    const client = connect(o.url, {
      protocolVersion: 5,
      clientId: this.clientId,
      clean: true,
      keepalive: o.keepalive ?? BROKER_KEEPALIVE_S,
      connectTimeout: o.connectTimeout ?? 5000,
      reconnectPeriod: 0, // reconnects are ours: backoff with jitter
      resubscribe: false, // ours too: renewed before 'up'
      queueQoSZero: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
      ...(will ? { will: { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos, retain: will.retain } } : {}),
      properties: { receiveMaximum: 1024 },
      // mqtt.js logs through `debug` on every packet; unless DEBUG asks for it, that is wasted work.
      ...(process.env.DEBUG?.includes('mqttjs') ? {} : { log: noLog }),
    });
    this.#client = client;
    let batch: TurnBatch | undefined;
    client.on('connect', () => {
      batch = new TurnBatch(client.stream);
      void this.#up(client);
    });
    client.on('message', (topic, payload, packet) => {
      // The PUBACK mqtt.js sends for it, the reply or next request it leads to, and those of
      // the other messages read in this turn leave in one writev (see TurnBatch).
      batch?.hold();
      this.emit('message', topic, payload, packet);
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      this.#lastError = describe(err);
      if (typeof err.code === 'number' && REFUSALS.has(err.code)) {
        this.#refused = errors.BROKER_AUTH(this.url, err.message.replace(/^Connection refused: /, ''));
        this.#failFirst?.(this.#refused);
        this.#settleFirst = undefined;
        this.emit('refused', this.#refused);
        this.close();
      }
    });
    client.on('close', () => {
      if (this.#client !== client) return;
      const was = this.#connected;
      this.#connected = false;
      if (this.#closed || this.#refused) return;
      if (was) this.emit('down');
      if (!this.#lostLogged) {
        this.#lostLogged = true;
        o.log?.(`${was ? 'lost the broker' : 'cannot reach the broker'} at ${this.url} (${this.#lastError ?? 'connection closed'}): retrying with backoff; the WebSocket side keeps serving`);
      }
      this.#settleFirst?.('unreachable');
      this.#settleFirst = undefined;
      this.#retry();
    });
  }

  async #up(client: MqttClient): Promise<void> {
    if (this.#client !== client) return;
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const again = this.#everUp;
    this.#attempt = 0;
    this.#lastError = undefined;
    const byQos = new Map<0 | 1, string[]>();
    for (const [t, q] of this.#subscriptions) byQos.set(q, [...(byQos.get(q) ?? []), t]);
    await Promise.all([...byQos].map(([qos, topics]) => new Promise<void>((resolve) => client.subscribe(topics, { qos }, () => resolve()))));
    if (this.#client !== client || !client.connected) return;
    this.#connected = true;
    this.#everUp = true;
    if (this.#lostLogged) this.#options.log?.(`broker at ${this.url} is back`);
    this.#lostLogged = false;
    this.#settleFirst?.('up');
    this.#settleFirst = undefined;
    this.emit('up', again);
  }

  #retry(): void {
    if (this.#retryTimer || this.#closed) return;
    const base = this.#options.backoff ?? 250;
    const cap = this.#options.maxBackoff ?? 10_000;
    const ceiling = Math.min(cap, base * 2 ** Math.min(this.#attempt++, 16));
    const delay = base / 2 + Math.random() * (ceiling - base / 2); // jitter, never under base/2
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const old = this.#client;
      if (old) {
        old.removeAllListeners();
        old.on('error', () => {});
        old.end(true);
      }
      this.#client = undefined;
      this.#open();
    }, delay);
    this.#retryTimer.unref();
  }

  /**
   * Ends the connection with a DISCONNECT (so the broker does not publish the Last Will).
   * `last` is published first (QoS 1, awaited up to 1 s): a normal stop's `offline`.
   */
  async close(last?: { topic: string; payload: string; retain: boolean }): Promise<void> {
    if (this.#closed) return;
    const client = this.#client;
    if (last && client && this.#connected) {
      await Promise.race([this.publish(last.topic, last.payload, { qos: 1, retain: last.retain }), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#connected = false;
    this.#settleFirst?.('unreachable');
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, 1000);
      timer.unref();
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    client.removeAllListeners();
    client.on('error', () => {});
  }
}

/** One line for an mqtt.js or socket error. */
function describe(err: Error & { code?: number | string }): string {
  if (typeof err.code === 'string') return `${err.code}${err.message.includes(err.code) ? '' : `: ${oneLine(err)}`}`.slice(0, 200);
  return oneLine(err);
}
