import os from 'node:os';
import { EventEmitter } from 'node:events';
import BonjourService from 'bonjour-service';
import { errors } from '../errors.js';
import { PROTOCOL_VERSION, SERVICE_TYPE } from '../net/protocol.js';

type Bonjour = InstanceType<typeof BonjourService>;
type BonjourBrowser = ReturnType<Bonjour['find']>;
type BonjourPublished = ReturnType<Bonjour['publish']>;
/**
 * The parts of bonjour-service's (private) responder that announcing needs: its
 * multicast-dns socket (queries and responses for the name probe and conflict handling) and
 * `register`/`unregister` (the extra A record on loopback-only hosts). Not public API, so
 * package.json pins bonjour-service to exactly 1.4.4; the behaviour relied on is tested in
 * test/discovery.ts (loopback host resolved completely by python-zeroconf, taken names,
 * simultaneous starts, goodbye).
 */
interface Responder {
  mdns: EventEmitter & {
    query(q: Array<{ name: string; type: string }>): void;
    respond(r: { answers: unknown[] }): void;
  };
  register(records: unknown[]): void;
  unregister(records: unknown[]): void;
}
const responder = (b: Bonjour) => (b as unknown as { server: Responder }).server;
type FoundService = BonjourPublished & { referer?: { address: string }; addresses?: string[] };

/** A sketch found on the network. */
export interface FoundSketch {
  /** DNS-SD instance name (RFC 6763 §4.1), e.g. `iopin` or `iopin (2)`. */
  name: string;
  /** The sketch's kind from its TXT record (`kind=`), e.g. `iopin`; `''` when absent. */
  kind: string;
  /** The address to connect to: the responder's source address, else its first A/AAAA record. */
  address: string;
  /** Every address from the announcement's A/AAAA records (may be empty on loopback-only hosts). */
  addresses: string[];
  /** TCP port of the sketch's WebSocket server (from the SRV record). */
  port: number;
  /** Protocol version from the TXT record (`protocol=`), `''` when absent. */
  protocol: string;
  /**
   * Paths of the streams the sketch publishes, from the TXT record (`streams=/readings,/other`,
   * comma-separated), in announced order; `[]` when the record has no `streams=` (no streams
   * declared, or a sketch older than protocol 2). Streams a sketch starts publishing after it
   * announced itself are not listed: its status (`GET /.well-known/sketch`) has every one.
   */
  streams: string[];
  /** SRV target host name, e.g. `raspberrypi.local`. */
  host: string;
  /** `ws://address:port/` ready to connect to; `wss://` when the TXT record says `tls=1`. */
  url: string;
  /** Whether it serves TLS (`wss://`): TXT `tls=1`. */
  tls: boolean;
  /** The whole decoded TXT record. */
  txt: Record<string, string>;
}

/** What a sketch asks to announce. */
export interface AnnounceRequest {
  /** Wanted instance name; a taken name gets ` (2)`, ` (3)`… appended (RFC 6763 §9 style). */
  name: string;
  /** TCP port the WebSocket server listens on. */
  port: number;
  /** TXT record key/values (RFC 6763 §6); sketches send at least `kind` and `protocol`. */
  txt: Record<string, string>;
}

/**
 * A live DNS-SD registration. Emits `rename` (`(newName, oldName)`) when a conflict found
 * after announcing forced a new instance name.
 */
