/**
 * A sketch's outgoing side: one counted link per peer it sends to — `stream()`'s connections
 * and the outboxes' — made on first use, reported in the status (`links.out`, `forward`) and
 * closed with the sketch. No sketch in it: names, discovery, the broker link and the tracer are
 * handed in.
 */
import type { Discovery } from '../discovery/mdns.js';
import type { Logger } from '../log.js';
import { Outbox, type OutboxOptions, type OutboxStatus } from '../streams/outbox.js';
import type { BrokerLink } from './broker-link.js';
import { OutgoingLink, type OutgoingLinkStatus } from './links.js';
import { Peer, type PeerOptions } from './peer.js';
import { Route, type Sender } from './route.js';
import type { Tracer } from './spans.js';
import { SqliteOutboxStore } from '../streams/spool.js';

/** What {@link Senders} needs from its sketch. */
export interface SendersOptions {
  /** This sketch's instance name now (stated to peers). */
  name: () => string;
  discovery: Discovery | false;
  /** How long to look for a peer by name, ms. */
  discoverTimeout: number;
  /** The sketch's settings for its connections (`SketchConfig.peer`). */
  peer?: PeerOptions;
  /** The broker link, once joined: peers are then also looked for there. */
  broker: () => BrokerLink | undefined;
  tracer?: Tracer;
  /** The spool file: each outbox's items kept there (one queue per peer) instead of in memory. */
  spool?: string;
  /** MB the spool holds per peer at most. */
  spoolMax?: number;
  log: Logger;
}

/** See the module comment. */
export class Senders {
  readonly #o: SendersOptions;
  /** By peer for `stream()`, by `outbox:<peer>` for an outbox's connection. */
  readonly #links = new Map<string, OutgoingLink>();
  readonly #outboxes = new Map<string, Outbox>();

  constructor(options: SendersOptions) {
    this.#o = options;
  }

  /** `stream()`'s link to `peer`, made on first use. */
  link(peer: string): OutgoingLink {
    let p = this.#links.get(peer);
    if (!p) {
      p = this.#sender(peer, { log: (line, level) => this.#o.log.write(level ?? 'warn', line), announceLookup: true });
      this.#links.set(peer, p);
    }
    return p;
  }

  /** The outbox for `peer`, made on first use (later `options` are ignored): see `Sketch.outbox()`. */
  outbox(peer: string, options: OutboxOptions = {}): Outbox {
    let o = this.#outboxes.get(peer);
    if (o) return o;
    const key = `outbox:${peer}`;
    const connect = () => {
      // the outbox retries, with its own backoff and one log line
      const p = this.#sender(peer, { retries: 0 }, () => {
        const s = o!.status();
        return { queued: s.queued, dropped: s.dropped };
      });
      this.#links.set(key, p);
      return p;
    };
    let p = connect();
    o = new Outbox({
      ...options,
      ...(this.#o.spool ? { store: new SqliteOutboxStore(this.#o.spool, peer), maxBytes: this.#o.spoolMax === undefined ? undefined : this.#o.spoolMax * 1e6 } : {}),
      target: peer,
      send: (text) => p.send(text),
      // no acknowledgement in time: drop that connection, the next attempt makes a new one
      abandon: () => {
        const hung = p;
        p = connect();
        void hung.close();
      },
      log: (line) => this.#o.log.warn(line),
    });
    this.#outboxes.set(peer, o);
    return o;
  }

  /** Every link's status (`links.out`). */
  links(): OutgoingLinkStatus[] {
    return [...this.#links.values()].map((l) => l.status());
  }

  /** Every outbox's status by peer (`forward`), or undefined when there is none. */
  forward(): Record<string, OutboxStatus> | undefined {
    return this.#outboxes.size ? Object.fromEntries([...this.#outboxes].map(([k, o]) => [k, o.status()])) : undefined;
  }

  /** Closes every outbox and connection (1000); resolves when all did. */
  async close(): Promise<void> {
    await Promise.allSettled([...[...this.#outboxes.values()].map((o) => o.close()), ...[...this.#links.values()].map((p) => p.close())]);
  }

  /**
   * The counted link to `target`: a WebSocket {@link Peer}, or with a broker and a name a
   * {@link Route} that may go through the broker instead. `queue`: the outbox in front of it.
   */
  #sender(target: string, extra: PeerOptions, queue?: () => { queued: number; dropped: number }): OutgoingLink {
    return new OutgoingLink(target, this.#route(target, extra), { tracer: this.#o.tracer, queue });
  }

  #route(target: string, extra: PeerOptions): Sender {
    const { discovery, discoverTimeout, peer, name: from } = this.#o;
    const webSocket = (t: string) => new Peer(t, { discovery, discoverTimeout, from, ...extra, ...peer, ...(extra.retries === 0 ? { retries: 0 } : {}) });
    const link = this.#o.broker();
    if (!link || /^wss?:\/\//i.test(target)) return webSocket(target);
    return new Route(target, {
      mdns: discovery,
      directory: link.directory,
      discoverTimeout,
      webSocket,
      preferDirect: link.preferDirect,
      broker: () => link.peer(target, { discoverTimeout, ackTimeout: peer?.ackTimeout, log: (line) => this.#o.log.warn(line), from }),
      log: (line) => this.#o.log.info(line),
    });
  }
}
