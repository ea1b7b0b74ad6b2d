/**
 * CPU time and memory of a child, seen from the orchestrator. Node children report their
 * own (`process.cpuUsage`, `process.memoryUsage` after a GC) through the `stats` command;
 * other processes (python, mosquitto) are read from /proc/<pid>/stat (utime + stime) and
 * /proc/<pid>/status (VmRSS).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Child } from './proc.js';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of `pid`, in µs (10 ms resolution on most kernels). */
export function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command name start at field 3 (state); utime is field 14, stime 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / ticksPerSecond();
}

/** Resident set size of `pid`, in bytes. */
export function procRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface Sample {
  cpuUs: number;
  rss: number;
  /** V8 heap in use, node children only. */
  heapUsed?: number;
  /** Memory of C++ objects bound to JS ones (Buffers included), node children only. */
  external?: number;
}

/** CPU time and RSS of `child` now: from the child itself when it answers `stats`, else /proc. */
export async function sample(child: Child, answersStats: boolean): Promise<Sample> {
  if (answersStats) {
    const reply = child.report<Required<Sample>>('stats', 5000);
    child.send('stats');
    return await reply;
  }
  const pid = child.proc.pid!;
  return { cpuUs: procCpuUs(pid), rss: procRss(pid) };
}

/** The soft and hard limits on open files of this process. */
export function openFileLimit(): { soft: number; hard: number } {
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * Raises this process's soft limit on open files to `want` (bounded by the hard limit) with
 * prlimit(1), so that the children spawned afterwards inherit it. Returns the soft limit then.
 */
export function raiseOpenFileLimit(want: number): number {
  const { soft, hard } = openFileLimit();
  if (soft >= want) return soft;
  const target = Math.min(want, hard);
  try {
    execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${target}:${hard === Infinity ? 'unlimited' : hard}`]);
  } catch {
    // no prlimit: keep what we have; the fan-out case reports the limit it ran with
  }
  return openFileLimit().soft;
}

/** Peak resident set size of `pid` so far (VmHWM), in bytes. */
export function procPeakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
