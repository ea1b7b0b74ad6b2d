/** What every case needs: paths, counts for full and quick runs, the peers found, and spawners. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTooOld } from '../../runtime/node-version.cjs';
import { spawnChild, type Child, type SpawnOptions } from './proc.js';

export const BENCH = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(BENCH);
export const SKETCH_BIN = path.join(ROOT, 'dist', 'bin', 'sketch.cjs');
export const OUT = path.join(BENCH, '.out');

/** Counts and durations; `--quick` shrinks all of them so that every case runs once in well under a minute. */
export interface Counts {
  warmupMs: number;
  rounds: number;
  roundMs: number;
  fanoutSubscribers: number[];
  fanoutMs: number;
  /** Readings published at 10 Hz, unmeasured, before the fan-out runs. */
  fanoutWarmupMs: number;
  discoveryWarmRuns: number;
  discoveryColdRuns: number;
  startupRuns: number;
  idleConnections: number;
  /** Items in the stream's history before the late subscriber of the catch-up case asks for them all. */
  catchupItems: number;
  /** Shortest live run the catch-up case compares with (the producer at its maximum rate), in ms. */
  catchupLiveMinMs: number;
  /** How long the producer publishes at its maximum rate in the slow-subscriber case, in ms. */
  slowMs: number;
  /** Stalled subscribers per slow-subscriber row (besides the normal ones). */
  slowStalled: number[];
  /** Normal subscribers in every slow-subscriber row. */
  slowNormal: number;
}

export const FULL: Counts = {
  warmupMs: 500,
  rounds: 7,
  roundMs: 1000,
  fanoutSubscribers: [10, 100, 1000],
  fanoutMs: 3000,
  fanoutWarmupMs: 500,
  discoveryWarmRuns: 20,
  discoveryColdRuns: 20,
  startupRuns: 10,
  idleConnections: 1000,
  catchupItems: 100_000,
  catchupLiveMinMs: 1000,
  slowMs: 10_000,
  slowStalled: [1, 200],
  slowNormal: 10,
};

export const QUICK: Counts = {
  warmupMs: 50,
  rounds: 1,
  roundMs: 150,
  fanoutSubscribers: [10, 100],
  fanoutMs: 600,
  fanoutWarmupMs: 200,
  discoveryWarmRuns: 3,
  discoveryColdRuns: 2,
  startupRuns: 2,
  idleConnections: 200,
  catchupItems: 10_000,
  catchupLiveMinMs: 300,
  slowMs: 1500,
  slowStalled: [1, 200],
  slowNormal: 10,
};

/** The peers the bench compares against; `skip` says why one is not available. */
export interface Peers {
  python: { bin: string } | { skip: string };
  mosquitto: { bin: string } | { skip: string };
  mqtt: true | { skip: string };
}

export interface Ctx {
  quick: boolean;
  /**
   * Pin server-side processes to CPU 0 and client-side ones to CPU 1 (taskset). On a small
   * VM a ping-pong between two processes is ~3× faster when the scheduler happens to put
   * both on one core, which makes unpinned runs bimodal; pinned, every row pays the same
   * cross-core wake-up. False with `--no-pin`, on one core, or without taskset.
   */
  pin: boolean;
  /** Adds `--cpu-prof` to the sketchnet server and client processes. */
  profile: boolean;
  counts: Counts;
  peers: Peers;
  /** The Node.js binaries cases 9, 16 and 18 start the CLI with: this one first, then {@link findNodes}'s others. */
  nodes: NodeBin[];
  log: (line: string) => void;
}

/** A Node.js binary and the version it reports (`v24.21.0`). */
export interface NodeBin {
  bin: string;
  version: string;
}

/**
 * The Node.js binaries to compare start-up on: the one running the bench, every line fetched
 * by `.ci/fetch-node` (under .ci/.node/LINE/bin/node), and `extra` (`--node PATH`), each once;
 * none older than the CLI supports (the test suite's Node 18 lives there too).
 */
