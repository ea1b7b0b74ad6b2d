/**
 * `npm run bench [-- --quick] [-- --only 1,3] [-- --out FILE] [-- --profile]`
 *
 * Measures sketchnet against its peers (a bare `ws` server, socket.io, the original Python
 * asyncio sketches, MQTT through mosquitto) on this machine in one run, client and server always in
 * separate processes on 127.0.0.1, and writes BENCHMARKS.md (printing it too). Goals are
 * printed beside each figure, never asserted: the run fails only when a case produced no
 * figure at all. Run it inside the network sandbox: `../shared/sandbox npm run bench`.
 *
 *   --quick     every case once with small counts (CI); writes bench/.out/BENCHMARKS.quick.md
 *   --only 1,3  just these cases
 *   --out FILE  where to write the report
 *   --no-pin    do not pin server processes to CPU 0 and clients to CPU 1
 *   --node PATH another Node.js binary for cases 9, 16 and 18 (repeatable; lines fetched by .ci/fetch-node
 *               are found by themselves)
 *   --profile   only profile the sketchnet server and Peer client (node --cpu-prof) and print
 *               where they spend their time
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipelined, profile, roundTrips } from './cases/ack.js';
import { broker } from './cases/broker.js';
import { compileCache, discovery, startup } from './cases/cli.js';
import { dashboard } from './cases/dashboard.js';
import { fanout } from './cases/fanout.js';
import { fanoutPeers } from './cases/fanout-peers.js';
import { chain } from './cases/chain.js';
import { circuit } from './cases/circuit.js';
import { startupPeers } from './cases/startup-peers.js';
import { flood } from './cases/flood.js';
import { gpio } from './cases/gpio.js';
import { memory } from './cases/memory.js';
import { recorder } from './cases/recorder.js';
import { reload } from './cases/reload.js';
import { catchup, slowSubscribers } from './cases/streams.js';
import { tracing } from './cases/tracing.js';
import { wear } from './cases/wear.js';
import { raiseOpenFileLimit } from './lib/cpu.js';
import { canPin, findNodes, findPeers, FULL, OUT, QUICK, ROOT, SKETCH_BIN, type Ctx } from './lib/env.js';
import { killAllNow, running, stopAll } from './lib/proc.js';
import { render, section, table, type Section } from './lib/report.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i !== -1 ? argv[i + 1] : undefined;
};
const quick = flag('quick');
const only = value('only')?.split(',').map(Number);
const outFile = path.resolve(value('out') ?? (quick ? path.join(OUT, 'BENCHMARKS.quick.md') : path.join(ROOT, 'BENCHMARKS.md')));

/** The whole run's time limit: nothing may hang (full runs take ~12 min on 2 cores, plus ~4 min for cases 18–19 with four Node.js lines). */
const DEADLINE_MS = quick ? 5 * 60_000 : 30 * 60_000;

// Whatever happens, no child outlives the bench.
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    console.error(`bench: ${sig}: stopping every child`);
    killAllNow();
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`bench: still running after ${DEADLINE_MS / 60_000} min: giving up`);
  killAllNow();
  process.exit(1);
}, DEADLINE_MS).unref();

if (!existsSync(SKETCH_BIN)) {
  console.error('bench: dist/ is not built: run `npx tsc -p .` first');
  process.exit(1);
}
raiseOpenFileLimit(8192);

const log = (line: string) => process.stderr.write(`${line}\n`);
const extraNodes = argv.flatMap((a, i) => (argv[i - 1] === '--node' ? [a] : []));
const ctx: Ctx = {
  quick,
  pin: !flag('no-pin') && canPin(),
  profile: flag('profile'),
  counts: quick ? QUICK : FULL,
  peers: await findPeers(),
  nodes: findNodes(extraNodes),
  log,
};

if (ctx.profile) {
  try {
    console.log(await profile(ctx));
  } finally {
    await stopAll();
  }
  process.exit(0);
}

const CASES: Array<[number, string, (ctx: Ctx) => Promise<Section>]> = [
  [1, '1. Sequential acknowledged round trips', roundTrips],
  [2, '2. Pipelined acknowledged messages', pipelined],
  [3, '3. Fan-out to subscribers', fanout],
  [4, '4. Discovery to first acknowledgement', discovery],
  [5, '5. Start-up', startup],
  [6, '6. Memory per idle connection', memory],
  [7, '7. Catch-up from history', catchup],
  [8, '8. Slow subscribers', slowSubscribers],
  [9, '9. Start-up by Node.js line: compile cache off and on', compileCache],
  [10, '10. A well-behaved client beside a flood', flood],
  [11, '11. Recorder', recorder],
  [12, '12. Dashboard', dashboard],
  [13, '13. Through an MQTT broker', broker],
  [14, '14. Fan-out against peers', fanoutPeers],
  [15, '15. The clock → iopin → buzzer chain against Python', chain],
  [16, '16. Start-up and idle memory against peers', startupPeers],
  [17, '17. GPIO: output writes and edge latency by backend', gpio],
  [18, '18. Links and tracing on the acknowledged path', tracing],
  [19, '19. Dashboard circuit: 50 sketches, 100 links', circuit],
  [20, '20. Recorder on an SD card: bytes per reading and bytes written', wear],
  [21, '21. Reload in place: swap time and the pause clients see', reload],
];

