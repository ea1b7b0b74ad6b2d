/**
 * Case 20: the recorder on an SD card (issue 22's figures): how many bytes its file holds per
 * reading, and how many bytes it writes per second, for one thermometer at 10 Hz and at 100 Hz.
 * - Both run as users run them, each its own process: `sketch run thermometer --interval 0.1`
 *   (or 0.01) `--sensor simulated` and `sketch run recorder --db FILE`, which finds the
 *   thermometer over mDNS, in a fresh directory under os.tmpdir() per rate.
 * - Written: the recorder's /proc/PID/io sampled at the start and the end of a measured window
 *   (after a warm-up: the file and its tables exist, the subscription is live). `wchar` counts the
 *   bytes it passed to write syscalls, to files and sockets alike; the sockets' share is what the
 *   thermometer, the recorder's only TCP peer, read in the window (its own `rchar`), so that
 *   `wchar` minus that share is what went to the database and its WAL: what would reach an SD
 *   card through the page cache. `write_bytes` is the block layer's count of page-cache pages
 *   the recorder dirtied (4 KiB each; 0 on tmpfs).
 * - Stored: after a clean stop (SIGTERM: the recorder writes its queue and closes the file), the
 *   sizes of FILE, FILE-wal and FILE-shm, over the items stored (`RecordStore.recorded()`, which
 *   stays the same whatever the schema); the pages in use (`usedBytes`) over the same items; and
 *   the pages in use the window added (read from a read-only connection) over the items written
 *   in it (the recorder's status `written`): the growth per reading without the empty file's
 *   fixed cost.
 * The temporary directories are deleted at the end.
 */
import { mkdtempSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../../dist/runtime/recorder/sqlite.js';
import { RecordStore } from '../../dist/runtime/recorder/store.js';
import { ROOT, SKETCH_BIN, spawnOn, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, goalCell, judge, section, table, type Section } from '../lib/report.js';

const TITLE = '20. Recorder on an SD card: bytes per reading and bytes written';
/** The goal: bytes on disk per numeric reading, at most (issue 22). */
const GOAL_BYTES = 100;
/** Thermometer rates and measured windows (s), full run and `--quick`. */
const RATES = [
  { hz: 10, fullS: 60, quickS: 10 },
  { hz: 100, fullS: 30, quickS: 10 },
] as const;
/** After the subscription is live and the first items are written, before the window opens, in ms. */
const WARM_MS = 2000;
/** Between two polls of the recorder's status while waiting for the subscription, in ms. */
const POLL_MS = 200;
/** How long the recorder may take to find the thermometer and write its first item, in ms. */
const FIND_MS = 30_000;
const DAY_S = 86_400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

interface RecorderStatus {
  recorder: {
    written: number;
    recording: Array<{ sketch: string; stream: string; connected: boolean; seq: number }>;
  };
}

/** The counters of /proc/PID/io (bytes and syscalls; all threads of the process). */
interface Io {
  rchar: number;
  wchar: number;
  syscw: number;
  write_bytes: number;
  cancelled_write_bytes: number;
}

function procIo(pid: number): Io {
  const io: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/io`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)$/.exec(line);
    if (m) io[m[1]!] = Number(m[2]);
  }
  return { rchar: io.rchar ?? NaN, wchar: io.wchar ?? NaN, syscw: io.syscw ?? NaN, write_bytes: io.write_bytes ?? NaN, cancelled_write_bytes: io.cancelled_write_bytes ?? NaN };
}

const size = (f: string) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

/** FILE + FILE-wal + FILE-shm, in bytes. */
const onDisk = (db: string) => size(db) + size(`${db}-wal`) + size(`${db}-shm`);

/** Pages in use (page_count − freelist_count) × page_size, and page_size, read through a read-only connection: works on any schema, beside a running writer. */
function usedBytes(db: string): { used: number; page: number } {
  const c = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    const n = (p: string) => c.pragma(p, { simple: true }) as number;
    const page = n('page_size');
    return { used: (n('page_count') - n('freelist_count')) * page, page };
  } finally {
    c.close();
  }
}

/** The file system a directory is on, by statfs magic number (tmpfs never reaches a block device). */
function fsName(dir: string): string {
  const type = statfsSync(dir).type;
  const names: Record<number, string> = { 0x01021994: 'tmpfs', 0xef53: 'ext4', 0x9123683e: 'btrfs', 0x58465342: 'xfs', 0x794c7630: 'overlayfs', 0x2fc12fc1: 'zfs', 0x4d44: 'vfat' };
  return names[type] ?? `file system 0x${type.toString(16)}`;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${(await res.text()).trim()}`);
  return (await res.json()) as T;
}

