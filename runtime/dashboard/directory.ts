/**
 * The dashboard's directory: every sketch found over mDNS, with its status polled. No sockets
 * in it: browsing and the status request are injected, so tests run it with fakes.
 */
import { EventEmitter } from 'node:events';
import type { FoundSketch } from '../discovery/mdns.js';
import type { SketchStatus } from '../streams/status.js';

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
  /** Whether it answered its last status poll (false: gone, the page fades it). */
  up: boolean;
  /** Why it is gone (`goodbye`, `status: …`), when it is. */
  why?: string;
  /** Its streams: announced in TXT `streams=` and listed by its status. */
  streams: StreamCard[];
  /** Whether a message sent to it is acknowledged (status `acknowledges`); the page offers a message box only then. Assumed true until its status says otherwise. */
  acknowledges: boolean;
  /** When it was last seen up, ms since the epoch. */
  seen: number;
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
    const fresh: FoundSketch[] = [];
    for (const f of list) {
      if (this.#o.skipKinds.includes(f.kind) || skipNames.has(f.name)) continue;
      const known = this.#found.get(f.name);
      this.#found.set(f.name, f);
      const card = this.#cards.get(f.name);
      if (!known || !card || known.url !== f.url || !card.up) fresh.push(f);
    }
    // New sketches, and ones that moved or came back: poll them now rather than at the next turn.
    await Promise.all(fresh.map((f) => this.#poll(f)));
    this.#changed();
  }

  async #pollOnce(): Promise<void> {
    const now = this.#o.now();
    for (const [name, card] of this.#cards) {
      if (!card.up && now - card.seen > this.#o.forgetAfter) {
        this.#cards.delete(name);
        this.#found.delete(name);
      }
    }
    await Promise.all([...this.#found.values()].map((f) => this.#poll(f)));
    this.#changed();
  }

  async #poll(f: FoundSketch): Promise<void> {
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
      if (before && !before.up) return;
      this.#cards.set(f.name, {
        ...cardOf(f, before?.streams ?? announced),
        acknowledges: before?.acknowledges ?? true,
        up: false,
        why: before ? `no answer to its status (${why})` : `no status (${why})`,
        seen: before?.seen ?? this.#o.now(),
      });
      return;
    }
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
    this.#cards.set(f.name, { ...cardOf(f, [...streams.values()]), acknowledges: status.acknowledges !== false, up: true, seen: this.#o.now() });
  }

  #changed(): void {
    const cards = this.cards();
    const json = JSON.stringify(cards.map(({ seen: _seen, ...c }) => c));
    if (json === this.#json) return;
    this.#json = json;
    this.emit('change', cards);
  }
}

function cardOf(f: FoundSketch, streams: StreamCard[]): Omit<SketchCard, 'up' | 'seen' | 'acknowledges'> {
  const host = f.address.includes(':') ? `[${f.address}]` : f.address;
  return { name: f.name, kind: f.kind, url: f.url, address: `${host}:${f.port}`, streams };
}

function emptyStream(path: string): StreamCard {
  return { path, rate: null, lag: null, drops: 0, seq: 0, epoch: null };
}

function numberOr<T>(x: unknown, fallback: T): number | T {
  return typeof x === 'number' && Number.isFinite(x) ? x : fallback;
}
