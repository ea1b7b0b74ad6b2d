/**
 * Case 16: start-up to handshake-ready and idle memory, against the peers. Every sketchnet
 * process is the `sketch` command by name (../lib/sketch-cmd.ts), as users run it.
 *
 * - Ready: from spawn until a WebSocket upgrade succeeds (polled from the bench process every
 *   POLL_MS); for mosquitto until an MQTT CONNECT gets its CONNACK; `node -e 0` and
 *   `sketch --help` until they exit. Interleaved, one start of each per round.
 * - CPU of a start: utime + stime of the process at ready (/proc/PID/stat), or, for the ones
 *   that exit, what the bench's waited-for children gained (cutime + cstime of /proc/self/stat).
 * - Idle RSS: VmRSS IDLE_MS after ready, every long-running target started side by side, plus
 *   `sketch up` with four sketches against one `sketch run iopin` alone.
 * - By Node.js line (every binary of ctx.nodes: this one, the lines fetched by .ci/fetch-node,
 *   `--node PATH`): `node -e 0`, a bare `ws` server and `sketch run iopin --no-mdns` on that
 *   binary, interleaved, and the idle RSS of the last two side by side. The goals (issue 24) are
 *   judged per line: ready ≤ 1.5× that line's `node -e 0`, idle RSS ≤ 1.05× that line's bare ws.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { procCpuUs, procRss } from '../lib/cpu.js';
import { BENCH, freePort, type Ctx, type NodeBin } from '../lib/env.js';
import { spawnChild, stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtMs, fmtRatio, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { spawnSketchCmd } from '../lib/sketch-cmd.js';
import { median } from '../lib/stats.js';

const TITLE = '16. Start-up and idle memory against peers';
/** How often readiness is polled, in ms. */
const POLL_MS = 5;
/** How long a start may take before the round counts it as failed, in ms. */
const READY_TIMEOUT_MS = 20_000;
/** How long after ready the idle RSS is read, in ms. */
const IDLE_MS = 2000;
const FIXTURE = path.join(BENCH, 'fixtures', 'pin.ts');
const CHAIN_PY = path.join(BENCH, 'servers', 'chain.py');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** utime + stime of the children this process has waited for (cutime + cstime), in µs. */
function childrenCpuUs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 16 is cutime, 17 cstime (fields[0] is field 3).
  return ((Number(fields[13]) + Number(fields[14])) * 1e6) / ticksPerSecond;
}
/** CLK_TCK: /proc's CPU times are in these. */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resolves once a WebSocket upgrade to 127.0.0.1:`port` succeeds. */
function wsUpgrade(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, handshakeTimeout: 2000 });
    ws.once('open', () => {
      ws.terminate();
      resolve(true);
    });
    ws.once('error', () => resolve(false));
  });
}

/** MQTT 3.1.1 CONNECT: clean session, keep alive 60 s, empty client id. */
const CONNECT = Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 0]);

/** Resolves true once 127.0.0.1:`port` answers an MQTT CONNECT with a CONNACK accepting it. */
function mqttConnack(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(CONNECT));
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4) done(got[0] === 0x20 && got[3] === 0);
    });
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

/** Polls `probe` every POLL_MS until it succeeds; ms from the child's spawn. */
async function untilReady(child: Child, probe: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (child.exitCode !== undefined) throw new Error(`${child.name} exited (${child.exitCode}) before it was ready: ${child.tail.slice(-3).join(' / ')}`);
    if (await probe()) return performance.now() - child.startedAt;
    if (performance.now() - child.startedAt > READY_TIMEOUT_MS) throw new Error(`${child.name} not ready after ${READY_TIMEOUT_MS} ms: ${child.tail.slice(-3).join(' / ')}`);
    await sleep(POLL_MS);
  }
}

function mosquittoConf(dir: string, port: number): string {
  const conf = path.join(dir, `mosquitto-${port}.conf`);
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', ''].join('\n'));
  return conf;
}

interface Start {
  ms: number;
  cpuUs: number;
  child?: Child;
  ports?: number[];
}

