/**
 * Case 11: the recorder (`sketch run recorder`, issue 9's figures).
 * - Ingest: 10 stream sketches (separate processes, announced over mDNS) publish at their
 *   maximum rate at once; items/s from the first publish until the recorder's status says all
 *   were written, against bare better-sqlite3 batched inserts of the same rows into the same
 *   schema (another process, same run); and the rows in the database against the items
 *   published (none may be lost), with the gaps it recorded.
 * - History query: an hour of 10 Hz readings for 4 streams written with `RecordStore`; then
 *   `GET /history` of a recorder started on that file, decimated to 2000 points, next to the
 *   same range as raw rows, and the same queries in process (`store.history()`).
 * Temporary databases live in os.tmpdir() and are deleted at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../../dist/runtime/recorder/sqlite.js';
import { RecordStore, type HistoryAnswer } from '../../dist/runtime/recorder/store.js';
import { epochSeconds } from '../lib/child.js';
import { procCpuUs } from '../lib/cpu.js';
import { cpuProfArgs, ROOT, SKETCH_BIN, spawnOn, spawnTs, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtCpu, fmtMs, fmtRatio, fmtSummary, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';

const TITLE = '11. Recorder';
/** Producer sketches publishing at once in the ingest part. */
const PRODUCERS = 10;
/** History each producer's `/readings` holds (items): what a recorder that fell behind resumes from. */
const PRODUCER_HISTORY = 100_000;
/** Between two polls of the recorder's status, in ms: the resolution of "all were written". */
const POLL_MS = 25;
/** Readings each sketch publishes per turn of its event loop in the live part (`start 0 MS BURST`). */
const BURST = 10;
/** Give up waiting for the recorder when `written` has not moved for this long after publishing ended, in ms. */
const STALL_MS = 5000;
/** Streams, rate and points of the history part. */
const HISTORY_STREAMS = 4;
const HISTORY_HZ = 10;
const HISTORY_POINTS = 2000;

/** Recorders started under `--cpu-prof` so far (SKETCH_BENCH_PROFILE_RECORDER). */
let profiled = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

interface Published {
  count: number;
  ms: number;
  epoch: [number, number];
}

interface RecorderStatus {
  recorder: {
    written: number;
    queued: number;
    recording: Array<{ sketch: string; stream: string; connected: boolean; seq: number; reconnects: number }>;
  };
}

interface ProducerStatus {
  streams: Record<string, { drops: number; closedSlow: number }>;
}

