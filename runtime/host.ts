/**
 * A host of many sketches in one process (`sketch up`): each sketch keeps its own server, port,
 * mDNS announcement and options, and its own fate — a lifecycle state per sketch, failures
 * contained per sketch, restarts with backoff. The clock is an option, so tests use a fake.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { oneLine } from './errors.js';
import type { ListenOptions, Sketch } from './sketch.js';
import type { SketchClass, SketchConfig } from './sketch-config.js';
import { reloadInPlace, type ReloadOutcome } from './reload.js';

/**
 * The lifecycle states of a hosted sketch:
 * - `starting`: being built (`create()`), set up and started (`run()`);
 * - `running`: listening (and running `main()`, when it has one);
 * - `stopped`: ended normally (its `main()` resolved, or the host stopped it);
 * - `failed`: ended by an error (`setup()` threw, `run()` failed, `main()` rejected, or an
 *   uncaught exception attributed to it) and not restarted;
 * - `restarting`: failed, and waits out its backoff before starting again (`restart: 'on-failure'`).
 */
export const HOSTED_STATES = ['starting', 'running', 'stopped', 'failed', 'restarting'] as const;
/** One of {@link HOSTED_STATES}. */
export type HostedState = (typeof HOSTED_STATES)[number];

/** `no`: a failed sketch stays failed; `on-failure`: it is started again after a backoff. */
export const RESTART_POLICIES = ['no', 'on-failure'] as const;
/** One of {@link RESTART_POLICIES}. */
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** How long a failed sketch waits before it is started again (`restart: 'on-failure'`). */
export interface RestartBackoff {
  /** Wait before the first restart, in ms; doubled at each failure in a row. Default 1000. */
  initialMs: number;
  /** Longest wait, in ms. Default 30 000. */
  maxMs: number;
  /** A sketch that ran this long (in ms) before failing starts again from `initialMs`. Default 60 000. */
  resetAfterMs: number;
}

/** Default {@link RestartBackoff}: 1 s doubling to 30 s, reset after 60 s of running. */
export const RESTART_BACKOFF: Readonly<RestartBackoff> = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };

/** One sketch a {@link SketchHost} runs. */
export interface HostedSketch {
  /** Its instance name: unique in the host; names it in the host's lines and in {@link SketchHost.state}. */
  name: string;
  /**
   * Builds a new instance (`new Kind(config)`): called at the start and at each restart (a
   * sketch runs once). May throw: the sketch then fails as if `run()` had.
   */
  create(): Sketch | Promise<Sketch>;
  /** Where it listens: `run(listen)`. Default: all interfaces, a free port. */
  listen?: ListenOptions;
  /** The config `create()` builds with: a reload in place ({@link SketchHost.reload}) builds the new version with it. Default `{}`. */
  config?: SketchConfig;
}

/** Time for a {@link SketchHost}: real by default, a fake in tests. */
export interface HostClock {
  /** Milliseconds, monotonic. Default `performance.now()`. */
  now(): number;
  /** Resolves after `ms`, or rejects as soon as `signal` aborts. Default `timers/promises` `setTimeout`. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** Options of {@link SketchHost}. */
export interface SketchHostOptions {
  /** What happens to a sketch that fails. Default `'no'`. */
  restart?: RestartPolicy;
  /** Restart delays; unset fields keep {@link RESTART_BACKOFF}'s. */
  backoff?: Partial<RestartBackoff>;
  /**
   * Where the host's own lines go (`NAME: stopped: REASON` at level `error`, `NAME: restarting
   * in 2 s (restart 2)` at `warn`, `NAME: finished` at `info`). Default: stderr.
   */
  log?: (level: 'error' | 'warn' | 'info', line: string) => void;
  /** Called once a sketch listens (each start) with its instance and its name in the host, e.g. to log warnings about it. */
  started?: (sketch: Sketch, name: string) => void;
  /** Default: the real clock. */
  clock?: HostClock;
}

/** The events of a {@link SketchHost}. */
export interface SketchHostEvents {
  /** A sketch entered `state`; `reason` is the one-line error for `failed` and `restarting`. */
  state: [name: string, state: HostedState, reason: string | undefined];
}

/** How the host ended: `failed` is true when any sketch ended failed. */
export interface HostOutcome {
  failed: boolean;
}

interface Life {
  readonly spec: HostedSketch;
  state: HostedState;
  reason?: string;
  sketch?: Sketch;
  /** Rejects the current run: an uncaught exception attributed to this sketch. */
  fail?: (err: unknown) => void;
  restarts: number;
  /** A reload in place under way: the run waits for it before deciding the old version ended. */
  reloading?: Promise<unknown>;
  /** A version on probation ({@link SketchHost.reload}): its failure goes to `rollback` instead of ending the run. */
  probation?: { version: Sketch; rollback: (err: unknown) => void };
}

/** A probation after a reload ({@link SketchHost.reload}): the new version must not fail for `ms`, or `fallback` is swapped back in. */
export interface ReloadProbation {
  /** How long the new version must run without failing, in ms. */
  ms: number;
  /** The class swapped in when it fails meanwhile (usually the class it replaced). */
  fallback: SketchClass;
}

const realClock: HostClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
};