type Target = {
  id: string;
  label: string;
  /** Starts it; resolves at ready with the time and CPU taken, the child still running unless it exits by itself. */
  start: (tmp: string) => Promise<Start>;
  skip?: string;
};

/** Spawns and waits for ready, reading the child's CPU at that moment. */
async function startServing(child: Child, probe: () => Promise<boolean>): Promise<Start> {
  const ms = await untilReady(child, probe);
  return { ms, cpuUs: procCpuUs(child.proc.pid!), child };
}

/** Spawns and waits for the exit (status 0), with the CPU the child used. */
async function startExiting(spawn: () => Child): Promise<Start> {
  const cpu0 = childrenCpuUs();
  const child = spawn();
  const code = await Promise.race([child.exited, sleep(READY_TIMEOUT_MS).then(() => 'timeout' as const)]);
  if (code !== 0) {
    await child.stop();
    throw new Error(`${child.name} did not exit 0 (${code}): ${child.tail.slice(-3).join(' / ')}`);
  }
  const ms = performance.now() - child.startedAt;
  await sleep(0); // libuv reaps the child before the exit event: cutime already holds it
  return { ms, cpuUs: childrenCpuUs() - cpu0 };
}

/** Whether `sketch up` exists yet (`sketch up --help` exits 0). */
async function hasUp(): Promise<boolean> {
  const child = spawnSketchCmd('sketch up --help', ['up', '--help']);
  let usage = false; // the command's own help starts with its usage line; without the command, yargs prints the top-level help
  child.onLine((line) => (usage ||= /^sketch up\b/.test(line)));
  const code = await Promise.race([child.exited, sleep(15_000).then(() => 'timeout')]);
  await child.stop();
  return code === 0 && usage;
}

/** The device file of the four-sketch row: buzzer, iopin → buzzer, thermometer, recorder. */
function deviceFile(dir: string, ports: number[]): string {
  const file = path.join(dir, `sketchnet-${ports[0]}.yaml`);
  writeFileSync(
    file,
    [
      'sketches:',
      `  - { kind: buzzer, gpio: virtual, port: ${ports[0]} }`,
      `  - { kind: iopin, to: buzzer, port: ${ports[1]} }`,
      `  - { kind: thermometer, sensor: simulated, port: ${ports[2]} }`,
      `  - { kind: recorder, db: ${JSON.stringify(path.join(dir, `recorder-${ports[0]}.db`))}, port: ${ports[3]} }`,
      '',
    ].join('\n'),
  );
  return file;
}

/** The bare `ws` server: the floor of any Node.js WebSocket server (what Node and ws hold before any code of ours). */
async function bareWs(bin: string, name = 'bare ws server'): Promise<Start> {
  const port = await freePort();
  const code = `const { WebSocketServer } = require('ws'); new WebSocketServer({ port: ${port} });`;
  return startServing(spawnChild(name, bin, ['-e', code], { cwd: path.join(BENCH, '..') }), () => wsUpgrade(port));
}

/** `sketch run iopin --no-mdns` by name, `env node` finding `bin` first on PATH. */
async function iopinOn(bin: string, name: string): Promise<Start> {
  const port = await freePort();
  return startServing(spawnSketchCmd(name, ['run', 'iopin', '--no-mdns', '--host', '127.0.0.1', '--port', String(port)], { node: bin }), () => wsUpgrade(port));
}

/** Per Node.js line, keyed `version id`: ready times (node, ws, iopin) and idle RSS (ws, iopin). */
interface ByLine {
  times: Map<string, number[]>;
  rss: Map<string, number[]>;
}

/**
 * `node -e 0`, the bare ws server and `sketch run iopin --no-mdns` on every Node.js line, one
 * start of each per round, lines and targets interleaved; then `idleRounds` times the last two
 * side by side on each line, their RSS read IDLE_MS after ready.
 */
