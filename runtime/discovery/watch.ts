/**
 * Watching the network continuously: which sketches come and go. Built on any
 * {@link Discovery}'s `browse()`, so the in-process {@link MemoryDiscovery} drives it in tests
 * and {@link MdnsDiscovery} (whose browse also reads announcements and goodbyes) on the network.
 */
import { oneLine } from '../errors.js';
import type { Discovery, FoundSketch } from './mdns.js';

/** Options of {@link watchSketches}. */
export interface WatchOptions {
  /** Seconds between browses. Default 5. */
  intervalSeconds?: number;
  /** How long each browse listens for answers, in ms. Default 1500. */
  browseMs?: number;
  /** Browses in a row a sketch must be missing from before it counts as gone. Default 3. */
  missesBeforeLost?: number;
  /** A sketch appeared, or its announcement changed (address, port, streams, TXT record). */
  onFound: (sketch: FoundSketch) => void;
  /** A sketch was missing from `missesBeforeLost` browses in a row. */
  onLost?: (sketch: FoundSketch) => void;
  /** Where the one line about a failing browse goes. Default: nowhere. */
  log?: (line: string) => void;
}

/** A running watch: {@link SketchWatch.stop} ends it. */
export interface SketchWatch {
  /** The sketches currently seen, by instance name. */
  readonly sketches: ReadonlyMap<string, FoundSketch>;
  /** Browses at once (instead of waiting for the next interval); resolves when done. */
  refresh(): Promise<void>;
  stop(): void;
}

const fingerprint = (s: FoundSketch) => JSON.stringify([s.url, s.kind, s.streams, s.txt]);

/**
 * Browses `discovery` now and every `intervalSeconds`, reporting each sketch that appears or
 * changes (`onFound`) and each that stays missing (`onLost`). One browse at a time; a failing
 * browse logs one line until one succeeds again.
 */
export function watchSketches(discovery: Discovery, options: WatchOptions): SketchWatch {
  const interval = (options.intervalSeconds ?? 5) * 1000;
  const browseMs = options.browseMs ?? 1500;
  const misses = options.missesBeforeLost ?? 3;
  const seen = new Map<string, { found: FoundSketch; print: string; missed: number }>();
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  const once = async () => {
    let found: FoundSketch[];
    try {
      found = await discovery.browse(browseMs);
      failing = false;
    } catch (err) {
      if (!failing && !stopped) options.log?.(`browsing for sketches failed: ${oneLine(err)}`);
      failing = true;
      return;
    }
    if (stopped) return;
    const now = new Set<string>();
    for (const f of found) {
      now.add(f.name);
      const print = fingerprint(f);
      const old = seen.get(f.name);
      if (old) old.missed = 0;
      if (old && old.print === print) continue;
      seen.set(f.name, { found: f, print, missed: 0 });
      options.onFound(f);
    }
    for (const [name, entry] of seen) {
      if (now.has(name) || ++entry.missed < misses) continue;
      seen.delete(name);
      options.onLost?.(entry.found);
    }
  };
  const refresh = () => {
    running ??= once().finally(() => (running = undefined));
    return running;
  };
  const loop = () => {
    if (stopped) return;
    void refresh().then(() => {
      if (!stopped) timer = setTimeout(loop, interval);
    });
  };
  loop();
  return {
    get sketches() {
      return new Map([...seen].map(([k, v]) => [k, v.found]));
    },
    refresh,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
