/**
 * What a sketch does on an MQTT 5 broker, in one place `Sketch` delegates to: keep its
 * presence (a unique name, `online`, Last Will `offline`), serve its `loop` on
 * `sketchnet/<name>/in/#`, mirror every stream item to `sketchnet/<name>/<path>`, publish Home
 * Assistant discovery configs, and reach other sketches there ({@link BrokerPeer}).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { oneLine } from '../errors.js';
import {
  BrokerDirectory,
  offlineWill,
  onlineMessage,
  type BrokerDescription,
  type BrokerEntry,
} from '../discovery/broker.js';
import { haDiscoveryConfigs, type HaEntity } from '../discovery/home-assistant.js';
import { BrokerClient, stateTopic, streamPathAllowed, streamTopic, topicLevel, type BrokerOptions } from './broker.js';
import { BrokerPeer, type BrokerPeerOptions } from './broker-peer.js';
import { serveBroker, type BrokerServer } from './broker-serve.js';
import type { Dedupe } from './dedupe.js';
import type { IncomingLinks } from './links.js';
import type { Tracer } from './spans.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { isReactive, type LoopHost } from './reactive.js';

/** `SketchConfig.broker`: the broker to use, and what to do there. */
export interface BrokerLinkOptions extends BrokerOptions {
  /** Publish Home Assistant MQTT discovery configs for the sketch's `static homeAssistant` entities (`--ha-discovery`). Default false. */
  haDiscovery?: boolean;
  /**
   * Reach a peer found on the broker over a direct WebSocket when the address it advertises is
   * on one of this host's links (see {@link Route}); false sends every request through the
   * broker. Default true.
   */
  preferDirect?: boolean;
}

/** What the link needs from its sketch. */
export interface BrokerHost extends LoopHost {
  readonly name: string;
  readonly kind: string;
  /** The description fields only the sketch knows (streams, WebSocket addresses, acknowledges). */
  describe(): Pick<BrokerDescription, 'kind' | 'protocol' | 'streams' | 'acknowledges' | 'ws' | 'tls'>;
  /** Home Assistant entities (the class's `static homeAssistant`). */
  readonly haEntities: readonly HaEntity[];
  readonly dedupe: Dedupe;
  /** Records the spans of requests served through the broker. Default none. */
  readonly tracer?: Tracer;
  /** Counts requests served through the broker, per sender (the status's incoming links). Default none. */
  readonly incoming?: IncomingLinks<object>;
  /** sketchnet's version, for Home Assistant's device registry. */
  readonly version: string;
}

/** Events of {@link BrokerLink}. */
export interface BrokerLinkEvents {
  /** Another sketch holds our name on the broker: we are now `next` there. */
  rename: [next: string, old: string];
}

/** A sketch's life on the broker. */
export class BrokerLink extends EventEmitter<BrokerLinkEvents> {
  readonly client: BrokerClient;
  readonly directory: BrokerDirectory;
  readonly #host: BrokerHost;
  readonly #options: BrokerLinkOptions;
  readonly #log: (line: string) => void;
  readonly #since = Date.now();
  /** The name our presence holds (and our Last Will is for); undefined until chosen. */
  #name?: string;
  #server?: BrokerServer;
  readonly #warnedPaths = new Set<string>();
  #closed = false;
  #onPresence?: () => void;
  readonly #presenceReady: Promise<void>;

  readonly #info: (line: string) => void;