export function findNodes(extra: string[] = []): NodeBin[] {
  const fetched = path.join(ROOT, '.ci', '.node');
  const lines = existsSync(fetched)
    ? readdirSync(fetched)
        .sort((a, b) => Number(a) - Number(b))
        .map((line) => path.join(fetched, line, 'bin', 'node'))
    : [];
  const out: NodeBin[] = [{ bin: process.execPath, version: process.version }];
  for (const bin of [...lines, ...extra]) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = r.stdout?.trim();
    if (r.status !== 0 || !version || isTooOld(version) || out.some((n) => n.version === version)) continue;
    out.push({ bin, version });
  }
  return out;
}

/** Debian's python3 (a pyenv `python3` on PATH may lack websockets); SKETCH_BENCH_PYTHON overrides. */
const PYTHON = process.env.SKETCH_BENCH_PYTHON || '/usr/bin/python3';

export async function findPeers(): Promise<Peers> {
  const python: Peers['python'] = !existsSync(PYTHON)
    ? { skip: `${PYTHON} not found (apt-get install python3-websockets)` }
    : spawnSync(PYTHON, ['-c', 'import websockets'], { encoding: 'utf8' }).status === 0
      ? { bin: PYTHON }
      : { skip: `${PYTHON} has no websockets module (apt-get install python3-websockets)` };
  const override = process.env.SKETCH_BENCH_MOSQUITTO; // e.g. a path that does not exist, to see the rows skipped
  const where = override ? [override] : ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/local/bin/mosquitto'];
  const found = where.find((p) => existsSync(p));
  const mosquitto: Peers['mosquitto'] = found ? { bin: found } : { skip: 'mosquitto not installed (apt-get install mosquitto)' };
  let mqtt: Peers['mqtt'] = true;
  try {
    await import('mqtt');
  } catch {
    mqtt = { skip: 'the mqtt npm package is not installed (npm install)' };
  }
  return { python, mosquitto, mqtt };
}

/** Why MQTT rows cannot run, or undefined when they can. */
export function mqttSkip(peers: Peers): string | undefined {
  if ('skip' in peers.mosquitto) return peers.mosquitto.skip;
  if (peers.mqtt !== true) return peers.mqtt.skip;
  return undefined;
}

/** A free TCP port on 127.0.0.1 (for mosquitto, which cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export type Side = 'server' | 'client';

/** Whether processes can be pinned here: two CPUs or more, and taskset. */
export function canPin(): boolean {
  return os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** Spawns `cmd args` on its side's CPU when pinning (taskset execs `cmd`: the pid stays the same). */
export function spawnOn(ctx: Ctx, side: Side, name: string, cmd: string, args: string[], options?: SpawnOptions): Child {
  if (!ctx.pin) return spawnChild(name, cmd, args, options);
  return spawnChild(name, 'taskset', ['-c', side === 'server' ? '0' : '1', cmd, ...args], options);
}

/** Spawns `node [nodeArgs] --import tsx bench/<script> args` (a bench server or client) on its side's CPU. */
export function spawnTs(ctx: Ctx, side: Side, name: string, script: string, args: string[], opts: { profile?: boolean; nodeArgs?: string[] } = {}): Child {
  const nodeArgs = [...(opts.nodeArgs ?? [])];
  if (opts.profile && ctx.profile) {
    nodeArgs.push(...cpuProfArgs(name));
  }
  return spawnOn(ctx, side, name, process.execPath, [...nodeArgs, '--import', 'tsx', path.join(BENCH, script), ...args], { cwd: ROOT });
}

/**
 * `--cpu-prof` into bench/.out/profiles/<name>/: one directory per process, because every
 * thread (tsx's loader thread too) writes its own CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile.
 */
export function cpuProfArgs(name: string): string[] {
  const dir = path.join(OUT, 'profiles', name.replace(/[^\w.-]+/g, '_'));
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}