/**
 * Runs several sketches in one process, each as `sketch run` runs one: `create()` (→ `new
 * Kind(config)`), `run(listen)`, then `main()` when it has one, else serve until stopped. A
 * sketch whose `create()`/`setup()`/`run()` throws, whose `main()` rejects, or to which an
 * uncaught exception is attributed ({@link SketchHost.owner}, {@link SketchHost.fail}) is
 * closed and ends `failed` with one line; the others go on. With `restart: 'on-failure'` it is
 * started again after {@link RESTART_BACKOFF} (1 s doubling to 30 s; reset after 60 s of
 * running). Sketches that talk to each other do so through their real servers, as if on two
 * machines.
 *
 * `start()` resolves once every sketch has ended (each `stopped` or `failed`).
 */
export class SketchHost extends EventEmitter<SketchHostEvents> {
  readonly #lives: Life[];
  readonly #restart: RestartPolicy;
  readonly #backoff: RestartBackoff;
  readonly #log: NonNullable<SketchHostOptions['log']>;
  readonly #started: SketchHostOptions['started'];
  readonly #clock: HostClock;
  readonly #owner = new AsyncLocalStorage<Life>();
  readonly #stop = new AbortController();
  #done?: Promise<HostOutcome>;

  /**
   * @throws TypeError for no sketches, two with one name, an unknown restart policy or a
   *   backoff that is not a number ≥ 0 (ms).
   */
  constructor(sketches: readonly HostedSketch[], options: SketchHostOptions = {}) {
    super();
    if (sketches.length === 0) throw new TypeError('a SketchHost needs at least one sketch');
    const names = new Set<string>();
    for (const s of sketches) {
      if (names.has(s.name)) throw new TypeError(`two sketches are named "${s.name}": instance names must be unique in a host`);
      names.add(s.name);
    }
    this.#restart = options.restart ?? 'no';
    if (!RESTART_POLICIES.includes(this.#restart)) throw new TypeError(`restart must be one of ${RESTART_POLICIES.join(', ')}, got ${JSON.stringify(this.#restart)}`);
    this.#backoff = { ...RESTART_BACKOFF, ...Object.fromEntries(Object.entries(options.backoff ?? {}).filter(([, v]) => v !== undefined)) };
    for (const [k, v] of Object.entries(this.#backoff)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`backoff.${k} must be a number of ms ≥ 0, got ${JSON.stringify(v)}`);
    }
    this.#log = options.log ?? ((_level, line) => process.stderr.write(`${line}\n`));
    this.#started = options.started;
    this.#clock = options.clock ?? realClock;
    this.#lives = sketches.map((spec) => ({ spec, state: 'starting', restarts: 0 }));
  }

  /** Starts every sketch (once); resolves when every one has ended. Never rejects. */
  start(): Promise<HostOutcome> {
    this.#done ??= Promise.all(this.#lives.map((life) => this.#live(life))).then(() => ({
      failed: this.#lives.some((l) => l.state === 'failed'),
    }));
    return this.#done;
  }

  /** The state of the sketch named `name`; undefined for a name the host does not run. */
  state(name: string): HostedState | undefined {
    return this.#find(name)?.state;
  }