async function getJson<T>(url: string, timeoutMs = 10_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${(await res.text()).trim()}`);
  return (await res.json()) as T;
}

/**
 * `node dist/bin/sketch.cjs run recorder --db FILE --rescan 0.5`, on the server CPU when pinning; resolves with its port.
 * With `SKETCH_BENCH_PROFILE_RECORDER=1` in the environment it runs under `--cpu-prof` (bench/.out/profiles/recorder-N/).
 */
async function startRecorder(ctx: Ctx, db: string): Promise<{ child: Child; port: number }> {
  const prof = process.env.SKETCH_BENCH_PROFILE_RECORDER === '1' ? cpuProfArgs(`recorder-${++profiled}`) : [];
  const child = spawnOn(ctx, 'server', 'recorder', process.execPath, [...prof, SKETCH_BIN, 'run', 'recorder', '--db', db, '--rescan', '0.5', '--host', '127.0.0.1'], { cwd: ROOT });
  const { line } = await child.line(/serving on 127\.0\.0\.1:\d+/, 20_000);
  return { child, port: Number(/serving on [^:]+:(\d+)/.exec(line)![1]) }; // piped lines start with a time
}

export async function recorder(ctx: Ctx): Promise<Section> {
  const s = section(
    TITLE,
    'The recorder (`node dist/bin/sketch.cjs run recorder --db FILE --rescan 0.5`, its own process) as users run it, with its database in os.tmpdir(): how fast it writes what the sketches it finds publish, whether it loses any of it, and how fast it answers history queries.',
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-bench-recorder-'));
  try {
    try {
      await ingest(ctx, s, dir);
    } catch (err) {
      s.notes.push(`ingest: error: ${firstLine(err)}`);
      ctx.log(`  ingest: error: ${(err as Error).stack ?? String(err)}`);
    } finally {
      await stopAll();
    }
    try {
      await historyQuery(ctx, s, dir);
    } catch (err) {
      s.notes.push(`history query: error: ${firstLine(err)}`);
      ctx.log(`  history query: error: ${(err as Error).stack ?? String(err)}`);
    } finally {
      await stopAll();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// (a) Ingest

interface Filled {
  count: number;
  ms: number;
}

interface Watched {
  /** Epoch s of the first poll at which `written` reached the target; undefined when it never did. */
  doneAt?: number;
  written: number;
  /** `written` at the first poll after `endedAt()` turned true. */
  writtenAtEnd?: number;
  peakQueued: number;
  /** The recorder's CPU time (µs) at the last poll before it wrote anything, and when done. */
  cpuFrom: number;
  cpuTo: number;
}

/**
 * Polls the recorder's status every {@link POLL_MS} until `written` reaches `target()` (undefined
 * while not known yet), it stalls for {@link STALL_MS}, or `timeoutMs` passes. With `readUrl`,
 * each poll once the target is known is preceded by that request (a reader's `GET /history`,
 * which writes the recorder's queue first, as every query does).
 */
async function watchWritten(statusUrl: string, pid: number, target: () => number | undefined, timeoutMs: number, readUrl?: string): Promise<Watched> {
  const w: Watched = { written: 0, peakQueued: 0, cpuFrom: procCpuUs(pid), cpuTo: NaN };
  let initial: number | undefined;
  let movedAt = performance.now();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (readUrl && target() !== undefined) await fetch(readUrl, { signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer());
    const st = await getJson<RecorderStatus>(statusUrl);
    const now = epochSeconds();
    const cpu = procCpuUs(pid);
    if (st.recorder.written !== w.written) movedAt = performance.now();
    w.written = st.recorder.written;
    initial ??= w.written;
    if (w.written === initial) w.cpuFrom = cpu;
    w.peakQueued = Math.max(w.peakQueued, st.recorder.queued);
    const t = target();
    if (t !== undefined) {
      w.writtenAtEnd ??= w.written;
      if (w.written >= t) {
        w.doneAt = now;
        w.cpuTo = cpu;
        return w;
      }
      if (performance.now() - movedAt > STALL_MS) break;
    }
    await sleep(POLL_MS);
  }
  w.cpuTo = procCpuUs(pid);
  return w;
}

async function ingest(ctx: Ctx, s: Section, dir: string): Promise<void> {
  const publishMs = ctx.quick ? 1000 : 2000;
  const fillItems = ctx.quick ? 2000 : 10_000;
  const rawRuns = ctx.quick ? 1 : 3;
  const db = path.join(dir, 'ingest.sqlite');
  s.blocks.push(
    `**Ingest.** ${PRODUCERS} stream sketches (\`bench/servers/sketch.ts --mode stream --announce bench-N --history-items ${PRODUCER_HISTORY}\`, one process each${ctx.pin ? ', all on CPU 1; the recorder and the raw inserter on CPU 0' : ''}) are found by the recorder over mDNS. *Live* (the goal): once it has caught up (below) and its status lists all ${PRODUCERS} subscriptions connected, all the sketches publish \`{celsius, time}\` readings as fast as they can, ${BURST} per turn of their event loop, for ${publishMs} ms (\`start 0 ${publishMs} ${BURST}\`); the recorder's rate is the items published ÷ the time from the first publish to the first status poll (every ${POLL_MS} ms) whose \`written\` counts them all; once publishing ended, each poll follows a reader's \`GET /history\` (of an empty range), which writes what the recorder still holds for \`--flush\` first, as every query does (without it each run would end with up to 1 s of that wait). *Catch-up*: before that, each sketch published ${fmtCount(fillItems)} readings (\`fill ${fillItems}\`) before the recorder started, so that it subscribes with \`?history=all\` to ${fmtCount(fillItems * PRODUCERS)} items waiting: the items ÷ the time from the first one received (the rows' \`received\`) to the poll that counts them all written — what the recorder itself can take. The peer: a separate process (\`bench/servers/sqlite-raw.ts\`) that inserts all the same rows as stored (read back from the recorder's file, their data already encoded as patches) into a fresh file whose schema \`RecordStore\` created, with one prepared \`INSERT OR IGNORE\` in transactions of 500 rows and the same pragmas (WAL, \`synchronous = NORMAL\`), ${rawRuns} run(s), median (min–max). Lost items: rows in the database (opened read-only once the recorder stopped) against the items each sketch published.`,
  );

  const producers = Array.from({ length: PRODUCERS }, (_, i) =>
    spawnTs(ctx, 'client', `bench-${i + 1}`, 'servers/sketch.ts', [
      '--mode',
      'stream',
      '--announce',
      `bench-${i + 1}`,
      '--history-items',
      String(PRODUCER_HISTORY),
      '--quiet',
      'true',
    ]),
  );
  const ports = await Promise.all(producers.map(async (p) => (await p.report<{ port: number }>('ready', 30_000)).port));
  const fills = await Promise.all(
    producers.map((p) => {
      const r = p.report<Filled>('filled', 60_000);
      p.send(`fill ${fillItems}`);
      return r;
    }),
  );
  const fillTotal = fills.reduce((t, f) => t + f.count, 0);

  // Catch-up: the recorder starts, finds the sketches and reads their histories.
  const { child: rec, port } = await startRecorder(ctx, db);
  const pid = rec.proc.pid!;
  const statusUrl = `http://127.0.0.1:${port}/.well-known/sketch`;
  const caught = await watchWritten(statusUrl, pid, () => fillTotal, 90_000);
  if (caught.doneAt === undefined) throw new Error(`the recorder wrote ${caught.written} of the ${fillTotal} items in the sketches' histories`);

  // Every subscription connected before anything is published live.
  const foundBy = performance.now() + 30_000;
  let connected = 0;
  for (;;) {
    const st = await getJson<RecorderStatus>(statusUrl);
    connected = st.recorder.recording.filter((r) => r.sketch.startsWith('bench-') && r.connected).length;
    if (connected >= PRODUCERS) break;
    if (performance.now() > foundBy) throw new Error(`the recorder subscribed to ${connected} of ${PRODUCERS} sketches within 30 s`);
    await sleep(100);
  }
  ctx.log(`  recorder on port ${port} subscribed to ${connected} sketches; caught up ${fillTotal} items`);

  // Live: all publish at once.
  const published = producers.map((p) => p.report<Published>('published', publishMs + 30_000));
  let liveTotal: number | undefined;
  void Promise.all(published)
    .then((pubs) => (liveTotal = pubs.reduce((t, p) => t + p.count, 0)))
    .catch(() => {}); // awaited again below, where a failure is reported
  for (const p of producers) p.send(`start 0 ${publishMs} ${BURST}`);
  // Once publishing ended, a reader asks for the data: its query writes what the recorder still
  // holds for `--flush` (at most 1 s), which would otherwise end every run with that wait.
  const readUrl = `http://127.0.0.1:${port}/history?sketch=bench-1&stream=%2Freadings&since=0&until=0`;
  const live = await watchWritten(statusUrl, pid, () => (liveTotal === undefined ? undefined : fillTotal + liveTotal), publishMs + 90_000, readUrl);
  const pubs = await Promise.all(published);
  liveTotal = pubs.reduce((t, p) => t + p.count, 0);
  const start = Math.min(...pubs.map((p) => p.epoch[0]));
  const end = Math.max(...pubs.map((p) => p.epoch[1]));
  const final = await getJson<RecorderStatus>(statusUrl);
  const reconnects = final.recorder.recording.reduce((t, r) => t + r.reconnects, 0);
  const producerStatus = await Promise.all(ports.map((p) => getJson<ProducerStatus>(`http://127.0.0.1:${p}/.well-known/sketch`)));
  const closedSlow = producerStatus.reduce((t, p) => t + (p.streams['/readings']?.closedSlow ?? 0), 0);
  const drops = producerStatus.reduce((t, p) => t + (p.streams['/readings']?.drops ?? 0), 0);

  // The recorder stops (SIGTERM: writes its queue, closes the file); then the rows are counted.
  await rec.stop(5000);
  await stopAll();
  const check = openDatabase(db, { readonly: true, fileMustExist: true });
  const perSketch = new Map(
    (check.prepare('SELECT sketch, count(*) AS n FROM items GROUP BY sketch').all() as Array<{ sketch: string; n: number }>).map((r) => [r.sketch, r.n]),
  );
  const firstReceived = (check.prepare('SELECT min(received) AS t FROM items').get() as { t: number }).t;
  const gaps = check.prepare('SELECT count(*) AS n, coalesce(sum(to_seq - from_seq + 1), 0) AS items FROM gaps').get() as { n: number; items: number };
  check.close();
  const rows = [...perSketch.values()].reduce((t, n) => t + n, 0);
  const total = fillTotal + liveTotal;
  const lost = pubs.reduce((t, p, i) => t + Math.max(0, fills[i]!.count + p.count - (perSketch.get(`bench-${i + 1}`) ?? 0)), 0);

  const liveS = live.doneAt === undefined ? NaN : live.doneAt - start;
  const liveRate = liveTotal / liveS;
  const pubRate = liveTotal / (end - start);
  const catchS = caught.doneAt! - firstReceived;
  const catchRate = fillTotal / catchS;
  ctx.log(
    `  catch-up: ${fillTotal} items written ${fmtMs(catchS * 1000)} after the first was received: ${fmtCount(catchRate)}/s, CPU ${fmtCpu(caught.cpuTo - caught.cpuFrom, catchS * 1000)}`,
  );
  ctx.log(
    `  live: published ${liveTotal} in ${fmtMs((end - start) * 1000)} (${fmtCount(pubRate)}/s); written ${live.writtenAtEnd === undefined ? '?' : live.writtenAtEnd - fillTotal} when publishing ended, all ${live.doneAt === undefined ? `NOT (${live.written - fillTotal})` : `after ${fmtMs(liveS * 1000)}`}: ${fmtCount(liveRate)}/s, CPU ${fmtCpu(live.cpuTo - live.cpuFrom, liveS * 1000)}; peak queue ${live.peakQueued}`,
  );
  ctx.log(`  rows ${rows} of ${total}, lost ${lost}, gaps ${gaps.n} (${gaps.items} items), 1013 closes ${closedSlow}, drops ${drops}, reconnects ${reconnects}`);

  // The peer: the same rows, bare better-sqlite3.
  const raw: Array<{ rows: number; inserted: number; ms: number; cpuUs: number }> = [];
  for (let i = 0; i < rawRuns; i++) {
    const child = spawnTs(ctx, 'server', 'sqlite-raw', 'servers/sqlite-raw.ts', ['--from', db, '--to', path.join(dir, `raw-${i}.sqlite`)]);
    try {
      await child.report('ready', 60_000);
      const r = child.report<(typeof raw)[number]>('raw', 120_000);
      child.send('go');
      raw.push(await r);
    } finally {
      await child.stop();
    }
  }
  const rawRate = summarize(raw.map((r) => (r.rows * 1000) / r.ms));
  if (raw.some((r) => r.inserted !== r.rows)) s.notes.push(`The raw inserter stored ${raw.map((r) => r.inserted).join(', ')} of ${rows} rows.`);
  ctx.log(`  raw better-sqlite3: ${raw.map((r) => `${r.rows} rows in ${fmtMs(r.ms)}`).join('; ')}: ${fmtSummary(rawRate)}/s`);

  const ratio = liveRate / rawRate.median;
  const ratioMet = judge(ratio, '≥', 0.5);
  const lostMet = lost === 0;
  s.goals.push({ goal: `ingest from ${PRODUCERS} sketches publishing at full rate ≥ 0.5× raw better-sqlite3 batched inserts`, figure: fmtRatio(ratio), met: ratioMet });
  if (ratioMet === false)
    s.notes.push(
      'Where the recorder\'s time goes (issue 24; `SKETCH_BENCH_PROFILE_RECORDER=1` profiles it in this case): ~8 µs of CPU per item against raw better-sqlite3\'s ~3 µs per row: inserts 3.5 µs, rollup upserts and the pages they add to each commit 1.3 µs, envelope decode and WebSocket framing ~3 µs, encoding the patch 0.6 µs. ' +
        'Issue 24 prepared statements once per store, wrote patches as text field by field, made an item\'s JSON only when stored whole, and subscribed with credit (`RECORDER_CREDIT`): before it every run closed each subscription with 1013 once and the recorder sat at 25–38 % CPU waiting to reconnect; now it keeps up and the live figure is the producers\' publish rate (10 processes on one core, 74–100k items/s), so 0.5× raw would need the producers to publish faster than they can. Next steps: multi-row INSERTs for items above their series\' newest seq (2.8 against 3.4 µs a row), fewer rollup upserts per batch.',
    );
  s.goals.push({ goal: 'zero items lost (rows stored = items published)', figure: `${lost} lost, ${gaps.n} gap(s)`, met: lostMet });
  if (Number.isFinite(liveRate)) s.figures++;
  if (Number.isFinite(catchRate)) s.figures++;
  if (raw.length) s.figures++;
  s.blocks.push(
    table(
      ['writer', 'items', 'time', 'items/s', 'writer CPU', '÷ raw', 'goal'],
      [
        [
          `recorder, live: ${PRODUCERS} sketches publishing at full rate`,
          fmtCount(liveTotal),
          live.doneAt === undefined ? `not all written (${live.written - fillTotal})` : fmtMs(liveS * 1000),
          `**${fmtCount(liveRate)}**`,
          fmtCpu(live.cpuTo - live.cpuFrom, liveS * 1000),
          `**${fmtRatio(ratio)}**`,
          goalCell('≥ 0.5×', ratioMet),
        ],
        [
          `recorder, catch-up: ${PRODUCERS} histories of ${fmtCount(fillItems)} (\`?history=all\`)`,
          fmtCount(fillTotal),
          fmtMs(catchS * 1000),
          fmtCount(catchRate),
          fmtCpu(caught.cpuTo - caught.cpuFrom, catchS * 1000),
          fmtRatio(catchRate / rawRate.median),
          '',
        ],
        [
          'raw better-sqlite3 (the same rows, 500 per transaction)',
          fmtCount(raw[0]?.rows ?? NaN),
          fmtMs(median(raw.map((r) => r.ms))),
          fmtSummary(rawRate),
          fmtCpu(
            raw.reduce((t, r) => t + r.cpuUs, 0),
            raw.reduce((t, r) => t + r.ms, 0),
          ),
          '',
          '',
        ],
      ],
    ),
  );
  s.blocks.push(
    table(
      ['published (catch-up + live)', 'live: published/s (all sketches)', 'live: written when publishing ended', 'peak queue', 'rows stored', 'lost', 'gaps recorded (items)', '1013 closes / drops', 'reconnects', 'goal'],
      [
        [
          `${fmtCount(fillTotal)} + ${fmtCount(liveTotal)}`,
          fmtCount(pubRate),
          live.writtenAtEnd === undefined ? '–' : fmtCount(live.writtenAtEnd - fillTotal),
          String(Math.max(caught.peakQueued, live.peakQueued)),
          fmtCount(rows),
          `**${lost}**`,
          `${gaps.n} (${gaps.items})`,
          `${closedSlow} / ${drops}`,
          String(reconnects),
          goalCell('0 lost', lostMet),
        ],
      ],
    ),
  );
  const liveCpu = (live.cpuTo - live.cpuFrom) / 10 / (liveS * 1000);
  const keptUp = live.writtenAtEnd !== undefined && live.writtenAtEnd - fillTotal >= 0.9 * liveTotal;
  if (keptUp) {
    s.notes.push(
      `Live: the recorder had written ${fmtCount(live.writtenAtEnd! - fillTotal)} of the ${fmtCount(liveTotal)} items when publishing ended, using ${Math.round(liveCpu)}% of its core, while the sketches published ${fmtCount(pubRate)} items/s between them${ctx.pin ? ' on the other core' : ''}: it kept up, so this live figure measures what the sketches published, not what the recorder can take (the catch-up row comes closer to that).`,
    );
  } else if (liveCpu < 80) {
    s.notes.push(
      `Live: the recorder fell behind (it had written ${live.writtenAtEnd === undefined ? '?' : fmtCount(live.writtenAtEnd - fillTotal)} of ${fmtCount(liveTotal)} items when publishing ended) while using ${Math.round(liveCpu)}% of its core: it waited on something besides its own CPU time — the disk (WAL checkpoints) or other processes sharing its core.`,
    );
  }
  const catchCpu = (caught.cpuTo - caught.cpuFrom) / 10 / (catchS * 1000);
  if (catchCpu < 80) {
    s.notes.push(
      `Catch-up: the recorder used ${Math.round(catchCpu)}% of its core: the ${PRODUCERS} sketches${ctx.pin ? ', sharing one core,' : ''} sent their histories slower than it took them, so this is a lower bound of what it can take, not its limit.`,
    );
  }
  s.notes.push(
    'Ingest: "writer CPU" is the recorder process\'s CPU time (from /proc, sampled at each status poll) over its measured span, as % of one core, and the raw inserter\'s own over its inserts. The recorder also parses every `sketchnet.v2` envelope and re-serialises its data, which the raw inserter does not; "1013 closes" counts subscriptions the sketches closed for falling more than `maxBuffered` behind (the recorder then resumes with `?after_seq=`; a gap is recorded only for items the sketch no longer holds).',
  );
}
// ---------------------------------------------------------------------------------------------
// (b) History query