/** Bytes per second → "12.3 MB/day" (10^6 bytes, as `--max-size`), or GB past 1000 MB. */
function perDay(bytesPerS: number): string {
  if (!Number.isFinite(bytesPerS)) return '–';
  const mb = (bytesPerS * DAY_S) / 1e6;
  return mb >= 1000 ? `${(mb / 1000).toFixed(1)} GB/day` : `${mb.toFixed(mb >= 10 ? 0 : 1)} MB/day`;
}

const perS = (bytesPerS: number) => (Number.isFinite(bytesPerS) ? `${fmtBytes(bytesPerS)}/s` : '–');
const perItem = (b: number) => (!Number.isFinite(b) ? '–' : b >= 1024 ? fmtBytes(b) : `${b.toFixed(b >= 100 ? 0 : 1)} B`);

interface Measured {
  hz: number;
  windowS: number;
  /** Items stored after the clean stop, and the file's bytes then (FILE + -wal + -shm) and its pages in use. */
  items: number;
  fileBytes: number;
  usedBytes: number;
  /** Items the recorder wrote in the window, and the pages in use it added. */
  windowItems: number;
  windowUsed: number;
  /** SQLite's page size (bytes): the growth's resolution. */
  page: number;
  /** The recorder's /proc/PID/io over the window, the thermometer's rchar over it, and the recorder's stdout bytes in it. */
  io: Io;
  socketBytes: number;
  logBytes: number;
}