  /** Every sketch's state, by name, in the order given. */
  states(): Record<string, HostedState> {
    return Object.fromEntries(this.#lives.map((l) => [l.spec.name, l.state]));
  }

  /** The running instance of the sketch named `name` (undefined between runs). */
  sketch(name: string): Sketch | undefined {
    return this.#find(name)?.sketch;
  }

  /** How many times the sketch named `name` was restarted. */
  restarts(name: string): number {
    return this.#find(name)?.restarts ?? 0;
  }

  /**
   * The name of the sketch the code running now belongs to (everything its `create()`,
   * `setup()`, `run()` and `main()` started, timers and sockets included, through
   * `AsyncLocalStorage`); undefined outside any. Read it in an `uncaughtException` handler.
   */
  owner(): string | undefined {
    return this.#owner.getStore()?.spec.name;
  }

  /**
   * Fails the sketch named `name` with `err` (e.g. an uncaught exception {@link owner} attributed
   * to it): it is closed and ends `failed` (or restarts), as if its `main()` had rejected.
   * @returns false when that sketch is not starting or running (nothing to fail).
   */
  fail(name: string, err: unknown): boolean {
    const life = this.#find(name);
    if (life?.probation && life.sketch === life.probation.version) {
      life.probation.rollback(err); // a version on probation: swapped back, the run goes on
      return true;
    }
    if (!life?.fail) return false;
    life.fail(err);
    return true;
  }

  /**
   * Stops every sketch: closes each (clients get 1001, the mDNS record a goodbye), newest
   * first, and cancels pending restarts. `why`, when given, is logged by each sketch first
   * (`[ Clock ] SIGTERM: stopping`). Resolves when every sketch has ended.
   */
  async stop(why?: string): Promise<void> {
    if (!this.#stop.signal.aborted) {
      this.#stop.abort();
      const closing = [...this.#lives].reverse().map((l) => {
        if (why !== undefined) l.sketch?.out(why);
        return l.sketch?.close().catch(() => {});
      });
      await Promise.all(closing);
    }
    await this.start();
  }

  /**
   * Reloads the running sketch `name` in place with the class `next` (runtime/reload.ts): its
   * port, announcement, streams and connections stay; the run follows the new version (its
   * `main()` is started). Undefined when `name` is not running now.
   *
   * With `probation`, the new version must then run `probation.ms` without failing: when an
   * uncaught exception is attributed to the sketch ({@link fail}) or its `main()` rejects
   * meanwhile, `probation.fallback` is reloaded in its place (the sketch is not closed nor
   * restarted) and the outcome is `rolledBack` with `failedIn: 'probation'`. Resolves once the
   * probation is over.
   */
  async reload(name: string, next: SketchClass, probation?: ReloadProbation): Promise<ReloadOutcome | undefined> {
    const life = this.#find(name);
    if (!life || !life.sketch || life.state !== 'running') return undefined;
    const outcome = await this.#swapIn(life, next);
    if (!probation || outcome.result !== 'reloaded') return outcome;
    const failure = await this.#probation(life, outcome.sketch, probation);
    if (!failure) return outcome;
    const back = await failure.back;
    return { sketch: back.sketch, result: 'rolledBack', reason: failure.reason, failedIn: 'probation', pauseMs: outcome.pauseMs };
  }