const started = performance.now();
const sections: Section[] = [];
for (const [n, title, run] of CASES) {
  if (only && !only.includes(n)) continue;
  log(`== ${title}`);
  const t0 = performance.now();
  let s: Section;
  try {
    s = await run(ctx);
  } catch (err) {
    s = section(title, 'The case failed before producing figures.');
    s.notes.push(`error: ${(err as Error).message}`);
    log(`  error: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await stopAll();
  }
  log(`   (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  sections.push(s);
}

const md = render(header(ctx), sections, footer());
mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, md);
console.log(md);
log(`bench: wrote ${path.relative(process.cwd(), outFile)} in ${((performance.now() - started) / 1000).toFixed(0)} s`);

if (running() > 0) log(`bench: ${running()} child process(es) still running: killing them`);
const empty = sections.filter((s) => s.figures === 0);
if (empty.length) {
  log(`bench: no figures from: ${empty.map((s) => s.title).join('; ')}`);
  process.exit(1);
}
process.exit(0);

function header({ peers, pin }: Ctx): string[] {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const date = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const peer = (p: { bin: string } | { skip: string }, version: () => string) => ('skip' in p ? `unavailable (${p.skip})` : version());
  return [
    '# sketchnet benchmarks',
    '',
    `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.ts). Every figure below was measured in the same run on the same machine, client and server in separate processes on 127.0.0.1. Goals are printed beside the figures, never asserted.`,
    '',
    table(
      ['cores', 'CPU', 'Node', 'OS', 'date', 'run'],
      [[String(cpus.length), model, process.version, `${os.type()} ${os.release()}`, date, quick ? '--quick (small counts: indicative only)' : 'full']],
      'llllll',
    ),
    '',
    pin
      ? 'Placement: server-side processes pinned to CPU 0, client-side ones to CPU 1 (`taskset`; cases 1–3, 6–8, 10, 11, 13–15, 18, 20 and 21 (whose client is the bench process itself, pinned for the case); in case 10 the flooder also runs at nice 19). Unpinned, a one-in-flight ping-pong on this kind of VM runs about 3× faster whenever the scheduler happens to put both processes on one core, which makes rounds bimodal; pinned, every row pays the same cross-core wake-up. The CLI start-up cases (4, 5, 9, 16) run unpinned, as users run them, through the `sketch` command by name (a symlink on PATH, as `npm link` makes).'
      : 'Placement: not pinned (`--no-pin`, one CPU, or no taskset): expect bimodal one-in-flight figures.',
    '',
    `Peers: ws ${pkgVersion('ws')}; socket.io ${pkgVersion('socket.io')} (socket.io-client ${pkgVersion('socket.io-client')}); mqtt.js ${peers.mqtt === true ? pkgVersion('mqtt') : 'unavailable'}; mosquitto ${peer(peers.mosquitto, () => mosquittoVersion((peers.mosquitto as { bin: string }).bin))}; Python original: ${peer(peers.python, () => pythonVersion((peers.python as { bin: string }).bin))}.`,
  ];
}

function footer(): string[] {
  return [
    '## How to run',
    '',
    '```sh',
    'npm run build                                  # the bench measures the built dist/ (tsc + the esbuild bundle)',
    'apt-get install -y python3-websockets mosquitto # the peers (rows are skipped without them)',
    'for v in 22 24 26; do .ci/fetch-node $v; done   # more Node.js lines for cases 9, 16 and 18 (npm registry packages)',
    '../shared/sandbox npm run bench                # full run, ~12 min on 2 cores: writes BENCHMARKS.md',
    '../shared/sandbox npm run bench -- --quick     # every case once, small counts (CI)',
    '../shared/sandbox npm run bench -- --only 1,2  # some cases',
    '../shared/sandbox npm run bench -- --profile   # CPU profiles of the sketchnet server and Peer client',
    '```',
  ];
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function mosquittoVersion(bin: string): string {
  const r = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 5000 });
  return /version (\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
}

function pythonVersion(bin: string): string {
  const r = spawnSync(bin, ['-c', 'import sys, websockets; print(sys.version.split()[0], websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 });
  const [py, ws] = r.stdout.trim().split(' ');
  return `Python ${py ?? '?'} + websockets ${ws ?? '?'}`;
}
