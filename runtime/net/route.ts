import os from 'node:os';
import { errors, SketchError } from '../errors.js';
import type { BrokerDirectory } from '../discovery/broker.js';
import type { Discovery, FoundSketch } from '../discovery/mdns.js';

/** Something that sends messages to one peer and resolves with acknowledgements: a {@link Peer} or a {@link BrokerPeer}. */
export interface Sender {
  /** Sends one message (with `traceparent`, a W3C trace context to carry where the protocol can); resolves with its acknowledgement. */
  send(text: string, traceparent?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * How a peer is reached: `'mdns'` over a WebSocket to the address mDNS gave, `'direct'` over a
 * WebSocket to the address its broker presence advertised (on one of our links), `'broker'`
 * through the broker.
 */
export type RouteKind = 'mdns' | 'direct' | 'broker';

/** Options of {@link Route}. */
export interface RouteOptions {
  /** mDNS discovery, or false (`--no-mdns`). */
  mdns: Discovery | false;
  /** The broker's presence directory. */
  directory: BrokerDirectory;
  /** How long to look for the peer, in ms. */
  discoverTimeout: number;
  /** A WebSocket sender to `target` (an instance name resolved over mDNS, or a URL). */
  webSocket: (target: string) => Sender;
  /** A sender through the broker. */
  broker: () => Sender;
  /** Connect directly to a broker-found peer on one of this host's links. Default true. */
  preferDirect?: boolean;
  /** This host's interfaces (tests). Default `os.networkInterfaces()`. */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** One line when the route is chosen. */
  log?: (line: string) => void;
}

/**
 * Reaches a peer by name when the sketch has both mDNS and a broker: it looks in both at once
 * and prefers a direct WebSocket when the peer is on the LAN — found over mDNS, or its broker
 * presence advertises an address in the subnet of one of this host's interfaces — and sends
 * through the broker otherwise. The choice is made on the first send and made again after a send fails
 * for want of the peer (it may have moved).
 */
export class Route implements Sender {
  readonly target: string;
  readonly #options: RouteOptions;
  #chosen?: Promise<{ kind: RouteKind; sender: Sender }>;
  /** The route once chosen (sends then skip the lookup's promise). */
  #route?: { kind: RouteKind; sender: Sender };
  #closed = false;

  constructor(target: string, options: RouteOptions) {
    this.target = target;
    this.#options = options;
  }

  /** How the peer is reached now; undefined before the first send. */
  async kind(): Promise<RouteKind | undefined> {
    return this.#chosen ? (await this.#chosen.catch(() => undefined))?.kind : undefined;
  }

  send(text: string, traceparent?: string): Promise<string> {
    const route = this.#route;
    if (route && !this.#closed) return route.sender.send(text, traceparent).catch((err: unknown) => this.#failed(route, err));
    return this.#sendChoosing(text, traceparent);
  }

  /** How the peer is reached now (a link's `via`): over mDNS until a route is chosen. */
  get via(): 'mdns' | 'url' | 'broker' {
    const kind = this.#route?.kind;
    return kind === 'broker' ? 'broker' : kind === 'direct' ? 'url' : 'mdns';
  }

  /** The chosen route's connection state (`idle` before one is chosen). */
  get state(): 'connected' | 'retrying' | 'idle' {
    return (this.#route?.sender as { state?: 'connected' | 'retrying' | 'idle' } | undefined)?.state ?? 'idle';
  }

  /** A send failed for want of the peer: look again next time. */
  #failed(route: { sender: Sender }, err: unknown): never {
    if (err instanceof SketchError && (err.code === 'SKETCH_ERR_PEER_UNREACHABLE' || err.code === 'SKETCH_ERR_PEER_NOT_FOUND') && this.#route === route) {
      this.#route = undefined;
      this.#chosen = undefined;
      void route.sender.close();
    }
    throw err;
  }

  async #sendChoosing(text: string, traceparent?: string): Promise<string> {
    if (this.#closed) throw errors.CLOSED(`connection to ${this.target}`);
    this.#chosen ??= this.#choose();
    const chosen = this.#chosen;
    let route;
    try {
      route = await chosen;
    } catch (err) {
      if (this.#chosen === chosen) this.#chosen = undefined;
      throw err;
    }
    if (this.#chosen === chosen) this.#route = route;
    return route.sender.send(text, traceparent).catch((err: unknown) => this.#failed(route, err));
  }

  async #choose(): Promise<{ kind: RouteKind; sender: Sender }> {
    const o = this.#options;
    const hit = await lookUp(this.target, o.mdns, o.directory, o.discoverTimeout, { preferDirect: o.preferDirect, interfaces: o.interfaces?.() });
    if (hit.how === 'mdns') {
      o.log?.(`found "${this.target}" over mDNS: connecting directly`);
      return { kind: 'mdns', sender: o.webSocket(this.target) };
    }
    if (hit.how === 'direct') {
      o.log?.(`found "${this.target}" on the broker, on this link at ${hit.found.url}: connecting directly`);
      return { kind: 'direct', sender: o.webSocket(hit.found.url) };
    }
    o.log?.(`found "${this.target}" on the broker, not on this link: requests go through the broker`);
    return { kind: 'broker', sender: o.broker() };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const chosen = await this.#chosen?.catch(() => undefined);
    await chosen?.sender.close();
  }
}

/** Where {@link lookUp} found a sketch, and how to reach it (see {@link RouteKind}). */
export interface Lookup {
  how: RouteKind;
  found: FoundSketch;
}

/**
 * Looks for `name` over mDNS (unless `mdns` is false) and on the broker at once, for up to
 * `timeoutMs` ms; the first to find it wins. Found on the broker, it is `'direct'` when its
 * advertised WebSocket address is on one of this host's links (and `preferDirect` is not false).
 * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when neither found it (naming both),
 *   `SKETCH_ERR_BROKER_UNREACHABLE` when the broker could not be asked.
 */
export async function lookUp(
  name: string,
  mdns: Discovery | false,
  directory: BrokerDirectory,
  timeoutMs: number,
  options: { preferDirect?: boolean; interfaces?: NodeJS.Dict<os.NetworkInterfaceInfo[]> } = {},
): Promise<Lookup> {
  const abort = new AbortController();
  const viaMdns = mdns ? mdns.resolve(name, timeoutMs, abort.signal).then((found): Lookup => ({ how: 'mdns', found })) : undefined;
  const viaBroker = directory.resolve(name, timeoutMs, abort.signal).then((found): Lookup => {
    const direct = options.preferDirect !== false && found.url !== '' && onThisLan(found, options.interfaces ?? os.networkInterfaces());
    return { how: direct ? 'direct' : 'broker', found };
  });
  viaMdns?.catch(() => {});
  viaBroker.catch(() => {});
  try {
    return await Promise.any(viaMdns ? [viaMdns, viaBroker] : [viaBroker]);
  } catch (err) {
    const errs = ((err as AggregateError).errors ?? []) as unknown[];
    const notFound = (e: unknown) => e instanceof SketchError && e.code === 'SKETCH_ERR_PEER_NOT_FOUND';
    if (viaMdns && errs.length > 0 && errs.every(notFound)) throw errors.PEER_NOT_FOUND(name, timeoutMs / 1000, directory.url);
    throw errs[errs.length - 1] ?? err; // the broker's reason: unreachable, not online, or refused
  } finally {
    abort.abort();
  }
}

/** Whether a broker-found sketch's advertised address is reachable from here: loopback only from its own machine (same host name), else {@link onLocalLink}. */
export function onThisLan(f: FoundSketch, interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): boolean {
  const address = new URL(f.url).hostname.replace(/^\[|\]$/g, '');
  if (/^127\./.test(address) || address === '::1') return f.host === os.hostname();
  return onLocalLink(address, interfaces);
}

/** Whether IPv4 `host` lies in the subnet of one of `interfaces` (address & netmask); IPv6: only our own addresses. */
export function onLocalLink(host: string, interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  const v4 = (a: string) => a.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4') {
        if (i.address === bare) return true;
        continue;
      }
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(bare)) continue;
      const mask = v4(i.netmask);
      if (((v4(i.address) & mask) >>> 0) === ((v4(bare) & mask) >>> 0)) return true;
    }
  }
  return false;
}
