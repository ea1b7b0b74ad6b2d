/**
 * The dashboard's directory: every sketch found over mDNS, with its status polled. No sockets
 * in it: browsing and the status request are injected, so tests run it with fakes.
 */
import { EventEmitter } from 'node:events';
import type { FoundSketch } from '../discovery/mdns.js';
import type { SketchStatus } from '../streams/status.js';
import type { IncomingLinkStatus, OutgoingLinkStatus } from '../net/links.js';

/** One stream of a sketch as the dashboard shows it (from the sketch's status). */
export interface StreamCard {
  /** The stream's path, e.g. `/readings`. */
  path: string;
  /** Items per second over the last minute; `null` before the status was read. */
  rate: number | null;
  /** Mean of `published − time`, s; `null` when unknown. */
  lag: number | null;
  /** Items skipped for subscribers since the sketch started. */
  drops: number;
  /** Newest seq published, and the stream's epoch. */
  seq: number;
  epoch: string | null;
}

/** One outgoing link of a sketch (status `links.out`): messages it sends to a peer. */
/** One outgoing link of a sketch (status `links.out`), as read from its status (checked field by field). */
export type OutLinkCard = Omit<OutgoingLinkStatus, 'via' | 'state'> & {
  /** How the peer was reached: `mdns`, `url` or `broker` (a newer sketch may say more). */
  via: string;
  /** `connected`, `retrying` or `idle`. */
  state: string;
};

/** One incoming link of a sketch (status `links.in`): a client connection sending to it. */
export type InLinkCard = IncomingLinkStatus;

/** A sketch's links as its status says (`{out: [], in: []}` for a sketch too old to say). */
export interface LinksCard {
  out: OutLinkCard[];
  in: InLinkCard[];
}

/**
 * How alive a sketch looks: `up` — it answered its last status poll; `stale` — its last poll
 * went unanswered (its figures are old: the page greys them and says when it was last seen);
 * `down` — gone: an mDNS goodbye (seen as an unanswered poll while the last browse no longer
 * finds it), or {@link DirectoryOptions.downAfterPolls} polls in a row unanswered.
 */
export type Liveness = 'up' | 'stale' | 'down';

/** One sketch as the dashboard shows it. */
export interface SketchCard {
  /** DNS-SD instance name. */
  name: string;
  /** TXT `kind=`. */
  kind: string;
  /** `ws://ADDRESS:PORT/` (`wss://` over TLS). */
  url: string;
  /** `ADDRESS:PORT`. */
  address: string;
  /** Whether it answered its last status poll (false: stale or down, the page fades it). Kept beside `state` for older readers. */
  up: boolean;
  /** `up`, `stale` or `down`: see {@link Liveness}. */
  state: Liveness;
  /** Why it is gone (`goodbye`, `status: …`), when it is. */
  why?: string;
  /** Its streams: announced in TXT `streams=` and listed by its status. */
  streams: StreamCard[];
  /** Whether a message sent to it is acknowledged (status `acknowledges`); the page offers a message box only then. Assumed true until its status says otherwise. */
  acknowledges: boolean;
  /** When it last answered a status poll (or was first found, if it never did), ms since the epoch. */
  seen: number;
  /** Its links from its status (`{out: [], in: []}` until it says). */
  links: LinksCard;
  /**
   * A recorder's database (status `recorder.storage` and `recorder.freeBytes`): `ok`, `full` (no
   * space left) or `error` (an I/O error, read-only), and the free bytes on its file system
   * (null: unknown). Absent for other sketches.
   */
  storage?: { state: 'ok' | 'full' | 'error'; freeBytes: number | null };
}

/** Options of {@link Directory}. Times in ms. */
export interface DirectoryOptions {
  /** One browse: every sketch answering within `timeoutMs`. */
  browse(timeoutMs: number): Promise<FoundSketch[]>;
  /** The sketch's status (`GET /.well-known/sketch`); rejects when it does not answer. */
  status(found: FoundSketch): Promise<SketchStatus>;
  /** How long one browse listens, ms. Default 1000. */
  browseMs?: number;
  /** Pause between two browses, ms. Default 2000. */
  browseEvery?: number;
  /** Pause between two status polls of every sketch, ms. Default 2000. */
  pollEvery?: number;
  /**
   * Unanswered status polls in a row after which a sketch is `down` (before: `stale`). Default 3:
   * with the default `pollEvery` a sketch that stops answering is down 3 polls (about 6 s plus the
   * status timeout of each, 2 s) after its last answer — sooner when a browse no longer finds it
   * (an mDNS goodbye, or nothing answering for it): then it is down at its first unanswered poll.
   */
  downAfterPolls?: number;
  /** A sketch gone for this long is forgotten, ms. Default 600 000 (10 min). */
  forgetAfter?: number;
  /** Kinds not listed (the dashboard itself). Default `['dashboard']`. */
  skipKinds?: readonly string[];
  /** Instance names not listed (this dashboard's own). */
  skipNames?: () => readonly string[];
  /** The clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Where problems go (one line each). */
  log?: (line: string) => void;
}