async function byNodeLine(nodes: NodeBin[], rounds: number, idleRounds: number, errors: string[]): Promise<ByLine> {
  const out: ByLine = { times: new Map(), rss: new Map() };
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  const starts = (node: NodeBin): Array<[string, () => Promise<Start>]> => [
    ['node', () => startExiting(() => spawnChild(`node -e 0 (${node.version})`, node.bin, ['-e', '0']))],
    ['ws', () => bareWs(node.bin, `bare ws server (${node.version})`)],
    ['iopin', () => iopinOn(node.bin, `sketch run iopin (${node.version})`)],
  ];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const node of nodes) {
        for (const [id, start] of starts(node)) {
          try {
            push(out.times, `${node.version} ${id}`, (await start()).ms);
          } catch (err) {
            errors.push(`${node.version} round ${r + 1}, ${id}: ${firstLine(err)}`);
          } finally {
            await stopAll();
          }
        }
      }
    }
    for (let r = 0; r < idleRounds; r++) {
      for (const node of nodes) {
        const started = await Promise.allSettled(starts(node).slice(1).map(([, start]) => start()));
        await sleep(IDLE_MS);
        started.forEach((st, i) => {
          const id = i === 0 ? 'ws' : 'iopin';
          if (st.status === 'rejected') return errors.push(`${node.version} idle round ${r + 1}, ${id}: ${firstLine(st.reason)}`);
          const child = st.value.child;
          if (child?.proc.pid && child.exitCode === undefined) push(out.rss, `${node.version} ${id}`, procRss(child.proc.pid));
          else errors.push(`${node.version} idle round ${r + 1}, ${id}: exited before its RSS was read`);
        });
        await stopAll();
      }
    }
  } finally {
    await stopAll();
  }
  return out;
}

