/**
 * Case 10: fairness under a flood. A well-behaved Peer (one message in flight) against a
 * sketch while another client floods the same sketch with one-byte frames, reading its
 * replies or not: the well-behaved client's acknowledgements per second during the flood ÷
 * without it. The goal: ≥ 0.8.
 *
 * Placement models the attacker on another machine: the sketch alone on CPU 0, the
 * well-behaved client and the flooder on CPU 1 with the flooder at `nice 19`, so that the
 * flooder's own CPU use does not compete with the sketch or the client (on a 2-core machine,
 * unpinned, three busy processes share two cores and the figure measures the OS scheduler).
 * Quiet and flood rounds alternate (the flooder is told to pause, and the sketch works through
 * what the kernel had buffered, then to resume) so that drift in the machine's speed falls on
 * both alike.
 */
import path from 'node:path';
import { procCpuUs, procRss } from '../lib/cpu.js';
import { BENCH, spawnOn, spawnTs, type Ctx } from '../lib/env.js';
import type { Round } from '../lib/load.js';
import { stopAll } from '../lib/proc.js';
import { fmtBytes, fmtCount, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { median } from '../lib/stats.js';

const FLOODER = path.join(BENCH, 'clients', 'flooder.ts');
/** After stopping or resuming the flooder, before a round: the sketch drains what it had queued. */
const SETTLE_MS = 200;
const GOAL = 0.8;

export async function flood(ctx: Ctx): Promise<Section> {
  const pairs = ctx.quick ? 2 : 6;
  const roundMs = ctx.quick ? 200 : 500;
  const s = section(
    '10. A well-behaved client beside a flood',
    `A sketch (\`--max-old-space-size=128\`) answering a Peer with one message in flight while another client floods it with one-byte text frames as fast as TCP takes them. ${pairs} pairs of ${roundMs} ms rounds, without and with the flood, alternating; acknowledgements per second of the well-behaved client, median. Placement: the sketch alone on CPU 0, both clients on CPU 1, the flooder at nice 19 (an attacker on another machine).`,
  );
  const rows: string[][] = [];
  for (const reads of [true, false]) {
    const label = reads ? 'flooder reads its replies' : 'flooder never reads its replies';
    try {
      const server = spawnTs(ctx, 'server', 'sketch', 'servers/sketch.ts', ['--mode', 'ack'], { nodeArgs: ['--max-old-space-size=128'] });
      const url = `ws://127.0.0.1:${(await server.report<{ port: number }>('ready', 20_000)).port}/`;
      const good = spawnTs(ctx, 'client', 'good', 'clients/ack.ts', ['--url', url, '--via', 'peer', '--window', '1', '--warmup', String(ctx.counts.warmupMs), '--round-ms', String(roundMs)]);
      await good.report('ready', 30_000);
      const warm = good.report('warm', 30_000);
      good.send('warm');
      await warm;
      const flooder = spawnOn(ctx, 'client', 'flooder', 'nice', ['-n', '19', process.execPath, '--import', 'tsx', FLOODER, url, String(1e9), reads ? '1' : '0', '120']);
      await flooder.report('flooding', 30_000);
      const floodStarted = Date.now();
      let closed: string | undefined;
      void flooder.report<number>('closed', 600_000).then(
        (code) => (closed = `the sketch closed the flooder (${code}) after ${((Date.now() - floodStarted) / 1000).toFixed(1)} s`),
        () => {},
      );
      const rss0 = procRss(server.proc.pid!);
      let peak = rss0;
      const cpu = { quiet: { us: 0, ms: 0 }, loud: { us: 0, ms: 0 } };
      const round = async (kind: 'quiet' | 'loud') => {
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const cpu0 = procCpuUs(server.proc.pid!);
        const r = good.report<Round>('round', roundMs + 15_000);
        good.send('go');
        const { acks, ms } = await r;
        cpu[kind].us += procCpuUs(server.proc.pid!) - cpu0;
        cpu[kind].ms += ms;
        peak = Math.max(peak, procRss(server.proc.pid!));
        return (acks * 1000) / ms;
      };
      const quiet: number[] = [];
      const drainMs: number[] = [];
      const loud: number[] = [];
      /** Waits until the sketch has worked through what the stopped flooder had sent (kernel buffers hold megabytes of frames). */
      const drained = async () => {
        const t0 = Date.now();
        for (;;) {
          const before = procCpuUs(server.proc.pid!);
          await new Promise((r) => setTimeout(r, 100));
          if (procCpuUs(server.proc.pid!) - before < 10_000 || Date.now() - t0 > 20_000) return Date.now() - t0;
        }
      };
      for (let i = 0; i < pairs; i++) {
        flooder.send('pause');
        drainMs.push(await drained());
        quiet.push(await round('quiet'));
        flooder.send('resume');
        if (closed !== undefined) break; // the sketch cut it off: what follows would not be a flood
        loud.push(await round('loud'));
      }
      const share = (k: 'quiet' | 'loud') => `${((100 * cpu[k].us) / 1000 / cpu[k].ms).toFixed(0)} %`;
      const ratio = median(loud) / median(quiet);
      const met = judge(ratio, '≥', GOAL);
      s.goals.push({ goal: `well-behaved client ≥ ${GOAL * 100} % of its rate while a client floods (${reads ? 'reading' : 'not reading'})`, figure: `${(ratio * 100).toFixed(0)} %`, met });
      s.figures++;
      rows.push([label, fmtCount(median(quiet)), fmtCount(median(loud)), `**${(ratio * 100).toFixed(0)} %**`, goalCell(`≥ ${GOAL * 100} %`, met), `${share('quiet')} → ${share('loud')}`, `${fmtBytes(rss0)} → ${fmtBytes(peak)}`]);
      if (closed) s.notes.push(`${label}: ${closed}; rounds after it are left out.`);
      ctx.log(`  ${label}: ${closed ?? 'open to the end'}; drained in ${drainMs.join(', ')} ms; ${median(quiet).toFixed(0)}/s without, ${median(loud).toFixed(0)}/s during the flood (${(ratio * 100).toFixed(0)} %)`);
    } catch (err) {
      rows.push([label, `error: ${(err as Error).message.split('\n')[0]}`, '', '', '', '', '']);
      ctx.log(`  ${label}: error: ${(err as Error).message}`);
    } finally {
      await stopAll();
    }
  }
  s.blocks.push(table(['flood', 'acks/s without', 'acks/s during', 'during ÷ without', 'goal', 'sketch CPU without → during', 'sketch RSS → peak'], rows));
  s.notes.push('A flooding connection (more than 256 unanswered messages queued) is throttled: from then on ws hands the sketch one of its frames per event-loop turn instead of every frame of a 64 KiB read at once (runtime/net/throttle.ts), and its replies leave 16 at a time. A flooder that does not read its replies is paused once 256 KiB of them are unsent.');
  return s;
}
