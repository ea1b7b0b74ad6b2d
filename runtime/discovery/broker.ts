/**
 * Presence and discovery through an MQTT 5 broker: the second discovery beside mDNS, for
 * sketches that share a broker but not a link (docs/API.md, "Beyond one LAN").
 *
 * Each sketch keeps a retained `sketchnet/<name>/$state`: `online` while it runs (with its
 * description in the MQTT 5 User Property `sketchnet`, §3.3.2.3.7), `offline` once it stopped
 * — published by itself on a normal stop, by the broker as its Last Will (§3.1.2.5) when the
 * connection ended otherwise (killed, crashed, keep alive missed: within 1.5 × keep alive).
 */
import { EventEmitter } from 'node:events';
import type { IPublishPacket } from 'mqtt';
import { errors } from '../errors.js';
import { stateTopic, TOPIC_ROOT, topicLevel, type BrokerClient, type Will } from '../net/broker.js';
import { MAX_SERVICES, type FoundSketch } from './mdns.js';

/** What a sketch says of itself in its `online` presence (User Property `sketchnet`, JSON). */
export interface BrokerDescription {
  /** Instance name. */
  name: string;
  /** Sketch kind, e.g. `thermometer`. */
  kind: string;
  /** Wire protocol version (3). */
  protocol: number;
  /** Paths of its streams, e.g. `["/readings"]`; each is also on topic `sketchnet/<name>/<path>`. */
  streams: string[];
  /** Whether its loop acknowledges messages (`@reactive`). */
  acknowledges: boolean;
  /** Where it serves WebSocket directly: `ws://ADDRESS:PORT/` per non-loopback interface (`[]`: nowhere reachable). */
  ws: string[];
  /** Whether it serves TLS (`wss://`). */
  tls: boolean;
  /** Its MQTT client identifier (tells two holders of one name apart). */
  id: string;
  /** When it went online, in ms since the epoch (the older holder of a name keeps it). */
  since: number;
  /** Its machine's host name (`os.hostname()`): a loopback `ws` address is reachable from that machine only. */
  host: string;
}

/** One sketch as the broker's retained presence tells it. */
export interface BrokerEntry {
  /** The name (from the description; else the topic level). */
  name: string;
  online: boolean;
  /** The last `online` description seen (kept after `offline`). */
  description?: BrokerDescription;
}

/** The `online` presence message: payload `online`, the description as User Property `sketchnet`. */
export function onlineMessage(d: BrokerDescription): { payload: string; properties: { userProperties: Record<string, string> } } {
  return { payload: 'online', properties: { userProperties: { sketchnet: JSON.stringify(d) } } };
}

/** The Last Will that turns `name`'s presence `offline` (retained, QoS 1). */
export function offlineWill(name: string): Will {
  return { topic: stateTopic(name), payload: 'offline', retain: true, qos: 1 };
}

/** A description parsed from a User Property; undefined when it is not one. */
export function parseDescription(text: string | string[] | undefined): BrokerDescription | undefined {
  const raw = Array.isArray(text) ? text[0] : text;
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<BrokerDescription>;
    if (typeof v.name !== 'string' || typeof v.id !== 'string') return undefined;
    return {
      name: v.name,
      kind: typeof v.kind === 'string' ? v.kind : '',
      protocol: typeof v.protocol === 'number' ? v.protocol : 0,
      streams: Array.isArray(v.streams) ? v.streams.filter((s): s is string => typeof s === 'string') : [],
      acknowledges: v.acknowledges === true,
      ws: Array.isArray(v.ws) ? v.ws.filter((s): s is string => typeof s === 'string' && /^wss?:\/\//.test(s)).slice(0, 16) : [],
      tls: v.tls === true,
      id: v.id,
      since: typeof v.since === 'number' ? v.since : 0,
      host: typeof v.host === 'string' ? v.host.slice(0, 255) : '',
    };
  } catch {
    return undefined;
  }
}

/** A sketch found through the broker, in the shape mDNS discovery gives (`via: 'broker'`). */
export function foundThroughBroker(entry: BrokerEntry): FoundSketch {
  const d = entry.description;
  const url = d?.ws[0] ?? '';
  let address = '';
  let port = 0;
  if (url) {
    const u = new URL(url);
    address = u.hostname.replace(/^\[|\]$/g, '');
    port = Number(u.port);
  }
  return {
    name: entry.name,
    kind: d?.kind ?? '',
    address,
    addresses: d ? d.ws.map((w) => new URL(w).hostname.replace(/^\[|\]$/g, '')) : [],
    port,
    protocol: d ? String(d.protocol) : '',
    streams: d?.streams ?? [],
    host: d?.host ?? '',
    url,
    tls: d?.tls ?? false,
    txt: {},
    via: 'broker',
  };
}

