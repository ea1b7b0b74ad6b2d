import dgram from 'node:dgram';
import os from 'node:os';
import { EventEmitter } from 'node:events';
import BonjourService from 'bonjour-service';
import { errors, oneLine } from '../errors.js';
import { PROTOCOL_VERSION, SERVICE_TYPE } from '../net/protocol.js';

type Bonjour = InstanceType<typeof BonjourService>;
type BonjourPublished = ReturnType<Bonjour['publish']>;
/**
 * The parts of bonjour-service's (private) responder that announcing and browsing need: its
 * multicast-dns socket (queries and responses for the name probe, conflict handling, and
 * browsing — read by {@link ServiceTable}, not by bonjour-service's Browser, whose list of
 * services has no bound) and `register`/`unregister` (the extra A record on loopback-only
 * hosts). Not public API, so package.json pins bonjour-service to exactly 1.4.4; the behaviour
 * relied on is tested in test/discovery.ts (loopback host resolved completely by
 * python-zeroconf, taken names, simultaneous starts, goodbye) and test/discovery-robustness.ts.
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
  /**
   * How it was found: absent or `'mdns'` over mDNS; `'broker'` through an MQTT broker's retained
   * presence (then `url` is its advertised WebSocket address, `''` when it serves none).
   */
  via?: 'mdns' | 'broker';
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
   * @param signal ends the lookup early (its timer too) when aborted: rejects with the signal's
   *   reason when that is an Error, else `SKETCH_ERR_CLOSED`. Optional.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when nothing answers in time.
   */
  resolve(name: string, timeout: number, signal?: AbortSignal): Promise<FoundSketch>;
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
  /**
   * Most services one `browse()` remembers (and `sketch ls` lists), a whole number ≥ 1.
   * Default {@link MAX_SERVICES} (1000). See {@link ServiceTable} for who is kept when more answer.
   */
  maxServices?: number;
}

/**
 * Most `_sketch._tcp` services one browse remembers, by default (`maxServices`). mDNS is
 * unauthenticated (RFC 6762 §21): anyone on the link can announce any number of services, so
 * what a browse keeps is bounded — with each service's TXT record read up to
 * {@link MAX_TXT_BYTES} and at most {@link MAX_ADDRESSES} addresses, 1000 services take a few
 * MiB at most (measured in test/discovery-robustness.ts; docs/API.md, Discovery).
 */
export const MAX_SERVICES = 1000;
/**
 * Bytes of a service's TXT record read, in bytes: 1300, the most RFC 6763 §6.2 recommends
 * (one Ethernet packet). Key/value strings past it are ignored.
 */
export const MAX_TXT_BYTES = 1300;
/** Most A/AAAA addresses kept per service. */
export const MAX_ADDRESSES = 16;

const TLD = '.local';
/** The DNS-SD service name browsed for: `_sketch._tcp.local`. */
const SERVICE_FQDN = `_${SERVICE_TYPE}._tcp${TLD}`;
const INSTANCE_SUFFIX = `.${SERVICE_FQDN}`.toLowerCase();
const fqdnOf = (name: string) => `${name}._${SERVICE_TYPE}._tcp${TLD}`;
const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Requery schedule while resolving (RFC 6762 §5.2: at least 1 s apart, doubling), in ms. */
const REQUERY_MS = [1000, 2000, 4000, 8000];

/**
 * Receive buffer asked for the mDNS socket (SO_RCVBUF): 1 MiB. Linux's default (208 KiB) holds
 * only a few hundred responses: a host flooding the link with thousands of announcements then
 * makes the kernel drop the rest, a real sketch's answer among them (measured: 24 700 datagrams
 * dropped in one run of test/discovery-robustness.ts). The kernel caps it at
 * `net.core.rmem_max` (Raspberry Pi OS: 208 KiB; raise it with
 * `sysctl -w net.core.rmem_max=1048576`).
 */