/** Events of a {@link Directory}. */
export interface DirectoryEvents {
  /** The list of cards changed (a sketch came, went, or its figures changed). */
  change: [cards: SketchCard[]];
}

/**
 * Finds sketches as they come and go: browses `_sketch._tcp` over and over (a sketch missing
 * from a browse is not gone yet: packets get lost), polls each sketch's status, and marks a
 * sketch gone when its status poll fails (after a goodbye it no longer answers) — it comes back
 * up when it answers again, at its new address if it moved. Emits `change` when anything a card
 * shows changed.
 */
export class Directory extends EventEmitter<DirectoryEvents> {
  readonly #o: Required<Omit<DirectoryOptions, 'skipNames'>> & Pick<DirectoryOptions, 'skipNames'>;
  readonly #found = new Map<string, FoundSketch>();
  readonly #cards = new Map<string, SketchCard>();
  /** Unanswered polls in a row, by name. */
  readonly #misses = new Map<string, number>();
  /** Names the last browse found. */
  #browsed = new Set<string>();
  #closed = false;
  #timers = new Set<NodeJS.Timeout>();
  #wake?: () => void;
  #json = '';

  constructor(options: DirectoryOptions) {
    super();
    this.#o = {
      browseMs: 1000,
      browseEvery: 2000,
      pollEvery: 2000,
      downAfterPolls: 3,
      forgetAfter: 600_000,
      skipKinds: ['dashboard'],
      now: Date.now,
      log: () => {},
      ...options,
    };
  }

  /** Starts browsing and polling (returns at once). */
  start(): void {
    void this.#browseLoop();
    void this.#pollLoop();
  }

  /** Every card, sorted by name. */
  cards(): SketchCard[] {
    return [...this.#cards.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The card of `name`, if any. */
  get(name: string): SketchCard | undefined {
    return this.#cards.get(name);
  }

  /** What mDNS said about `name` (its URL, TLS, addresses), if it was found. */
  found(name: string): FoundSketch | undefined {
    return this.#found.get(name);
  }

  /** Browses once and polls every sketch found once: what `start()` does on each turn. */
  async refresh(): Promise<void> {
    await this.#browseOnce();
    await this.#pollOnce();
  }

  /** Stops browsing and polling. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#wake?.();
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  async #browseLoop(): Promise<void> {
    while (!this.#closed) {
      await this.#browseOnce();
      if (this.#closed) return;
      await this.#sleep(this.#o.browseEvery);
    }
  }

  async #pollLoop(): Promise<void> {
    while (!this.#closed) {
      await this.#sleep(this.#o.pollEvery);
      if (this.#closed) return;
      await this.#pollOnce();
    }
  }

  async #browseOnce(): Promise<void> {
    let list: FoundSketch[];
    try {
      list = await this.#o.browse(this.#o.browseMs);
    } catch (err) {
      this.#o.log(`mDNS browse failed: ${(err as Error).message}`);
      return;
    }
    if (this.#closed) return;
    const skipNames = new Set(this.#o.skipNames?.() ?? []);
    this.#browsed = new Set(list.map((f) => f.name));
    const fresh: FoundSketch[] = [];
    for (const f of list) {
      if (this.#o.skipKinds.includes(f.kind) || skipNames.has(f.name)) continue;
      const known = this.#found.get(f.name);
      this.#found.set(f.name, f);
      const card = this.#cards.get(f.name);
      if (!known || !card || known.url !== f.url || !card.up) fresh.push(f);
    }
    // New sketches, and ones that moved or came back: poll them now rather than at the next turn.
    await Promise.all(fresh.map((f) => this.#poll(f, true)));
    this.#changed();
  }

  async #pollOnce(): Promise<void> {
    const now = this.#o.now();
    for (const [name, card] of this.#cards) {
      if (!card.up && now - card.seen > this.#o.forgetAfter) {
        this.#cards.delete(name);
        this.#found.delete(name);
        this.#misses.delete(name);
      }
    }
    await Promise.all([...this.#found.values()].map((f) => this.#poll(f)));
    this.#changed();
  }

  /** Polls `f`'s status; `extra`: a poll out of turn (after a browse), which does not count as a missed poll. */
  async #poll(f: FoundSketch, extra = false): Promise<void> {
    const before = this.#cards.get(f.name);
    let status: SketchStatus | undefined;
    let why = '';
    try {
      status = await this.#o.status(f);
    } catch (err) {
      why = (err as Error).message;
    }
    if (this.#closed) return;
    const current = this.#found.get(f.name);
    if (current && current.url !== f.url) return; // it moved meanwhile: the newer poll decides
    const announced = f.streams.map((path) => before?.streams.find((s) => s.path === path) ?? emptyStream(path));
    if (!status) {
      const misses = (this.#misses.get(f.name) ?? 0) + (extra && before ? 0 : 1);
      this.#misses.set(f.name, misses);
      // Down: polls unanswered long enough, or unanswered while mDNS no longer finds it (a goodbye).
      const state: Liveness = misses >= this.#o.downAfterPolls || !this.#browsed.has(f.name) ? 'down' : 'stale';
      if (before && !before.up && before.state === state) return;
      this.#cards.set(f.name, {
        ...cardOf(f, before?.streams ?? announced),
        acknowledges: before?.acknowledges ?? true,
        up: false,
        state,
        why: before?.up === false && before.why ? before.why : before ? `no answer to its status (${why})` : `no status (${why})`,
        seen: before?.seen ?? this.#o.now(),
        links: before?.links ?? { out: [], in: [] },
        ...(before?.storage ? { storage: before.storage } : {}),
      });
      return;
    }
    this.#misses.set(f.name, 0);
    const streams = new Map(announced.map((s) => [s.path, s]));
    for (const [path, s] of Object.entries(status.streams ?? {})) {
      streams.set(path, {
        path,
        rate: numberOr(s.rate, null),
        lag: numberOr(s.lag?.mean, null),
        drops: numberOr(s.drops, 0),
        seq: numberOr(s.seq, 0),
        epoch: typeof s.epoch === 'string' ? s.epoch : null,
      });
    }
    this.#cards.set(f.name, {
      ...cardOf(f, [...streams.values()]),
      acknowledges: status.acknowledges !== false,
      up: true,
      state: 'up',
      seen: this.#o.now(),
      links: linksOf(status.links),
      ...storageOf(status.recorder),
    });
  }

  #changed(): void {
    const cards = this.cards();
    const json = JSON.stringify(cards.map(({ seen: _seen, ...c }) => c));
    if (json === this.#json) return;
    this.#json = json;
    this.emit('change', cards);
  }
}

