/**
 * Child processes for the bench, seen from the orchestrator: spawn with piped stdio, read
 * stdout line by line, wait for a ready line or a one-line JSON report, and kill everything
 * that was started, whatever happens.
 *
 * Conventions every bench child follows (see ./child.ts): log lines are free text; reports
 * are single-line JSON objects (`{"ready":…}`, `{"warm":…}`, `{"result":…}`); commands come
 * one per line on stdin (`go`, `stats`, `start`); a child exits when its stdin closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const KEEP_LINES = 40;
const live = new Set<Child>();

interface Waiter {
  test: (line: string, json: Record<string, unknown> | undefined, at: number) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface SpawnOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  cwd?: string;
}

/** A spawned process with line-oriented stdout. */
export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** `performance.now()` when spawn() was called. */
  readonly startedAt: number;
  /** Last lines of stdout and stderr, for error messages. */
  readonly tail: string[] = [];
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
  #waiters = new Set<Waiter>();
  /** Lines no waiter took yet (a report may come before anyone waits for it); bounded. */
  #unclaimed: Array<{ line: string; json: Record<string, unknown> | undefined; at: number }> = [];
  #onLine: Array<(line: string, at: number) => void> = [];

  constructor(name: string, cmd: string, args: string[], options: SpawnOptions = {}) {
    this.name = name;
    this.startedAt = performance.now();
    this.proc = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this);
    this.proc.stdin!.on('error', () => {}); // a child that died before reading its commands
    this.#lines(this.proc.stdout!, (line) => this.#line(line));
    this.#lines(this.proc.stderr!, (line) => this.#keep(`stderr: ${line}`));
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        this.exitCode = code;
        live.delete(this);
        for (const w of this.#waiters) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.name} exited (${code}) first${this.#tailText()}`));
        }
        this.#waiters.clear();
        resolve(code);
      };
      this.proc.once('exit', (code, signal) => done(code ?? (signal ? 128 : null)));
      this.proc.once('error', (err) => {
        this.#keep(`spawn error: ${err.message}`);
        done(127);
      });
    });
  }

  #lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf('\n')) !== -1) {
        each(rest.slice(0, nl).replace(/\r$/, ''));
        rest = rest.slice(nl + 1);
      }
    });
  }

  #keep(line: string): void {
    this.tail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.tail.length > KEEP_LINES) this.tail.shift();
  }

  #tailText(): string {
    const last = this.tail.slice(-6);
    return last.length ? `; last output:\n    ${last.join('\n    ')}` : '';
  }

  #line(line: string): void {
    const at = performance.now();
    this.#keep(line);
    for (const f of this.#onLine) f(line, at);
    let json: Record<string, unknown> | undefined;
    if (line.startsWith('{')) {
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    for (const w of this.#waiters) {
      const value = w.test(line, json, at);
      if (value === undefined || value === false) continue;
      clearTimeout(w.timer);
      this.#waiters.delete(w);
      w.resolve(value);
      return;
    }
    this.#unclaimed.push({ line, json, at });
    if (this.#unclaimed.length > KEEP_LINES) this.#unclaimed.shift();
  }

  /** Calls `f` for every stdout line from now on, with the time it was read. */
  onLine(f: (line: string, at: number) => void): void {
    this.#onLine.push(f);
  }

  /**
   * Resolves with the first stdout line, not yet taken by another wait, for which `test`
   * returns something (each line satisfies at most one wait).
   */
  waitFor<T>(what: string, test: Waiter['test'], timeoutMs: number): Promise<T> {
    for (let i = 0; i < this.#unclaimed.length; i++) {
      const u = this.#unclaimed[i]!;
      const value = test(u.line, u.json, u.at);
      if (value === undefined || value === false) continue;
      this.#unclaimed.splice(i, 1);
      return Promise.resolve(value as T);
    }
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} is not running${this.#tailText()}`));
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = {
        test,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(w);
          reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.#tailText()}`));
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  /** Resolves with the value of the first JSON line that has `key`. */
  report<T>(key: string, timeoutMs: number): Promise<T> {
    return this.waitFor<T>(`"${key}" report`, (_line, json) => (json && key in json ? json[key] : undefined), timeoutMs);
  }

  /** Resolves with the first stdout line matching `pattern` and the time it was read. */
  line(pattern: RegExp, timeoutMs: number): Promise<{ line: string; at: number }> {
    return this.waitFor(pattern.source, (line, _json, at) => (pattern.test(line) ? { line, at } : undefined), timeoutMs);
  }

  /** Writes one command line to stdin. */
  send(command: string): void {
    if (this.exitCode === undefined && this.proc.stdin!.writable) this.proc.stdin!.write(`${command}\n`);
  }

  /** SIGTERM (closing stdin too), SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.proc.stdin!.end();
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function spawnChild(name: string, cmd: string, args: string[], options?: SpawnOptions): Child {
  return new Child(name, cmd, args, options);
}

/** Stops every child still running. */
export async function stopAll(graceMs = 1500): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** Last resort when the orchestrator itself is going down: SIGKILL whatever is left, synchronously. */
export function killAllNow(): void {
  for (const c of live) c.proc.kill('SIGKILL');
}

/** How many children are still running (for a final check). */
export const running = (): number => live.size;