  /** `log`: warnings (broker lost, names taken); `info`: the line that says the sketch is online there. */
  constructor(host: BrokerHost, options: BrokerLinkOptions, log: (line: string) => void, info: (line: string) => void = log) {
    super();
    this.#host = host;
    this.#options = options;
    this.#log = log;
    this.#info = info;
    this.#presenceReady = new Promise((resolve) => (this.#onPresence = resolve));
    this.client = new BrokerClient({ ...options, log });
    this.directory = new BrokerDirectory(this.client);
    this.client.on('up', () => void this.#up());
    this.directory.on('state', (e) => this.#state(e));
  }

  /** Whether peers on this host's links are reached directly (`preferDirect`). */
  get preferDirect(): boolean {
    return this.#options.preferDirect !== false;
  }

  /** The name the sketch holds on the broker, once chosen. */
  get name(): string | undefined {
    return this.#name;
  }

  /**
   * Resolves once the first connection attempt ended: connected, or unreachable (then one line
   * was logged and reconnects go on with backoff while the WebSocket side serves).
   * @throws SketchError `SKETCH_ERR_BROKER_AUTH` when the broker refused the credentials.
   */
  async start(): Promise<void> {
    if ((await this.client.firstAttempt()) !== 'up') return;
    // Connected: wait (briefly) for the presence, so that peers can resolve us once run() resolved.
    await Promise.race([this.#presenceReady, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  async #up(): Promise<void> {
    if (this.#closed) return;
    if (this.#name === undefined) {
      // First connection, made without a Last Will: see who holds which name, then connect
      // again with the will for the name we take.
      await this.client.barrier();
      const name = this.#free(this.#host.name);
      if (name !== this.#host.name) this.#log(`name "${this.#host.name}" is taken on the broker at ${this.client.url}: present as "${name}"`);
      this.#name = name;
      if (name !== this.#host.name) this.emit('rename', name, this.#host.name);
      this.client.setWill(offlineWill(name));
      return;
    }
    await this.#announce();
  }

  /** A name no other online sketch holds on the broker: `name`, else `name (2)`, `name (3)`… */
  #free(name: string): string {
    const taken = (n: string) => {
      const e = this.directory.get(n);
      return e?.online === true && e.description?.id !== this.client.clientId;
    };
    if (!taken(name)) return name;
    const base = name.replace(/ \(\d+\)$/, '');
    for (let i = 2; ; i++) if (!taken(`${base} (${i})`)) return `${base} (${i})`;
  }

  #description(): BrokerDescription {
    return { ...this.#host.describe(), name: this.#name!, id: this.client.clientId, since: this.#since, host: os.hostname() };
  }

  /** Publishes `online` (retained), serves requests, and the Home Assistant configs. */
  async #announce(): Promise<void> {
    const name = this.#name!;
    if (!this.#server) {
      // Subscribed to requests before telling anyone we are online.
      this.#server = serveBroker(this.#host, this.client, name, { dedupe: this.#host.dedupe, acknowledges: this.#host.describe().acknowledges, tracer: this.#host.tracer, incoming: this.#host.incoming });
      await this.#server.ready;
    }
    const { payload, properties } = onlineMessage(this.#description());
    await this.client.publish(stateTopic(name), payload, { qos: 1, retain: true, properties });
    if (this.#options.haDiscovery) {
      for (const c of haDiscoveryConfigs({ name, kind: this.#host.kind, version: this.#host.version, entities: this.#host.haEntities })) {
        await this.client.publish(c.topic, JSON.stringify(c.payload), { qos: 1, retain: true });
      }
    }
    this.#info(`online on the broker at ${this.client.url} as "${name}" (${stateTopic(name)})`);
    this.#onPresence?.();
  }

  /** Someone else's presence on our name: the older holder keeps it (as mDNS's probe does). */
  #state(e: BrokerEntry): void {
    const name = this.#name;
    if (!name || this.#closed || !this.client.connected) return;
    if (topicLevel(e.name).toLowerCase() !== topicLevel(name).toLowerCase()) return;
    const d = e.description;
    if (!e.online || !d || d.id === this.client.clientId) {
      // `offline` over our live presence: a Last Will of our previous run, arriving late.
      if (!e.online) void this.#announce();
      return;
    }
    const theirsIsOlder = d.since < this.#since || (d.since === this.#since && d.id < this.client.clientId);
    if (!theirsIsOlder) {
      void this.#announce(); // ours is the older claim: make the retained presence ours again
      return;
    }
    const next = this.#free(name);
    this.#log(`name "${name}" conflicts with another sketch on the broker: now "${next}"`);
    this.#name = next;
    this.#server?.rename(next);
    this.emit('rename', next, name);
    this.client.setWill(offlineWill(next)); // reconnects; 'up' announces the new name
  }

  /**
   * Mirrors one stream item to `sketchnet/<name>/<path>` as plain data: `'latest'` streams QoS 0
   * retained (a new subscriber gets the newest at once), `'all'` QoS 1. Dropped while the broker
   * is away (the stream's history on the WebSocket side keeps it).
   */
  publish(path: string, data: unknown, delivery: 'all' | 'latest'): void {
    const name = this.#name;
    if (!name || !this.client.connected) return;
    if (!streamPathAllowed(path)) {
      if (!this.#warnedPaths.has(path)) this.#log(`stream ${path} is not mirrored to the broker: its first level would clash with in/ or $state`);
      this.#warnedPaths.add(path);
      return;
    }
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    this.client.post(streamTopic(name, path), payload, delivery === 'latest' ? { qos: 0, retain: true } : { qos: 1 });
  }

  /** Requests to `target` through the broker. */
  peer(target: string, options: BrokerPeerOptions): BrokerPeer {
    return new BrokerPeer(target, this.client, this.directory, options);
  }

  /** A normal stop: `offline` (retained) then DISCONNECT, so no Last Will follows. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server?.close();
    this.directory.close();
    const name = this.#name;
    await this.client.close(name ? { topic: stateTopic(name), payload: 'offline', retain: true } : undefined).catch((err) => this.#log(`broker: ${oneLine(err)}`));
  }
}

/** What {@link brokerHost} needs besides the sketch itself. */
export interface BrokerHostParts {
  /** The address the WebSocket server listens on (`0.0.0.0`: every interface) and its port. */
  host: string;
  port: number;
  tls: boolean;
  dedupe: Dedupe;
  tracer?: Tracer;
  incoming?: IncomingLinks<object>;
  /** The stream paths now. */
  streams: () => string[];
  haEntities: readonly HaEntity[];
}

/** The {@link BrokerHost} view of a sketch: `sketch()` is the instance answering now (a reload in place swaps it). */
export function brokerHost(sketch: () => LoopHost & { readonly name: string; readonly kind: string }, parts: BrokerHostParts): BrokerHost {
  return {
    get name() {
      return sketch().name;
    },
    get kind() {
      return sketch().kind;
    },
    loop: (channel, message) => sketch().loop(channel, message),
    out: (text) => sketch().out(text),
    describe: () => ({
      kind: sketch().kind,
      protocol: PROTOCOL_VERSION,
      streams: parts.streams(),
      acknowledges: isReactive(sketch().loop),
      ws: webSocketUrls(parts.host, parts.port, parts.tls),
      tls: parts.tls,
    }),
    haEntities: parts.haEntities,
    dedupe: parts.dedupe,
    tracer: parts.tracer,
    incoming: parts.incoming,
    version: sketchnetVersion(),
  };
}

/** Where a server listening on `host:port` can be reached from elsewhere: every non-internal IPv4 address for a wildcard host (else loopback). */
export function webSocketUrls(host: string, port: number, tls: boolean, interfaces = os.networkInterfaces()): string[] {
  const scheme = tls ? 'wss' : 'ws';
  const wildcard = host === '0.0.0.0' || host === '::';
  const addresses = wildcard
    ? Object.values(interfaces)
        .flatMap((list) => list ?? [])
        .filter((i) => i.family === 'IPv4' && !i.internal)
        .map((i) => i.address)
    : [host];
  const shown = addresses.length ? addresses : ['127.0.0.1'];
  return shown.slice(0, 16).map((a) => `${scheme}://${a.includes(':') ? `[${a}]` : a}:${port}/`);
}

let version: string | undefined;
/** sketchnet's own version, from the package.json above this file (source or dist/). */
export function sketchnetVersion(): string {
  if (version) return version;
  for (let url = new URL('../', import.meta.url); url.pathname !== '/'; url = new URL('../', url)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sketchnet' && pkg.version) return (version = pkg.version);
    } catch {
      // not here: one level up
    }
  }
  return (version = '0.0.0');
}