interface Timed {
  ms: number;
  bytes: number;
}

async function historyQuery(ctx: Ctx, s: Section, dir: string): Promise<void> {
  const minutes = ctx.quick ? 15 : 60;
  /** Measured runs per stream: decimated and raw over HTTP, and each in process. */
  const runs = { decimated: ctx.quick ? 3 : 5, raw: ctx.quick ? 2 : 3, inProcess: 2 };
  const perStream = minutes * 60 * HISTORY_HZ;
  const span = minutes === 60 ? '1 h' : `${minutes} min`;
  const db = path.join(dir, 'history.sqlite');
  const names = Array.from({ length: HISTORY_STREAMS }, (_, i) => `history-${i + 1}`);

  // The data: a random walk per stream, interleaved by time as a recorder receives it, ending now.
  const until = Date.now() / 1000;
  const since = until - minutes * 60;
  const store = new RecordStore({ file: db });
  const t0 = performance.now();
  const celsius = names.map(() => 21);
  for (let i = 0; i < perStream; i++) {
    const time = since + (i + 1) / HISTORY_HZ;
    for (let k = 0; k < names.length; k++) {
      celsius[k]! += (Math.random() - 0.5) / 10;
      const data = JSON.stringify({ celsius: Math.round(celsius[k]! * 100) / 100 });
      store.add({ sketch: names[k]!, kind: 'thermometer', stream: '/readings', epoch: `epoch${k + 1}`, seq: i + 1, time, published: time + 0.001, received: time + 0.004, data });
    }
  }
  store.flush();
  const writeMs = performance.now() - t0;
  const total = perStream * names.length;
  ctx.log(`  history: ${total} rows written with RecordStore in ${fmtMs(writeMs)}`);

  // In process: store.history() on the same file, one unmeasured call per stream first.
  const inProcess = { decimated: [] as number[], raw: [] as number[] };
  const query = (sketch: string, raw: boolean) => ({ sketch, stream: '/readings', since, until, maxPoints: raw ? perStream : HISTORY_POINTS, raw });
  const verify = (a: HistoryAnswer | undefined, raw: boolean, where: string) => {
    if (!a || a.count !== perStream) throw new Error(`${where}: ${a?.count ?? 'no'} items in the range, not ${perStream}`);
    if (raw && a.rows?.length !== perStream) throw new Error(`${where}: ${a.rows?.length ?? 0} raw rows, not ${perStream}`);
    if (!raw && (!a.decimated || !a.time || a.time.length > HISTORY_POINTS)) throw new Error(`${where}: ${a.time?.length ?? 0} points, not decimated to ≤ ${HISTORY_POINTS}`);
  };
  for (const name of names) {
    for (const raw of [false, true]) {
      verify(store.history(query(name, raw)), raw, 'store.history()');
      for (let r = 0; r < runs.inProcess; r++) {
        const t = performance.now();
        store.history(query(name, raw));
        inProcess[raw ? 'raw' : 'decimated'].push(performance.now() - t);
      }
    }
  }
  store.close();

  // Over HTTP: a recorder started on that file (no sketch to record: it only answers).
  const { port } = await startRecorder(ctx, db);
  const http = { decimated: [] as Timed[], raw: [] as Timed[] };
  const get = async (name: string, raw: boolean): Promise<Timed & { answer: HistoryAnswer }> => {
    const q = `sketch=${encodeURIComponent(name)}&stream=/readings&since=${since}&until=${until}&max_points=${raw ? perStream : HISTORY_POINTS}${raw ? '&raw=1' : ''}`;
    const t = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/history?${q}`, { signal: AbortSignal.timeout(30_000) });
    const body = await res.text();
    const ms = performance.now() - t;
    if (!res.ok) throw new Error(`GET /history: HTTP ${res.status}: ${body.trim()}`);
    return { ms, bytes: Buffer.byteLength(body), answer: JSON.parse(body) as HistoryAnswer };
  };
  for (const name of names) {
    for (const raw of [false, true]) {
      verify((await get(name, raw)).answer, raw, 'GET /history'); // unmeasured
      for (let r = 0; r < runs[raw ? 'raw' : 'decimated']; r++) {
        const { ms, bytes } = await get(name, raw);
        http[raw ? 'raw' : 'decimated'].push({ ms, bytes });
      }
    }
  }

  const dec = summarize(http.decimated.map((x) => x.ms));
  const raw = summarize(http.raw.map((x) => x.ms));
  const met = judge(dec.median, '≤', 50);
  s.goals.push({ goal: `GET /history, ${span} of ${HISTORY_HZ} Hz (${fmtCount(perStream)} rows) decimated to ${HISTORY_POINTS} points: median ≤ 50 ms`, figure: fmtMs(dec.median), met });
  s.figures += 2;
  const ms = (xs: number[]) => fmtSummary(summarize(xs), fmtMs);
  s.blocks.push(
    `**History query.** ${span} of ${HISTORY_HZ} Hz readings (\`{"celsius":21.37}\`, a random walk) for ${HISTORY_STREAMS} streams (${fmtCount(total)} rows, ${fmtCount(perStream)} per stream, ending now), written with \`RecordStore\` (batches of 500) in ${fmtMs(writeMs)}${ctx.quick ? ' — `--quick` writes 15 min instead of the full run\'s hour' : ''}; then a recorder started on that file answers \`GET /history?sketch=…&stream=/readings&since=…&until=…\` for the whole range from the bench process (one connection, one request at a time): decimated (\`max_points=${HISTORY_POINTS}\`) and raw (\`raw=1&max_points=${perStream}\`, every row). Times are from the request to the last byte of the body (JSON not parsed), ${runs.decimated} (decimated) or ${runs.raw} (raw) run(s) per stream after an unmeasured one, all ${HISTORY_STREAMS} streams pooled: median (min–max). In process: \`store.history()\` on the same file, before the recorder started, ${runs.inProcess} run(s) of each per stream after an unmeasured one.`,
  );
  s.blocks.push(
    table(
      ['query', 'rows in range', 'points / rows answered', 'answer size', 'GET /history', 'goal', 'store.history() in process'],
      [
        [
          `decimated to ${HISTORY_POINTS} points`,
          fmtCount(perStream),
          `≤ ${HISTORY_POINTS}`,
          fmtBytes(median(http.decimated.map((x) => x.bytes))),
          `**${fmtSummary(dec, fmtMs)}**`,
          goalCell('≤ 50 ms', met),
          ms(inProcess.decimated),
        ],
        [`raw rows (\`raw=1\`)`, fmtCount(perStream), fmtCount(perStream), fmtBytes(median(http.raw.map((x) => x.bytes))), fmtSummary(raw, fmtMs), '', ms(inProcess.raw)],
      ],
    ),
  );
  ctx.log(`  GET /history decimated ${fmtSummary(dec, fmtMs)}, raw ${fmtSummary(raw, fmtMs)}; in process decimated ${ms(inProcess.decimated)}, raw ${ms(inProcess.raw)}`);
}