export interface Announcement extends EventEmitter {
  /** The instance name actually announced (may differ from the one asked for). */
  readonly name: string;
  /** Withdraws the records with a goodbye (TTL 0, RFC 6762 §10.1). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * How sketches announce themselves and find each other. {@link MdnsDiscovery} is the real
 * one; {@link MemoryDiscovery} is an in-process fake for tests. Inject either through
 * `new Sketch({ discovery })`.
 */
export interface Discovery {
  /** Registers a sketch; resolves once the first announcement is sent. */
  announce(request: AnnounceRequest): Promise<Announcement>;
  /**
   * Finds one sketch by instance name (case-insensitive, RFC 6762 §16).
   * @param timeout how long to look, in ms.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when nothing answers in time.
   */
  resolve(name: string, timeout: number): Promise<FoundSketch>;
  /** Every sketch that answers within `timeout` ms. */
  browse(timeout: number): Promise<FoundSketch[]>;
  /** Stops announcing and listening. Safe to call twice. */
  close(): Promise<void>;
}

/** Options of {@link MdnsDiscovery}; every one is optional. */
export interface MdnsDiscoveryOptions {
  /**
   * How long to listen for an existing holder of a name before announcing it, in ms.
   * Default 120. (RFC 6762 §8.1 probes for 750 ms; sketchnet probes once, shorter, to start
   * fast, and still resolves later conflicts as §9 describes.)
   */
  probeTimeout?: number;
  /** Host name for the SRV target and A records. Default `<os.hostname()>.local`. */
  host?: string;
  /** Options for the underlying multicast-dns socket (`interface`, `port`, `ip`…); tests only. */
  mdns?: Record<string, unknown>;
  /** Where warnings go (one line each). Default: `console.error`. */
  log?: (line: string) => void;
}

const TLD = '.local';
const fqdnOf = (name: string) => `${name}._${SERVICE_TYPE}._tcp${TLD}`;
const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Requery schedule while resolving (RFC 6762 §5.2: at least 1 s apart, doubling), in ms. */
const REQUERY_MS = [1000, 2000, 4000, 8000];

/**
 * DNS-SD over multicast DNS through `bonjour-service`: service type `_sketch._tcp`.
 *
 * On a host whose only interface is loopback (a bare network namespace) bonjour-service
 * would announce no address record at all, so that other responders (Avahi,
 * python-zeroconf) could not resolve the SRV target; this class then adds an A record for
 * 127.0.0.1. Found services with no address records are reached through the responder's
 * source address.
 */
export class MdnsDiscovery implements Discovery {
  readonly #options: Required<Omit<MdnsDiscoveryOptions, 'mdns'>> & { mdns: Record<string, unknown> };
  #bonjour?: Promise<Bonjour>;
  #announcements = new Set<MdnsAnnouncement>();
  #probes = new Map<string, Promise<string>>();
  #closed = false;

  constructor(options: MdnsDiscoveryOptions = {}) {
    this.#options = {
      probeTimeout: 120,
      host: `${os.hostname().split('.')[0]}${TLD}`,
      mdns: {},
      log: (line) => console.error(line),
      ...options,
    };
  }