export async function startupPeers(ctx: Ctx): Promise<Section> {
  const rounds = ctx.quick ? 2 : 15;
  const idleRounds = ctx.quick ? 1 : 3;
  const s = section(
    TITLE,
    `Start-up: from spawn until the process accepts a WebSocket upgrade (polled from the bench every ${POLL_MS} ms; mosquitto: until an MQTT CONNECT gets its CONNACK), and for \`node -e 0\` and \`sketch --help\` until they exit. Every sketchnet row is the \`sketch\` command by name, as \`npm link\` installs it; the Python iopin is bench/servers/chain.py (seed-style asyncio + websockets); mosquitto runs with a one-listener config. ${rounds} round(s), one start of each per round, interleaved; median (min–max). CPU per start: the process's utime + stime at ready (/proc), or for those that exit, what they used in all (the bench's cutime + cstime); 10 ms resolution. The \`.ts\` sketch is bench/fixtures/pin.ts: "first start" with an empty cache directory (\`XDG_CACHE_HOME\`, fresh each round), "second start" right after, with what the first left there. Idle RSS: ${IDLE_MS / 1000} s after ready, ${idleRounds} round(s), unpinned.`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-bench-startup-'));
  const python = 'skip' in ctx.peers.python ? undefined : ctx.peers.python.bin;
  const mosquitto = 'skip' in ctx.peers.mosquitto ? undefined : ctx.peers.mosquitto.bin;
  let cacheDir = path.join(tmp, 'cache');
  const tsStart = async (): Promise<Start> => {
    const port = await freePort();
    return startServing(spawnSketchCmd('.ts sketch', ['run', FIXTURE, '--no-mdns', '--host', '127.0.0.1', '--port', String(port)], { env: { XDG_CACHE_HOME: cacheDir } }), () => wsUpgrade(port));
  };
  const targets: Target[] = [
    { id: 'node', label: '`node -e 0` (floor: spawn → exit)', start: () => startExiting(() => spawnChild('node -e 0', process.execPath, ['-e', '0'])) },
    { id: 'help', label: '`sketch --help` (spawn → exit)', start: () => startExiting(() => spawnSketchCmd('sketch --help', ['--help'])) },
    {
      id: 'iopin',
      label: '`sketch run iopin --no-mdns`',
      start: async () => {
        const port = await freePort();
        return startServing(spawnSketchCmd('sketch run iopin', ['run', 'iopin', '--no-mdns', '--host', '127.0.0.1', '--port', String(port)]), () => wsUpgrade(port));
      },
    },
    {
      id: 'python',
      label: 'Python iopin (asyncio + websockets)',
      skip: python ? undefined : (ctx.peers.python as { skip: string }).skip,
      start: async () => {
        const port = await freePort();
        return startServing(spawnChild('python iopin', python!, [CHAIN_PY, 'iopin', '--port', String(port)]), () => wsUpgrade(port));
      },
    },
    {
      id: 'mosquitto',
      label: 'mosquitto (→ CONNACK)',
      skip: mosquitto ? undefined : (ctx.peers.mosquitto as { skip: string }).skip,
      start: async (dir) => {
        const port = await freePort();
        return startServing(spawnChild('mosquitto', mosquitto!, ['-c', mosquittoConf(dir, port)]), () => mqttConnack(port));
      },
    },
    {
      id: 'ts-first',
      label: '`sketch run pin.ts --no-mdns`, first start (empty cache)',
      start: () => {
        cacheDir = mkdtempSync(path.join(tmp, 'cache-'));
        return tsStart();
      },
    },
    { id: 'ts-second', label: '`sketch run pin.ts --no-mdns`, second start', start: tsStart },
  ];

  const times = new Map<string, number[]>();
  const cpus = new Map<string, number[]>();
  const errors: string[] = [];
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        if (t.skip) continue;
        try {
          const st = await t.start(tmp);
          push(times, t.id, st.ms);
          push(cpus, t.id, st.cpuUs);
        } catch (err) {
          errors.push(`round ${r + 1}, ${t.label}: ${firstLine(err)}`);
        } finally {
          await stopAll();
        }
      }
    }
  } finally {
    await stopAll();
  }

  // Idle RSS: the long-running ones side by side, IDLE_MS after each is ready.
  const up = await hasUp();
  const idleTargets: Array<{ id: string; label: string; start: () => Promise<Start> }> = [
    ...targets.filter((t) => !t.skip && ['iopin', 'python', 'mosquitto', 'ts-second'].includes(t.id)).map((t) => ({ id: t.id, label: t.label, start: () => t.start(tmp) })),
    {
      // The floor of any Node.js WebSocket server: what Node and ws hold before any code of ours.
      id: 'ws-floor',
      label: 'bare `ws` server on Node.js (floor of any Node WebSocket server)',
      start: () => bareWs(process.execPath),
    },
    {
      id: 'iopin-mdns',
      label: '`sketch run iopin` (mDNS on): one sketch alone',
      start: async () => {
        const port = await freePort();
        return startServing(spawnSketchCmd('sketch run iopin (mdns)', ['run', 'iopin', '--port', String(port)]), () => wsUpgrade(port));
      },
    },
    ...(up
      ? [
          {
            id: 'up',
            label: '`sketch up`: buzzer, iopin → buzzer, thermometer, recorder in one process',
            start: async () => {
              const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
              const child = spawnSketchCmd('sketch up', ['up', deviceFile(tmp, ports)]);
              const ms = await untilReady(child, async () => (await Promise.all(ports.map(wsUpgrade))).every(Boolean));
              return { ms, cpuUs: procCpuUs(child.proc.pid!), child, ports };
            },
          },
        ]
      : []),
  ];
  const rss = new Map<string, number[]>();
  const upReady: number[] = [];
  for (let r = 0; r < idleRounds; r++) {
    // The .ts sketch's second start: its cache written by a first start just before.
    cacheDir = mkdtempSync(path.join(tmp, 'cache-'));
    try {
      await (await tsStart()).child?.stop();
    } catch (err) {
      errors.push(`idle round ${r + 1}, first .ts start: ${firstLine(err)}`);
    }
    const started = await Promise.allSettled(idleTargets.map((t) => t.start()));
    await sleep(IDLE_MS);
    started.forEach((st, i) => {
      const t = idleTargets[i]!;
      if (st.status === 'rejected') return errors.push(`idle round ${r + 1}, ${t.label}: ${firstLine(st.reason)}`);
      if (t.id === 'up') upReady.push(st.value.ms);
      const pid = st.value.child?.proc.pid;
      if (pid && st.value.child?.exitCode === undefined) push(rss, t.id, procRss(pid));
      else errors.push(`idle round ${r + 1}, ${t.label}: exited before its RSS was read`);
    });
    await stopAll();
  }
  rmSync(tmp, { recursive: true, force: true });
  const line = await byNodeLine(ctx.nodes, rounds, idleRounds, errors);

  const med = (m: Map<string, number[]>, k: string) => (m.get(k)?.length ? median(m.get(k)!) : undefined);
  const cell = (xs: number[] | undefined, f: (n: number) => string) => (xs?.length ? `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : '–');
  const ms = (k: string) => med(times, k);
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : undefined);

  // Issue 12's goals, kept as figures (issue 24's goals are judged per Node.js line, below).
  const readyPy = ratio(ms('iopin'), ms('python'));
  const helpNode = ratio(ms('help'), ms('node'));
  const tsBuiltin = ratio(ms('ts-second'), ms('iopin'));
  const rssWs = ratio(med(rss, 'iopin'), med(rss, 'ws-floor'));
  const upOne = ratio(med(rss, 'up'), med(rss, 'iopin-mdns'));
  const goalFor = new Map<string, string[]>([
    ['iopin', [`${fmtRatio(readyPy)} the Python iopin`]],
    ['help', [`${fmtRatio(helpNode)} \`node -e 0\``]],
    ['ts-second', [`${fmtRatio(tsBuiltin)} \`sketch run iopin\``]],
    ['rss-iopin', [`${fmtRatio(rssWs)} the bare ws server`]],
    ['rss-up', [up ? `${fmtRatio(upOne)} one sketch alone` : '']],
  ]);

  const startRows = targets.map((t) => {
    if (t.skip) return [t.label, `skipped: ${t.skip}`, '', '', ''];
    const x = times.get(t.id);
    s.figures += x?.length ?? 0;
    const floor = ms('node');
    return [t.label, cell(x, fmtMs), floor !== undefined && x?.length ? fmtRatio(median(x) / floor) : '–', cell(cpus.get(t.id), (us) => fmtMs(us / 1000)), (goalFor.get(t.id) ?? []).join('; ')];
  });
  s.blocks.push(table(['start', 'to ready', '÷ `node -e 0`', 'CPU to ready', 'against'], startRows, 'lrrrl'));

  const rssRows: string[][] = idleTargets.map((t) => {
    const x = rss.get(t.id);
    s.figures += x?.length ?? 0;
    const py = med(rss, 'python');
    const goal = t.id === 'iopin' ? goalFor.get('rss-iopin') : t.id === 'up' ? goalFor.get('rss-up') : undefined;
    return [t.label, cell(x, fmtBytes), py !== undefined && x?.length ? fmtRatio(median(x) / py) : '–', (goal ?? []).join('; ')];
  });
  if (!up) rssRows.push(['`sketch up` with four sketches', 'skipped: sketch up not available', '–', '']);
  s.blocks.push(table(['idle process', `RSS ${IDLE_MS / 1000} s after ready`, '÷ Python iopin', 'against'], rssRows, 'lrrl'));

  // Issue 24's goals, per Node.js line.
  const lineRows = ctx.nodes.map((node) => {
    const k = (id: string) => `${node.version} ${id}`;
    const t = (id: string) => med(line.times, k(id));
    const r = (id: string) => med(line.rss, k(id));
    const ready = ratio(t('iopin'), t('node'));
    const mem = ratio(r('iopin'), r('ws'));
    const readyMet = judge(ready, '≤', 1.5);
    const memMet = judge(mem, '≤', 1.05);
    s.goals.push({ goal: `${node.version}: \`sketch run iopin\` ready ≤ 1.5× \`node -e 0\``, figure: fmtRatio(ready), met: readyMet });
    s.goals.push({ goal: `${node.version}: idle RSS of \`sketch run iopin\` ≤ 1.05× a bare ws server`, figure: fmtRatio(mem), met: memMet });
    for (const id of ['node', 'ws', 'iopin']) s.figures += line.times.get(k(id))?.length ?? 0;
    for (const id of ['ws', 'iopin']) s.figures += line.rss.get(k(id))?.length ?? 0;
    return [
      node.version,
      cell(line.times.get(k('node')), fmtMs),
      `${cell(line.times.get(k('ws')), fmtMs)} (${fmtRatio(ratio(t('ws'), t('node')))})`,
      cell(line.times.get(k('iopin')), fmtMs),
      goalCell(`${fmtRatio(ready)}, goal ≤ 1.5×`, readyMet),
      cell(line.rss.get(k('ws')), fmtBytes),
      cell(line.rss.get(k('iopin')), fmtBytes),
      goalCell(`${fmtRatio(mem)}, goal ≤ 1.05×`, memMet),
    ];
  });
  s.blocks.push(
    table(['Node.js', '`node -e 0`', 'bare ws server → ready (÷ `node -e 0`)', '`sketch run iopin --no-mdns` → ready', 'iopin ÷ `node -e 0`', `bare ws RSS ${IDLE_MS / 1000} s after ready`, 'iopin RSS', 'iopin ÷ bare ws'], lineRows, 'lrrrlrrl'),
  );
  if (s.goals.some((g) => g.goal.includes('ready ≤ 1.5×') && g.met === false))
    s.notes.push(
      'Where start-up goes (issue 24; Node.js 24 `--cpu-prof` and `process.moduleLoadList`): before issue 24 built-ins were reached through their ES module facade, which reads every export and so loaded undici and http2 (through `node:http`\'s WebSocket getter), fs/promises and readline, and worker_threads; ws loaded https, tls, crypto and zlib at start (~12 ms together). The bundle now reaches built-ins through `require()` and loads those ten only on first use: CPU to ready went 140 → 110 ms on Node.js 22 and 24, 130 → 100 ms on 26, unchanged (170 ms) on 20. ' +
        'What is left is resolving and evaluating our own 34 chunks (140 imports, 140 `realpathSync`, 299 `path.resolve` calls, enough to get `normalizeString` compiled by TurboFan) and the server itself: a bare ws server alone is 1.4–3.3× `node -e 0` on this machine (its own column above), at or above the 1.5× goal before any sketch code runs. ' +
        'A V8 startup snapshot (`node --build-snapshot`) was tried and cannot hold this CLI: on Node.js 22–26 the builder aborts with "global handle not serialized" once node:http has made its HTTPParser (ws needs it), yargs and yaml fail on "Foreign" handles, Node.js 20\'s builder fails earlier, and a blob must be passed to node before any JavaScript runs, which a `#!/usr/bin/env node` entry cannot do. ' +
        'Idle RSS over a bare ws server (+13.6 MiB on Node.js 24 by /proc smaps and pagemap): ~6 MiB of node-binary pages, 4.2 MiB of them TurboFan\'s own code touched by that one compile, 5 MiB anonymous, 2 MiB malloc.',
    );
  s.notes.push(
    `By Node.js line: every binary found (this one, the lines \`.ci/fetch-node\` fetched, \`--node PATH\`), ${rounds} round(s) of one start of each, lines and targets interleaved; the \`sketch\` command by name with that binary first on PATH for \`env node\`; RSS ${idleRounds} round(s), the bare ws server and the sketch side by side. The bare ws server (\`require('ws')\`, one \`WebSocketServer\`) is the floor any Node WebSocket server pays: its own ready ÷ \`node -e 0\` shows how far below it a 1.5× goal lies.`,
  );
  if (up && upReady.length) s.notes.push(`\`sketch up\` with four sketches: all four accepted a WebSocket upgrade ${cell(upReady, fmtMs)} after spawn (mDNS on: the iopin finds the buzzer by name).`);
  s.notes.push('`sketch run iopin` for the goals is the `--no-mdns` start (what the issue measured: no announcement, no discovery on the path); the four-sketch `sketch up` is compared with `sketch run iopin` with mDNS on, as the sketches in it have.');
  for (const e of errors) s.notes.push(`error: ${e}`);
  for (const row of startRows) ctx.log(`  ${row.slice(0, 4).join('  ')}`);
  for (const row of rssRows) ctx.log(`  ${row.slice(0, 3).join('  ')}`);
  return s;
}