/** The card's `storage` from a status's `recorder` field, checked field by field. */
function storageOf(recorder: unknown): Pick<SketchCard, 'storage'> {
  const r = recorder as { storage?: unknown; freeBytes?: unknown } | undefined;
  if (!r || (r.storage !== 'ok' && r.storage !== 'full' && r.storage !== 'error')) return {};
  return { storage: { state: r.storage, freeBytes: typeof r.freeBytes === 'number' ? r.freeBytes : null } };
}

function cardOf(f: FoundSketch, streams: StreamCard[]): Omit<SketchCard, 'up' | 'state' | 'seen' | 'acknowledges' | 'links'> {
  const host = f.address.includes(':') ? `[${f.address}]` : f.address;
  return { name: f.name, kind: f.kind, url: f.url, address: `${host}:${f.port}`, streams };
}

function emptyStream(path: string): StreamCard {
  return { path, rate: null, lag: null, drops: 0, seq: 0, epoch: null };
}

function numberOr<T>(x: unknown, fallback: T): number | T {
  return typeof x === 'number' && Number.isFinite(x) ? x : fallback;
}

/** A status's `links`, checked field by field (it comes from the network); `{out: [], in: []}` when absent. */
export function linksOf(x: unknown): LinksCard {
  const l = (x && typeof x === 'object' ? x : {}) as { out?: unknown; in?: unknown };
  const str = (v: unknown, d = '') => (typeof v === 'string' ? v.slice(0, 300) : d);
  const num = (v: unknown) => numberOr(v, 0);
  const out = (Array.isArray(l.out) ? l.out : []).filter((o): o is Record<string, unknown> => !!o && typeof o === 'object' && typeof o.to === 'string').slice(0, 1000).map((o): OutLinkCard => {
    const ack = (o.ackMs && typeof o.ackMs === 'object' ? o.ackMs : {}) as Record<string, unknown>;
    return {
      to: str(o.to),
      via: str(o.via, 'mdns'),
      state: str(o.state, 'idle'),
      sent: num(o.sent),
      acked: num(o.acked),
      errors: num(o.errors),
      inFlight: num(o.inFlight),
      queued: num(o.queued),
      dropped: num(o.dropped),
      rate: num(o.rate),
      ackMs: { p50: numberOr(ack.p50, null), p99: numberOr(ack.p99, null) },
      lastAt: numberOr(o.lastAt, null),
    };
  });
  const inn = (Array.isArray(l.in) ? l.in : []).filter((o): o is Record<string, unknown> => !!o && typeof o === 'object' && typeof o.from === 'string').slice(0, 1000).map((o): InLinkCard => ({
    from: str(o.from),
    path: str(o.path, '/'),
    received: num(o.received),
    rate: num(o.rate),
    lastAt: numberOr(o.lastAt, null),
  }));
  return { out, in: inn };
}