export async function wear(ctx: Ctx): Promise<Section> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-bench-wear-'));
  const fs = fsName(dir);
  const s = section(
    TITLE,
    `What the recorder costs an SD card: the bytes its file holds per reading and the bytes it writes per second, for one thermometer at 10 Hz and at 100 Hz, both run as users run them.`,
  );
  const windows = RATES.map((r) => `${ctx.quick ? r.quickS : r.fullS} s at ${r.hz} Hz`).join(' and ');
  s.blocks.push(
    `One thermometer (\`node dist/bin/sketch.cjs run thermometer --interval 0.1 --sensor simulated\`, \`0.01\` at 100 Hz: \`{time, temperature, unit, sensor}\` readings on \`/readings\`) and the recorder (\`node dist/bin/sketch.cjs run recorder --db FILE --rescan 0.5\`), each its own process${ctx.pin ? ' (the recorder on CPU 0, the thermometer on CPU 1)' : ''}, the recorder finding the thermometer over mDNS, with a fresh FILE per rate in os.tmpdir() (${path.dirname(dir)}, ${fs}). Once the recorder has written the first readings and ${WARM_MS / 1000} s more, a window of ${windows} opens${ctx.quick ? ` (\`--quick\`; full runs: ${RATES.map((r) => `${r.fullS} s`).join(' and ')})` : ''}. *Stored*: after a clean stop (SIGTERM: the recorder writes its queue and closes FILE), FILE + FILE-wal + FILE-shm over the readings stored (\`RecordStore.recorded()\`: every reading since the recorder started, the window's and those before it), less the empty file's size — the goal's figure; the pages in use (\`usedBytes\`) over the same readings; and the growth: the pages in use the window added (read through a read-only connection at both ends) over the readings the recorder's status counted written in it, which leaves out the empty file's fixed cost. *Written*: the recorder's \`/proc/PID/io\` at both ends of the window: \`wchar\` (bytes passed to write syscalls) minus what went to sockets — what the thermometer, its only TCP peer, read in the window (its own \`rchar\`: stream credits and the like) — and to stdout is what it wrote to FILE and its WAL (SQLite's \`pwrite\`s: commits and checkpoints), what an SD card would be sent through the page cache; \`write_bytes\` is the block layer's count of page-cache pages it dirtied${fs === 'tmpfs' ? ' (always 0 here: tmpfs has no block device)' : ''}. Per day: the same rate for 24 h (MB = 10^6 bytes).`,
  );
  const results: Measured[] = [];
  try {
    for (const rate of RATES) {
      try {
        results.push(await measure(ctx, dir, rate.hz, ctx.quick ? rate.quickS : rate.fullS));
      } catch (err) {
        s.notes.push(`${rate.hz} Hz: error: ${firstLine(err)}`);
        ctx.log(`  ${rate.hz} Hz: error: ${(err as Error).stack ?? String(err)}`);
      } finally {
        await stopAll();
      }
    }
    // The fixed cost: a database RecordStore created and closed with nothing in it.
    const empty = path.join(dir, 'empty.sqlite');
    new RecordStore({ file: empty }).close();
    const emptyBytes = onDisk(empty);

    const stored: string[][] = [];
    const written: string[][] = [];
    for (const r of results) {
      const fileWrites = r.io.wchar - r.socketBytes - r.logBytes;
      // The file beyond the empty file's fixed cost (schema pages), over every reading stored.
      const perFile = (r.fileBytes - emptyBytes) / r.items;
      const met = judge(perFile, '≤', GOAL_BYTES);
      s.goals.push({ goal: `recorder file on disk per reading, one ${r.hz} Hz thermometer (${fmtCount(r.items)} readings): ≤ ${GOAL_BYTES} B`, figure: perItem(perFile), met });
      if (Number.isFinite(perFile)) s.figures++;
      if (Number.isFinite(fileWrites)) s.figures++;
      stored.push([
        `${r.hz} Hz`,
        fmtCount(r.items),
        fmtBytes(r.fileBytes),
        `**${perItem(perFile)}**`,
        goalCell(`≤ ${GOAL_BYTES} B`, met),
        perItem(r.usedBytes / r.items),
        perItem(r.windowUsed / r.windowItems),
        perDay(r.windowUsed / r.windowS),
      ]);
      written.push([
        `${r.hz} Hz`,
        `${r.windowS.toFixed(1)} s`,
        `${fmtCount(r.windowItems)} (${(r.windowItems / r.windowS).toFixed(1)}/s)`,
        fmtCount(r.io.syscw),
        `**${perS(fileWrites / r.windowS)}**`,
        `**${perDay(fileWrites / r.windowS)}**`,
        perItem(fileWrites / r.windowItems),
        fs === 'tmpfs' ? '0 (tmpfs)' : perS(r.io.write_bytes / r.windowS),
        fs === 'tmpfs' ? '–' : perDay(r.io.write_bytes / r.windowS),
      ]);
    }
    s.blocks.push(
      table(
        ['thermometer', 'readings stored', 'FILE + -wal + -shm', 'on disk per reading (beyond the empty file)', 'goal', 'pages in use per reading', 'growth per reading (window)', 'growth per day'],
        stored,
      ),
    );
    s.blocks.push(
      table(
        ['thermometer', 'window', 'readings written', 'write syscalls', 'written to FILE and WAL', 'per day', 'per reading', 'write_bytes', 'per day'],
        written,
      ),
    );
    s.notes.push(
      `The empty file (schema only, \`new RecordStore()\` then \`close()\`) takes ${fmtBytes(emptyBytes)}: ${results.map((r) => `${perItem(emptyBytes / r.items)} of the ${r.hz} Hz figure`).join(', ')}; the goal's figure and the growth column leave it out (a recorder that runs for days pays it once).`,
    );
    for (const r of results) {
      s.notes.push(
        `${r.hz} Hz: the growth is counted in whole pages of ${fmtBytes(r.page)} (one page is ${perItem(r.page / r.windowItems)} per reading of the window's); ${fmtCount(r.windowItems)} readings written in the window in ${fmtCount(r.io.syscw)} write syscalls; \`wchar\` ${fmtBytes(r.io.wchar)}, of which ${fmtBytes(r.socketBytes)} to the thermometer's socket and ${fmtBytes(r.logBytes)} to stdout; \`write_bytes\` ${fmtBytes(r.io.write_bytes)}, \`cancelled_write_bytes\` ${fmtBytes(r.io.cancelled_write_bytes)}.`,
      );
    }
    s.notes.push(
      `What an SD card wears with is the bytes it is sent, in erase blocks its controller manages: "written to FILE and WAL" is what SQLite handed the kernel (every commit appends each page it changed to the WAL, ${'`synchronous = NORMAL`'} syncs at checkpoints); \`write_bytes\` counts pages as they turn dirty, so a page written twice before the kernel writes it back counts once. Neither sees the card's own write amplification.`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return s;
}

async function measure(ctx: Ctx, dir: string, hz: number, windowS: number): Promise<Measured> {
  const name = `wear-${hz}hz`;
  const db = path.join(dir, `${name}.sqlite`);
  const thermArgs = [SKETCH_BIN, 'run', 'thermometer', '--interval', String(1 / hz), '--sensor', 'simulated', '--name', name, '--host', '127.0.0.1'];
  const therm = spawnOn(ctx, 'client', name, process.execPath, thermArgs, { cwd: ROOT });
  await therm.line(/announced as/, 20_000);
  const rec = spawnOn(ctx, 'server', `recorder-${hz}hz`, process.execPath, [SKETCH_BIN, 'run', 'recorder', '--db', db, '--rescan', '0.5', '--host', '127.0.0.1'], { cwd: ROOT });
  const { line } = await rec.line(/serving on 127\.0\.0\.1:\d+/, 20_000);
  const statusUrl = `http://127.0.0.1:${/serving on [^:]+:(\d+)/.exec(line)![1]}/.well-known/sketch`;
  const recPid = rec.proc.pid!;
  const thermPid = therm.proc.pid!;

  // Live: the subscription connected and items written.
  const by = performance.now() + FIND_MS;
  for (;;) {
    const st = await getJson<RecorderStatus>(statusUrl);
    if (st.recorder.written > 0 && st.recorder.recording.some((r) => r.sketch === name && r.connected)) break;
    if (performance.now() > by) throw new Error(`the recorder wrote no reading of ${name} within ${FIND_MS / 1000} s${tail(rec)}`);
    await sleep(POLL_MS);
  }
  await sleep(WARM_MS);

  // The window: the status is read outside it (its answers are socket writes too).
  const logBytes = countStdout(rec);
  const written0 = (await getJson<RecorderStatus>(statusUrl)).recorder.written;
  const used0 = usedBytes(db).used;
  const io0 = procIo(recPid);
  const therm0 = procIo(thermPid).rchar;
  const log0 = logBytes.n;
  const t0 = performance.now();
  await sleep(windowS * 1000);
  const io1 = procIo(recPid);
  const therm1 = procIo(thermPid).rchar;
  const t1 = performance.now();
  const log1 = logBytes.n;
  const { used: used1, page } = usedBytes(db);
  const written1 = (await getJson<RecorderStatus>(statusUrl)).recorder.written;

  // A clean stop: the thermometer first, then the recorder writes its queue and closes the file.
  await therm.stop(5000);
  await rec.stop(10_000);
  if (rec.exitCode !== 0) throw new Error(`the recorder exited with ${rec.exitCode} on SIGTERM${tail(rec)}`);
  const fileBytes = onDisk(db);
  const store = new RecordStore({ file: db });
  let items: number;
  let used: number;
  try {
    items = store.recorded().reduce((t, r) => t + r.count, 0);
    used = store.usedBytes;
  } finally {
    store.close();
  }

  const io: Io = {
    rchar: io1.rchar - io0.rchar,
    wchar: io1.wchar - io0.wchar,
    syscw: io1.syscw - io0.syscw,
    write_bytes: io1.write_bytes - io0.write_bytes,
    cancelled_write_bytes: io1.cancelled_write_bytes - io0.cancelled_write_bytes,
  };
  const m: Measured = {
    hz,
    windowS: (t1 - t0) / 1000,
    items,
    fileBytes,
    usedBytes: used,
    windowItems: written1 - written0,
    windowUsed: used1 - used0,
    page,
    io,
    socketBytes: therm1 - therm0,
    logBytes: log1 - log0,
  };
  ctx.log(
    `  ${hz} Hz: ${items} readings stored, ${fmtBytes(fileBytes)} on disk (${perItem(fileBytes / items)} each, ${perItem(used / items)} in use); window ${m.windowS.toFixed(1)} s: ${m.windowItems} written, +${fmtBytes(m.windowUsed)} in use; wchar ${fmtBytes(io.wchar)} (sockets ${fmtBytes(m.socketBytes)}, stdout ${fmtBytes(m.logBytes)}), write_bytes ${fmtBytes(io.write_bytes)}`,
  );
  return m;
}

/** Bytes of stdout lines the child printed from now on (its log: a pipe write, part of `wchar`). */
function countStdout(child: Child): { n: number } {
  const c = { n: 0 };
  child.onLine((line) => (c.n += Buffer.byteLength(line) + 1));
  return c;
}

const tail = (c: Child) => (c.tail.length ? `; last output:\n    ${c.tail.slice(-6).join('\n    ')}` : '');
