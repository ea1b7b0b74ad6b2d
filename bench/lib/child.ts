/**
 * The child side of the bench protocol (see ./proc.ts): one JSON line per report on stdout,
 * one command per line on stdin, exit when stdin closes (the orchestrator is gone).
 */
import { performance } from 'node:perf_hooks';

/** Prints `{"<key>": value}` as one line. */
export function report(key: string, value: unknown): void {
  process.stdout.write(`${JSON.stringify({ [key]: value })}\n`);
}

type Handler = (args: string[]) => void | Promise<void>;
const handlers = new Map<string, Handler>();
const waiting = new Map<string, Array<(args: string[]) => void>>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  let rest = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) !== -1) {
      const [name = '', ...args] = rest.slice(0, nl).trim().split(/\s+/);
      rest = rest.slice(nl + 1);
      const once = waiting.get(name);
      if (once?.length) once.shift()!(args);
      else void handlers.get(name)?.(args);
    }
  });
  process.stdin.on('end', () => process.exit(0));
  // A normal exit on SIGTERM, so that `--cpu-prof` profiles get written.
  process.once('SIGTERM', () => process.exit(0));
}

/** Runs `handler` for every `name …` command line. */
export function onCommand(name: string, handler: Handler): void {
  handlers.set(name, handler);
  listen();
}

/** Resolves at the next `name …` command line, with its arguments. */
export function command(name: string): Promise<string[]> {
  listen();
  return new Promise((resolve) => {
    const list = waiting.get(name) ?? [];
    list.push(resolve);
    waiting.set(name, list);
  });
}

/**
 * What `stats` answers: own CPU (process.cpuUsage, µs) and memory, after a GC when exposed
 * (`external`: memory of C++ objects bound to JS ones, Buffers included).
 */
export function stats(): { cpuUs: number; rss: number; heapUsed: number; external: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { cpuUs: cpu.user + cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external };
}

/** Every node server answers `stats` with `{"stats":{cpuUs,rss,heapUsed}}`. */
export function serveStats(): void {
  onCommand('stats', () => report('stats', stats()));
}

/** Wall clock in µs-resolution seconds since the epoch, comparable across processes. */
export const epochSeconds = (): number => (performance.timeOrigin + performance.now()) / 1000;

/** `--name value` pairs from argv, with defaults; numbers stay strings for the caller. */
export function args(defaults: Record<string, string>): Record<string, string> {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[key] = next;
      i++;
    } else out[key] = 'true';
  }
  return out;
}

/** Fails loudly: one line on stderr, exit 1. */
export function fail(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
