/** Case 6: server memory per idle connection, sketchnet sketch vs a bare ws server. */
import { sample } from '../lib/cpu.js';
import { spawnTs, type Ctx } from '../lib/env.js';
import { stopAll } from '../lib/proc.js';
import { fmtBytes, goalCell, judge, section, table, type Section } from '../lib/report.js';

const SETTLE_MS = 500;

export async function memory(ctx: Ctx): Promise<Section> {
  const n = ctx.counts.idleConnections;
  const s = section(
    '6. Memory per idle connection',
    `Server RSS (and V8 heap) after a GC (\`--expose-gc\`), before and after ${n} idle plain WebSocket connections opened from a separate process; the growth divided by ${n}.`,
  );
  const rows: string[][] = [];
  for (const [label, script, args] of [
    ['sketchnet sketch', 'servers/sketch.ts', ['--mode', 'ack', '--max-connections', String(n + 100)]],
    ['bare ws server', 'servers/ws.ts', []],
  ] as const) {
    try {
      const server = spawnTs(ctx, 'server', label, script, [...args], { nodeArgs: ['--expose-gc'] });
      const port = (await server.report<{ port: number }>('ready', 20_000)).port;
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const before = await sample(server, true);
      const client = spawnTs(ctx, 'client', 'idle-clients', 'clients/subscribe.ts', ['--url', `ws://127.0.0.1:${port}/`, '--count', String(n)]);
      await client.report('ready', 60_000);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const after = await sample(server, true);
      const per = (after.rss - before.rss) / n;
      const heap = after.heapUsed !== undefined && before.heapUsed !== undefined ? after.heapUsed - before.heapUsed : undefined;
      const isSketch = label.startsWith('sketchnet');
      const met = isSketch ? judge(per / 1024, '≤', 30) : undefined;
      if (isSketch) s.goals.push({ goal: '≤ 30 KiB RSS per idle connection', figure: fmtBytes(per), met });
      s.figures++;
      rows.push([label, String(n), fmtBytes(before.rss), fmtBytes(after.rss), `**${fmtBytes(per)}**`, heap === undefined ? '–' : fmtBytes(heap / n), isSketch ? goalCell('≤ 30 KiB', met) : '']);
      ctx.log(`  ${label}: RSS ${fmtBytes(before.rss)} → ${fmtBytes(after.rss)}: ${fmtBytes(per)} per connection`);
    } catch (err) {
      rows.push([label, String(n), `error: ${(err as Error).message.split('\n')[0]}`, '', '', '', '']);
      ctx.log(`  ${label}: error: ${(err as Error).message}`);
    } finally {
      await stopAll();
    }
  }
  s.blocks.push(table(['server', 'connections', 'RSS before', 'RSS after', 'RSS per connection', 'heap per connection', 'goal'], rows));
  return s;
}