/** Events of {@link BrokerDirectory}. */
export interface BrokerDirectoryEvents {
  /** A presence changed (or arrived retained). */
  state: [entry: BrokerEntry];
}

/**
 * Every sketch's presence on one broker, from a subscription to `sketchnet/+/$state` (its
 * retained messages first). Bounded like an mDNS browse: at most `maxServices` names
 * (default {@link MAX_SERVICES}, 1000); names past it are ignored until one is forgotten.
 */
export class BrokerDirectory extends EventEmitter<BrokerDirectoryEvents> {
  readonly #client: BrokerClient;
  /** By lower-cased topic level (names are case-insensitive, as over mDNS). */
  readonly #entries = new Map<string, BrokerEntry>();
  readonly #max: number;
  readonly #onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => this.#message(topic, payload, packet);

  constructor(client: BrokerClient, options: { maxServices?: number } = {}) {
    super();
    this.#client = client;
    this.#max = options.maxServices ?? MAX_SERVICES;
    client.on('message', this.#onMessage);
    void client.subscribe([`${TOPIC_ROOT}/+/$state`], 1);
  }

  /** The broker's URL (without credentials). */
  get url(): string {
    return this.#client.url;
  }

  /** The entry for `name` (case-insensitive), if its presence was seen. */
  get(name: string): BrokerEntry | undefined {
    return this.#entries.get(topicLevel(name).toLowerCase());
  }

  /** Every entry seen, online or not. */
  entries(): BrokerEntry[] {
    return [...this.#entries.values()];
  }

  #message(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (!topic.endsWith('/$state')) return; // requests, replies, items: not presences
    const parts = topic.split('/');
    if (parts.length !== 3 || parts[0] !== TOPIC_ROOT || parts[2] !== '$state') return;
    const level = parts[1]!;
    const key = level.toLowerCase();
    const state = payload.toString();
    if (state !== 'online' && state !== 'offline') return;
    const known = this.#entries.get(key);
    if (!known && this.#entries.size >= this.#max) return;
    const description = state === 'online' ? parseDescription(packet.properties?.userProperties?.sketchnet) : undefined;
    const entry: BrokerEntry = {
      name: description?.name ?? known?.name ?? level,
      online: state === 'online',
      description: description ?? known?.description,
    };
    this.#entries.set(key, entry);
    this.emit('state', entry);
  }

  /**
   * Finds one online sketch by name, waiting up to `timeout` ms for it to come online (and for
   * the broker, when it is not reachable yet).
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when it is not online in time; the signal's
   *   reason when `signal` aborts.
   */
  resolve(name: string, timeout: number, signal?: AbortSignal): Promise<FoundSketch> {
    const now = this.get(name);
    if (now?.online && this.#client.connected) return Promise.resolve(foundThroughBroker(now));
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, entry?: BrokerEntry) => {
        clearTimeout(timer);
        this.off('state', onState);
        this.#client.off('up', onUp);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(foundThroughBroker(entry!));
      };
      const onState = (e: BrokerEntry) => {
        if (e.online && topicLevel(e.name).toLowerCase() === topicLevel(name).toLowerCase()) done(undefined, e);
      };
      const onUp = () => {
        void this.#client.barrier().then(() => {
          const e = this.get(name);
          if (e?.online) done(undefined, e);
        });
      };
      const onAbort = () => done(signal?.reason instanceof Error ? signal.reason : errors.CLOSED(`lookup of "${name}"`));
      const timer = setTimeout(() => {
        const why = this.#client.connected
          ? errors.PEER_NOT_FOUND(name, timeout / 1000, this.#client.url, false)
          : errors.BROKER_UNREACHABLE(this.#client.url, `${this.#client.lastError ?? 'no answer'}, so "${name}" could not be looked up there (waited ${timeout / 1000} s)`);
        done(why);
      }, timeout);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.on('state', onState);
      this.#client.on('up', onUp);
      if (this.#client.connected) onUp();
    });
  }

  /**
   * Every sketch online on the broker: waits for the connection (up to `timeout` ms) and for
   * the retained presences to arrive.
   * @throws SketchError `SKETCH_ERR_BROKER_UNREACHABLE` / `SKETCH_ERR_BROKER_AUTH`.
   */
  async browse(timeout: number): Promise<FoundSketch[]> {
    await this.#client.whenUp(timeout);
    await this.#client.barrier(timeout);
    return this.entries()
      .filter((e) => e.online)
      .map(foundThroughBroker);
  }

  /** Stops listening. */
  close(): void {
    this.#client.off('message', this.#onMessage);
  }
}