  /** The bonjour-service instance, created (and its socket bound) on first use. */
  bonjour(): Promise<Bonjour> {
    if (this.#closed) return Promise.reject(errors.CLOSED('mDNS discovery'));
    this.#bonjour ??= new Promise<Bonjour>((resolve, reject) => {
      const b = new BonjourService(this.#options.mdns, (err: Error) =>
        this.#options.log(`mDNS: cannot send: ${err.message}`),
      );
      const mdns = responder(b).mdns;
      mdns.on('warning', () => {});
      mdns.once('ready', () => resolve(b));
      mdns.on('error', (err: NodeJS.ErrnoException) => {
        reject(err);
        this.#options.log(`mDNS: ${err.message}`);
      });
    });
    return this.#bonjour;
  }

  get host(): string {
    return this.#options.host;
  }

  /**
   * Finds a free instance name: asks for `wanted`'s SRV record and listens `probeTimeout` ms
   * for another holder, then tries `wanted (2)`, `wanted (3)`… Starts at once and is
   * remembered until the next `announce()` of that name uses it, so a caller can probe while
   * it does other work (the CLI probes while it loads the sketch).
   * @returns the free name (the wanted one, with dots replaced by dashes, when nobody holds it).
   */
  probe(wanted: string): Promise<string> {
    let probing = this.#probes.get(wanted);
    if (!probing) {
      probing = (async () => {
        const b = await this.bonjour();
        const base = wanted.split('.').join('-');
        let name = base;
        for (let n = 2; await this.#taken(b, name); n++) name = `${base} (${n})`;
        return name;
      })();
      this.#probes.set(wanted, probing);
    }
    return probing;
  }

  async announce(request: AnnounceRequest): Promise<Announcement> {
    const b = await this.bonjour();
    const name = await this.probe(request.name);
    this.#probes.delete(request.name);
    const a = new MdnsAnnouncement(b, this, { ...request, name });
    this.#announcements.add(a);
    a.once('closed', () => this.#announcements.delete(a));
    return a;
  }

  /** The A record to add when bonjour-service would announce none (loopback-only host). */
  loopbackRecords(): Array<{ name: string; type: 'A'; ttl: number; data: string }> {
    const external = Object.values(os.networkInterfaces())
      .flat()
      .some((a) => a && !a.internal && a.family === 'IPv4');
    return external ? [] : [{ name: this.#options.host, type: 'A', ttl: 120, data: '127.0.0.1' }];
  }

  /** Asks for `name`'s SRV record and listens `probeTimeout` ms for anyone answering it. */
  #taken(b: Bonjour, name: string): Promise<boolean> {
    const fqdn = fqdnOf(name);
    const mdns = responder(b).mdns;
    return new Promise((resolve) => {
      const onResponse = (packet: { answers: Rr[]; additionals: Rr[] }) => {
        const rrs = [...packet.answers, ...(packet.additionals ?? [])];
        if (rrs.some((rr) => rr.type === 'SRV' && rr.ttl !== 0 && sameName(rr.name, fqdn))) finish(true);
      };
      const finish = (taken: boolean) => {
        clearTimeout(timer);
        mdns.removeListener('response', onResponse);
        resolve(taken);
      };
      const timer = setTimeout(() => finish(false), this.#options.probeTimeout);
      mdns.on('response', onResponse);
      mdns.query([{ name: fqdn, type: 'SRV' }]);
    });
  }

  async resolve(name: string, timeout: number): Promise<FoundSketch> {
    const b = await this.bonjour();
    return new Promise<FoundSketch>((resolve, reject) => {
      const browser = b.find({ type: SERVICE_TYPE });
      const timers: NodeJS.Timeout[] = [];
      const done = (err: Error | null, found?: FoundSketch) => {
        for (const t of timers) clearTimeout(t);
        browser.stop();
        if (err) reject(err);
        else resolve(found!);
      };
      const check = (service: FoundService) => {
        if (sameName(service.name, name)) done(null, toFound(service));
      };
      browser.on('up', check);
      browser.on('srv-update', check);
      for (const t of REQUERY_MS) if (t < timeout) timers.push(setTimeout(() => browser.update(), t));
      timers.push(setTimeout(() => done(errors.PEER_NOT_FOUND(name, timeout / 1000)), timeout));
    });
  }

  async browse(timeout: number): Promise<FoundSketch[]> {
    const b = await this.bonjour();
    const browser: BonjourBrowser = b.find({ type: SERVICE_TYPE });
    const timers = REQUERY_MS.filter((t) => t < timeout).map((t) => setTimeout(() => browser.update(), t));
    await new Promise((r) => setTimeout(r, timeout));
    for (const t of timers) clearTimeout(t);
    browser.stop();
    return (browser.services as FoundService[]).map(toFound).sort((x, y) => x.name.localeCompare(y.name));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const pending = this.#bonjour;
    await Promise.all([...this.#announcements].map((a) => a.close()));
    this.#closed = true;
    if (!pending) return;
    const b = await pending.catch(() => undefined);
    if (b) await new Promise<void>((r) => b.destroy(() => r()));
  }
}

interface Rr {
  name: string;
  type: string;
  ttl?: number;
  data: unknown;
}

function isOtherSrv(rr: Rr, fqdn: string, host: string, port: number): boolean {
  if (rr.type !== 'SRV' || !sameName(rr.name, fqdn) || rr.ttl === 0) return false;
  const data = rr.data as { target: string; port: number };
  return !(sameName(data.target, host) && data.port === port);
}

class MdnsAnnouncement extends EventEmitter implements Announcement {
  #b: Bonjour;
  #discovery: MdnsDiscovery;
  #request: AnnounceRequest;
  #service: BonjourPublished;
  #closing?: Promise<void>;
  #onResponse = (packet: { answers: Rr[]; additionals: Rr[] }) => this.#watch(packet);

  constructor(b: Bonjour, discovery: MdnsDiscovery, request: AnnounceRequest) {
    super();
    this.#b = b;
    this.#discovery = discovery;
    this.#request = request;
    this.#service = this.#publish();
    responder(b).mdns.on('response', this.#onResponse);
  }

  get name(): string {
    return this.#request.name;
  }

  #publish(): BonjourPublished {
    const service = this.#b.publish({
      name: this.#request.name,
      type: SERVICE_TYPE,
      port: this.#request.port,
      host: this.#discovery.host,
      txt: this.#request.txt,
      probe: false,
    });
    const extra = this.#discovery.loopbackRecords();
    if (extra.length) {
      responder(this.#b).register(extra);
      responder(this.#b).mdns.respond({ answers: extra });
    }
    return service;
  }

  /** RFC 6762 §9: someone else announces our name (simultaneous start): one side renames. */
  #watch(packet: { answers: Rr[]; additionals: Rr[] }): void {
    const fqdn = fqdnOf(this.#request.name);
    const host = this.#discovery.host;
    for (const rr of [...packet.answers, ...(packet.additionals ?? [])]) {
      if (!isOtherSrv(rr, fqdn, host, this.#request.port)) continue;
      const theirs = rr.data as { target: string; port: number };
      // Deterministic tie-break: the side whose "target:port" sorts higher renames.
      if (`${host.toLowerCase()}:${this.#request.port}` < `${theirs.target.toLowerCase()}:${theirs.port}`) return;
      this.#rename();
      return;
    }
  }

  #rename(): void {
    const old = this.#request.name;
    const m = /^(.*) \((\d+)\)$/.exec(old);
    const next = m ? `${m[1]} (${Number(m[2]) + 1})` : `${old} (2)`;
    // Withdraw silently: a goodbye for the shared name would also evict the other holder.
    const s = this.#service as BonjourPublished & { destroyed: boolean; activated: boolean; records(): Rr[] };
    s.destroyed = true;
    s.activated = false;
    responder(this.#b).unregister(s.records() as never);
    this.#request = { ...this.#request, name: next };
    this.#service = this.#publish();
    this.emit('rename', next, old);
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      responder(this.#b).mdns.removeListener('response', this.#onResponse);
      const timer = setTimeout(resolve, 500);
      this.#service.stop?.(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(() => {
      this.emit('closed');
    });
    return this.#closing;
  }
}

/**
 * The stream paths of a TXT `streams=` value (`/readings,/other`): comma-separated, blanks
 * dropped; `[]` for an absent or empty value.
 */
export function parseStreams(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

function toFound(service: FoundService): FoundSketch {
  const addresses = [...(service.addresses ?? [])];
  const referer = service.referer?.address;
  const address = referer ?? addresses.find((a) => !a.includes(':')) ?? addresses[0] ?? '127.0.0.1';
  const txt: Record<string, string> = {};
  for (const [k, v] of Object.entries((service.txt ?? {}) as Record<string, unknown>)) txt[k] = String(v);
  const hostPart = address.includes(':') ? `[${address}]` : address;
  return {
    name: service.name,
    kind: txt.kind ?? '',
    address,
    addresses,
    port: service.port,
    protocol: txt.protocol ?? '',
    streams: parseStreams(txt.streams),
    host: service.host,
    url: `${txt.tls === '1' ? 'wss' : 'ws'}://${hostPart}:${service.port}/`,
    tls: txt.tls === '1',
    txt,
  };
}

/**
 * In-process discovery for tests and embedding: announcements live in a shared map, nothing
 * touches the network. Several instances created with the same `registry` see each other.
 */
export class MemoryDiscovery implements Discovery {
  readonly registry: Map<string, FoundSketch>;
  constructor(registry: Map<string, FoundSketch> = new Map()) {
    this.registry = registry;
  }
  async announce(request: AnnounceRequest): Promise<Announcement> {
    let name = request.name;
    for (let n = 2; this.registry.has(name.toLowerCase()); n++) name = `${request.name} (${n})`;
    const found: FoundSketch = {
      name,
      kind: request.txt.kind ?? '',
      address: '127.0.0.1',
      addresses: ['127.0.0.1'],
      port: request.port,
      protocol: request.txt.protocol ?? String(PROTOCOL_VERSION),
      streams: parseStreams(request.txt.streams),
      host: 'localhost',
      url: `${request.txt.tls === '1' ? 'wss' : 'ws'}://127.0.0.1:${request.port}/`,
      tls: request.txt.tls === '1',
      txt: { ...request.txt },
    };
    this.registry.set(name.toLowerCase(), found);
    const registry = this.registry;
    const a = Object.assign(new EventEmitter(), {
      name,
      close: async () => {
        if (registry.get(name.toLowerCase()) === found) registry.delete(name.toLowerCase());
      },
    });
    return a;
  }
  async resolve(name: string, timeout: number): Promise<FoundSketch> {
    const found = this.registry.get(name.toLowerCase());
    if (!found) throw errors.PEER_NOT_FOUND(name, timeout / 1000);
    return found;
  }
  async browse(): Promise<FoundSketch[]> {
    return [...this.registry.values()];
  }
  async close(): Promise<void> {}
}