export const MDNS_RECEIVE_BUFFER = 1024 * 1024;

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
  #socket?: dgram.Socket;

  /** @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `maxServices` is not a whole number ≥ 1. */
  constructor(options: MdnsDiscoveryOptions = {}) {
    this.#options = {
      probeTimeout: 120,
      host: `${os.hostname().split('.')[0]}${TLD}`,
      mdns: {},
      log: (line) => console.error(line),
      maxServices: MAX_SERVICES,
      ...options,
    };
    checkMax(this.#options.maxServices);
  }

  /** The bonjour-service instance, created (and its socket bound) on first use. */
  bonjour(): Promise<Bonjour> {
    if (this.#closed) return Promise.reject(errors.CLOSED('mDNS discovery'));
    this.#bonjour ??= new Promise<Bonjour>((resolve, reject) => {
      const opts: Record<string, unknown> = { ...this.#options.mdns };
      // multicast-dns takes a socket of ours (its `socket` option) and binds it as its own.
      if (opts.socket === undefined && (opts.type ?? 'udp4') === 'udp4') {
        opts.socket = this.#socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: MDNS_RECEIVE_BUFFER });
      }
      const b = new BonjourService(opts, (err: Error) =>
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
   * The mDNS socket's receive buffer as the kernel reports it (Linux: twice what was granted),
   * in bytes, once {@link bonjour} has bound it; undefined before, or with a socket of the caller's.
   */
  get receiveBufferBytes(): number | undefined {
    try {
      return this.#socket?.getRecvBufferSize();
    } catch {
      return undefined; // not bound yet
    }
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

  async resolve(name: string, timeout: number, signal?: AbortSignal): Promise<FoundSketch> {
    const aborted = () => (signal?.reason instanceof Error ? signal.reason : errors.CLOSED(`lookup of "${name}"`));
    if (signal?.aborted) throw aborted();
    const b = await this.bonjour();
    if (signal?.aborted) throw aborted();
    // Only the wanted name is kept, so no flood of other services costs memory here.
    const table = new ServiceTable({ only: name, log: this.#options.log });
    const fqdn = fqdnOf(name);
    // RFC 6763 §4.3 / RFC 6762 §6: the instance's SRV and TXT records are unique, so their
    // holder answers them at once, while an answer to the shared PTR question may come 20-120 ms
    // later; the first query asks only for those two, requeries add the PTR question too.
    const instance = [
      { name: fqdn, type: 'SRV' },
      { name: fqdn, type: 'TXT' },
    ];
    return new Promise<FoundSketch>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const stop = this.#browse(b, table, timeout, (found) => {
        if (found.length) done(null, found[0]);
      }, instance);
      const onAbort = () => done(aborted());
      const done = (err: Error | null, found?: FoundSketch) => {
        for (const t of timers) clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        stop();
        if (err) reject(err);
        else resolve(found!);
      };
      timers.push(setTimeout(() => done(errors.PEER_NOT_FOUND(name, timeout / 1000)), timeout));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Every sketch that answers within `timeout` ms, sorted by name: at most `maxServices`
   * (default {@link MAX_SERVICES}); when more answer, one line is logged (see {@link ServiceTable}).
   */
  async browse(timeout: number): Promise<FoundSketch[]> {
    const b = await this.bonjour();
    const table = new ServiceTable({ max: this.#options.maxServices, log: this.#options.log });
    const stop = this.#browse(b, table, timeout);
    await new Promise((r) => setTimeout(r, timeout));
    stop();
    return table.list();
  }

  /**
   * Asks for `_sketch._tcp.local` PTR records now and after 1, 2, 4, 8 s (while within
   * `timeout` ms), feeding every response to `table`; `onFound` gets what each response added.
   * With `first`, the first query asks those questions instead of the PTR one, and the requeries
   * ask them beside it (all in one packet each).
   * @returns a function that stops listening.
   */
  #browse(
    b: Bonjour,
    table: ServiceTable,
    timeout: number,
    onFound?: (found: FoundSketch[]) => void,
    first?: Array<{ name: string; type: string }>,
  ): () => void {
    const mdns = responder(b).mdns;
    const onResponse = (packet: unknown, rinfo?: { address?: string }) => {
      const found = table.add(packet, rinfo);
      if (found.length) onFound?.(found);
    };
    const ptr = { name: SERVICE_FQDN, type: 'PTR' };
    const query = () => mdns.query([ptr, ...(first ?? [])]);
    mdns.on('response', onResponse);
    const timers = REQUERY_MS.filter((t) => t < timeout).map((t) => setTimeout(query, t));
    mdns.query(first ?? [ptr]);
    return () => {
      for (const t of timers) clearTimeout(t);
      mdns.removeListener('response', onResponse);
    };
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
 * around each dropped, and only entries starting with `/` kept (a stream path always does);
 * `[]` for an absent or empty value. Never throws, whatever the value holds.
 */
export function parseStreams(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.startsWith('/'));
}

/**
 * Reads the strings of a DNS-SD TXT record (RFC 6763 §6), as multicast-dns decodes them
 * (Buffers), into key/value pairs. Tolerates anything: a string that is not `key=value` or
 * `key` (a key is 1+ printable US-ASCII characters other than `=`) is skipped, keys are
 * lower-cased (they are case-insensitive) and the first occurrence of a key wins (§6.4), a
 * key without `=` gets `''`, values are decoded as UTF-8 (bytes that are not become U+FFFD),
 * and strings past `maxBytes` bytes of the record (default {@link MAX_TXT_BYTES}, 1300) are
 * ignored. Never throws; `[]`, `undefined` or a non-array give `{}`.
 */
export function parseTxt(strings: unknown, maxBytes = MAX_TXT_BYTES): Record<string, string> {
  const pairs = new Map<string, string>();
  if (!Array.isArray(strings)) return {};
  let bytes = 0;
  for (const s of strings) {
    const data = typeof s === 'string' ? Buffer.from(s) : s instanceof Uint8Array ? Buffer.from(s.buffer, s.byteOffset, s.byteLength) : undefined;
    if (!data || data.length === 0) continue;
    bytes += data.length + 1;
    if (bytes > maxBytes) break;
    let eq = data.indexOf(0x3d); // '='
    if (eq === -1) eq = data.length;
    if (eq === 0) continue;
    let printableKey = true;
    for (let i = 0; i < eq; i++) if (data[i]! < 0x20 || data[i]! > 0x7e) printableKey = false;
    if (!printableKey) continue;
    const key = data.toString('latin1', 0, eq).toLowerCase();
    if (!pairs.has(key)) pairs.set(key, eq < data.length ? data.toString('utf8', eq + 1) : '');
  }
  return Object.fromEntries(pairs); // own properties even for "__proto__"
}

interface Rr {
  name: string;
  type: string;
  ttl?: number;
  data: unknown;
}

const isRr = (x: unknown): x is Rr =>
  !!x && typeof x === 'object' && typeof (x as Rr).name === 'string' && typeof (x as Rr).type === 'string';
const rrsOf = (x: unknown): Rr[] => (Array.isArray(x) ? x.filter(isRr) : []);

function checkMax(max: number): void {
  if (!Number.isInteger(max) || max < 1) throw errors.INVALID_OPTION(`maxServices must be a whole number ≥ 1, got ${max}`);
}

/** Options of {@link ServiceTable}. */
export interface ServiceTableOptions {
  /** Most services kept, a whole number ≥ 1. Default {@link MAX_SERVICES} (1000). */
  max?: number;
  /**
   * Keep only the service of this instance name (case-insensitive), as `resolve()` does. Such a
   * table also reads the service from its SRV and TXT records alone, in one response or two.
   */
  only?: string;
  /** Where the one line about a full table (and about a response that could not be read) goes. Default: nowhere. */
  log?: (line: string) => void;
}

/**
 * The `_sketch._tcp` services found by one browse: mDNS responses in, {@link FoundSketch}es
 * out. Plain and synchronous — no socket in it — so it is tested with crafted packets.
 *
 * A service is read from a response holding its PTR record (`_sketch._tcp.local` →
 * `<name>._sketch._tcp.local`) and its SRV record, with its TXT record ({@link parseTxt}) and
 * the A/AAAA records of the SRV target when present; a PTR with TTL 0 (goodbye) forgets it. A
 * newer announcement of a service replaces the older. Anything else — other names, malformed
 * records, values of the wrong type — is skipped: {@link add} never throws.
 *
 * Memory is bounded: at most `max` services, each with at most {@link MAX_TXT_BYTES} of TXT
 * record and {@link MAX_ADDRESSES} addresses, names at most 255 bytes (DNS). When the table
 * is full, a newcomer takes the place of the oldest service of the responder (source address)
 * holding the most, if that responder holds more than the newcomer's would with it; otherwise
 * it is dropped. So one host flooding the link with fake services cannot push out the
 * services of other hosts; services announced from the same address as the flood can be.
 * The first time a service is turned away or displaced, one line is logged.
 */
export class ServiceTable {
  readonly #max: number;
  readonly #only?: string;
  readonly #log: (line: string) => void;
  /** By lower-cased instance FQDN. */
  readonly #entries = new Map<string, { found: FoundSketch; source: string }>();
  /** Keys of the entries per source address, oldest first. */
  readonly #bySource = new Map<string, Set<string>>();
  #dropped = 0;
  #warned = false;
  #failed = false;
  /** With `only`: the wanted instance's newest SRV record (and who sent it) and TXT record, see {@link #instance}. */
  #srv?: { target: string; port: number; source: string | undefined; name: string };
  #txt?: Record<string, string>;

  /** @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `max` is not a whole number ≥ 1. */
  constructor(options: ServiceTableOptions = {}) {
    this.#max = options.max ?? MAX_SERVICES;
    checkMax(this.#max);
    if (options.only !== undefined) this.#only = `${options.only}${INSTANCE_SUFFIX}`.toLowerCase();
    this.#log = options.log ?? (() => {});
  }

  /** How many services are kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many services were turned away or displaced because the table was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The services kept, sorted by name. */
  list(): FoundSketch[] {
    return [...this.#entries.values()].map((e) => e.found).sort((x, y) => x.name.localeCompare(y.name));
  }

  /**
   * Reads one mDNS response (as multicast-dns decodes it) received from `from`.
   * @returns the services it announced that are kept (new or refreshed); `[]` for anything else.
   */
  add(packet: unknown, from?: { address?: unknown }): FoundSketch[] {
    try {
      return this.#add(packet, typeof from?.address === 'string' ? from.address : undefined);
    } catch (err) {
      // Not expected: a safety net, since a throw here would end the process (multicast-dns emits from its socket).
      if (!this.#failed) this.#log(`mDNS: ignored a response that could not be read: ${oneLine(err)}`);
      this.#failed = true;
      return [];
    }
  }

  #add(packet: unknown, source: string | undefined): FoundSketch[] {
    if (!packet || typeof packet !== 'object') return [];
    const p = packet as { answers?: unknown; additionals?: unknown };
    const rrs = [...rrsOf(p.answers), ...rrsOf(p.additionals)];
    const srv = new Map<string, Rr>();
    const txt = new Map<string, Rr>();
    const addresses = new Map<string, string[]>();
    for (const rr of rrs) {
      if (rr.ttl === 0) continue;
      const key = rr.name.toLowerCase();
      if (rr.type === 'SRV' && !srv.has(key)) srv.set(key, rr);
      else if (rr.type === 'TXT' && !txt.has(key)) txt.set(key, rr);
      else if ((rr.type === 'A' || rr.type === 'AAAA') && typeof rr.data === 'string') {
        let list = addresses.get(key);
        if (!list) addresses.set(key, (list = []));
        if (list.length < MAX_ADDRESSES && !list.includes(rr.data)) list.push(rr.data);
      }
    }
    const found: FoundSketch[] = [];
    const done = new Set<string>();
    for (const ptr of rrs) {
      if (ptr.type !== 'PTR' || typeof ptr.data !== 'string' || ptr.name.toLowerCase() !== SERVICE_FQDN) continue;
      const key = ptr.data.toLowerCase();
      if (done.has(key) || !key.endsWith(INSTANCE_SUFFIX) || key.length === INSTANCE_SUFFIX.length) continue;
      if (this.#only !== undefined && key !== this.#only) continue;
      done.add(key);
      if (ptr.ttl === 0) {
        this.#remove(key);
        continue;
      }
      const target = srv.get(key)?.data as { target?: unknown; port?: unknown } | undefined;
      if (!target || typeof target.target !== 'string' || !Number.isInteger(target.port)) continue;
      const port = target.port as number;
      if (port < 0 || port > 65535) continue;
      const service = foundSketch({
        name: ptr.data.slice(0, -INSTANCE_SUFFIX.length),
        host: target.target,
        port,
        txt: parseTxt(txt.get(key)?.data),
        addresses: addresses.get(target.target.toLowerCase()) ?? [],
        referer: source,
      });
      if (this.#put(key, service, source ?? '')) found.push(service);
    }
    if (this.#only !== undefined && !done.has(this.#only)) {
      const service = this.#instance(rrs, srv.get(this.#only), txt.get(this.#only), addresses, source);
      if (service && this.#put(this.#only, service, source ?? '')) found.push(service);
    }
    return found;
  }

  /**
   * The wanted instance read from its SRV and TXT records without a PTR record, as they answer a
   * resolve's SRV and TXT questions: possibly in two responses (bonjour-service answers each
   * question in its own), so the newest of each is kept between calls. A service needs both
   * (RFC 6763 §6: every service has a TXT record); a goodbye for its SRV record forgets it.
   */
  #instance(rrs: Rr[], srv: Rr | undefined, txt: Rr | undefined, addresses: Map<string, string[]>, source: string | undefined): FoundSketch | undefined {
    const key = this.#only!;
    if (rrs.some((rr) => rr.type === 'SRV' && rr.ttl === 0 && rr.name.toLowerCase() === key)) {
      this.#srv = undefined;
      this.#remove(key);
    }
    const data = srv?.data as { target?: unknown; port?: unknown } | undefined;
    if (data && typeof data.target === 'string' && Number.isInteger(data.port) && (data.port as number) >= 0 && (data.port as number) <= 65535) {
      this.#srv = { target: data.target, port: data.port as number, source, name: srv!.name.slice(0, -INSTANCE_SUFFIX.length) };
    }
    if (txt) this.#txt = parseTxt(txt.data);
    if (!this.#srv || !this.#txt) return undefined;
    if (!srv && !txt) return undefined; // nothing new in this response
    const s = this.#srv;
    if (s.name.length === 0) return undefined;
    return foundSketch({ name: s.name, host: s.target, port: s.port, txt: this.#txt, addresses: addresses.get(s.target.toLowerCase()) ?? [], referer: s.source });
  }

  #put(key: string, found: FoundSketch, source: string): boolean {
    const old = this.#entries.get(key);
    if (old) {
      if (old.source !== source) {
        this.#forget(key, old.source);
        this.#remember(key, source);
      }
      old.found = found;
      old.source = source;
      return true;
    }
    if (this.#entries.size >= this.#max) {
      this.#dropped++;
      this.#warn();
      if (!this.#displace(source)) return false;
    }
    this.#entries.set(key, { found, source });
    this.#remember(key, source);
    return true;
  }

  /** Makes room for a service of `source`: forgets the oldest of the biggest responder's, if it holds more than `source` would. */
  #displace(source: string): boolean {
    let biggest: string | undefined;
    let most = 0;
    for (const [s, keys] of this.#bySource) {
      if (keys.size > most) [biggest, most] = [s, keys.size];
    }
    const mine = this.#bySource.get(source)?.size ?? 0;
    if (biggest === undefined || most <= mine + 1) return false;
    const victim = this.#bySource.get(biggest)!.values().next().value as string;
    this.#remove(victim);
    return true;
  }

  #warn(): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#log(
      `mDNS: more than ${this.#max} _sketch._tcp services answered; keeping ${this.#max}, no responder more than its share (mDNS is unauthenticated: a host may be flooding the network)`,
    );
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#forget(key, entry.source);
  }

  #remember(key: string, source: string): void {
    let keys = this.#bySource.get(source);
    if (!keys) this.#bySource.set(source, (keys = new Set()));
    keys.add(key);
  }

  #forget(key: string, source: string): void {
    const keys = this.#bySource.get(source);
    keys?.delete(key);
    if (keys?.size === 0) this.#bySource.delete(source);
  }
}

function foundSketch(s: {
  name: string;
  host: string;
  port: number;
  txt: Record<string, string>;
  addresses: string[];
  referer?: string;
}): FoundSketch {
  const address = s.referer ?? s.addresses.find((a) => !a.includes(':')) ?? s.addresses[0] ?? '127.0.0.1';
  const hostPart = address.includes(':') ? `[${address}]` : address;
  return {
    name: s.name,
    kind: s.txt.kind ?? '',
    address,
    addresses: [...s.addresses],
    port: s.port,
    protocol: s.txt.protocol ?? '',
    streams: parseStreams(s.txt.streams),
    host: s.host,
    url: `${s.txt.tls === '1' ? 'wss' : 'ws'}://${hostPart}:${s.port}/`,
    tls: s.txt.tls === '1',
    txt: s.txt,
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
  async resolve(name: string, timeout: number, signal?: AbortSignal): Promise<FoundSketch> {
    signal?.throwIfAborted();
    const found = this.registry.get(name.toLowerCase());
    if (!found) throw errors.PEER_NOT_FOUND(name, timeout / 1000);
    return found;
  }
  async browse(): Promise<FoundSketch[]> {
    return [...this.registry.values()];
  }
  async close(): Promise<void> {}
}