  /** Swaps `next` in for the version `life` runs now; `life.reloading` is set before this returns. */
  #swapIn(life: Life, next: SketchClass): Promise<ReloadOutcome> {
    const current = life.sketch!;
    const reloading = this.#owner.run(life, async () => {
      const outcome = await reloadInPlace(current, next, life.spec.config ?? {});
      if (outcome.result !== 'refused') life.sketch = outcome.sketch; // before the run looks (it awaits `reloading`)
      return outcome;
    });
    const waited = reloading.catch(() => {});
    life.reloading = waited;
    return reloading.finally(() => {
      if (life.reloading === waited) life.reloading = undefined;
    });
  }

  /**
   * Watches `version` for `p.ms`: resolves undefined when it did not fail (or the sketch left
   * `running` otherwise), else with the reason and the swap back to `p.fallback` (started at once).
   */
  #probation(life: Life, version: Sketch, p: ReloadProbation): Promise<{ reason: string; back: Promise<ReloadOutcome> } | undefined> {
    return new Promise((resolve) => {
      const over = new AbortController();
      const end = (result?: { reason: string; back: Promise<ReloadOutcome> }) => {
        if (over.signal.aborted) return;
        over.abort();
        life.probation = undefined;
        this.off('state', left);
        resolve(result);
      };
      const left = (name: string, state: HostedState) => {
        if (name === life.spec.name && state !== 'running') end();
      };
      this.on('state', left);
      life.probation = { version, rollback: (err) => end({ reason: oneLine(err), back: this.#swapIn(life, p.fallback) }) };
      this.#clock.sleep(p.ms, AbortSignal.any([over.signal, this.#stop.signal])).then(
        () => end(),
        () => end(),
      );
    });
  }

  /** Whether {@link stop} was called. */
  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  #find(name: string): Life | undefined {
    return this.#lives.find((l) => l.spec.name === name);
  }

  #enter(life: Life, state: HostedState, reason?: string): void {
    life.state = state;
    life.reason = reason;
    this.emit('state', life.spec.name, state, reason);
  }

  /** One sketch's whole life: start, run, end; again after a backoff while it fails and may restart. */
  async #live(life: Life): Promise<void> {
    const name = life.spec.name;
    let failuresInRow = 0;
    for (;;) {
      if (this.stopping) return this.#enter(life, 'stopped');
      this.#enter(life, 'starting');
      let ranFrom: number | undefined;
      try {
        await this.#owner.run(life, async () => {
          // An attributed uncaught exception rejects this, whatever the sketch is awaiting.
          const failure = new Promise<never>((_, reject) => (life.fail = reject));
          failure.catch(() => {});
          const race = <T>(p: Promise<T>) => {
            p.catch(() => {}); // settles after the race was lost: already reported
            return Promise.race([p, failure]);
          };
          const sketch = await race(Promise.resolve().then(() => life.spec.create()));
          life.sketch = sketch;
          if (this.stopping) return;
          await race(sketch.run(life.spec.listen));
          ranFrom = this.#clock.now();
          this.#enter(life, 'running');
          this.#started?.(sketch, name);
          // Until the version serving now ends: a reload swaps it, and the run follows the new one.
          for (let current = sketch; ; ) {
            const ended = current.main ? current.main() : new Promise<never>((_, reject) => current.signal.addEventListener('abort', () => reject(current.signal.reason), { once: true }));
            const failed = await race(ended).then(() => undefined, (err: unknown) => ({ err }));
            // a version on probation that fails is swapped back (that sets `reloading`): the run goes on
            if (failed && life.probation?.version === current && life.sketch === current) life.probation.rollback(failed.err);
            await life.reloading;
            if (life.sketch && life.sketch !== current) {
              current = life.sketch;
              continue;
            }
            if (failed) throw failed.err;
            break;
          }
        });
      } catch (err) {
        life.fail = undefined;
        await life.sketch?.close().catch(() => {});
        life.sketch = undefined;
        if (this.stopping) return this.#enter(life, 'stopped');
        const reason = oneLine(err);
        this.#log('error', `${name}: stopped: ${reason}`);
        if (this.#restart === 'no') return this.#enter(life, 'failed', reason);
        if (ranFrom !== undefined && this.#clock.now() - ranFrom >= this.#backoff.resetAfterMs) failuresInRow = 0;
        const delay = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** failuresInRow);
        failuresInRow++;
        life.restarts++;
        this.#enter(life, 'restarting', reason);
        this.#log('warn', `${name}: restarting in ${seconds(delay)} (restart ${life.restarts})`);
        try {
          await this.#clock.sleep(delay, this.#stop.signal);
        } catch {
          return this.#enter(life, 'stopped'); // stopped while waiting
        }
        continue;
      }
      life.fail = undefined;
      const sketch = life.sketch;
      await sketch?.close();
      life.sketch = undefined;
      if (!this.stopping) this.#log('info', `${name}: finished`);
      return this.#enter(life, 'stopped');
    }
  }
}

/** `1 s`, `0.25 s`, `30 s`. */
function seconds(ms: number): string {
  return `${Math.round(ms) / 1000} s`;
}
