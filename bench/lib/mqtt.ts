/** The MQTT side of the bench: topics, and a real mosquitto broker on a loopback port. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnOn, type Ctx } from './env.js';
import type { Child } from './proc.js';

export const MQTT_REQUEST_TOPIC = 'sketchnet-bench/request';
export const MQTT_REPLY_TOPIC = 'sketchnet-bench/reply';

/**
 * Starts `mosquitto -c <generated config>`: one listener on 127.0.0.1:`port`, anonymous
 * clients, no persistence, TCP_NODELAY, log to stderr (its stdout is block-buffered on a pipe). Resolves
 * once the port accepts connections.
 */
export async function startMosquitto(ctx: Ctx, bin: string, port: number): Promise<Child> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-bench-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // ws turns Nagle's algorithm off on its sockets; so must the broker, or the end-to-end
      // round trip waits ~40 ms on delayed ACKs.
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      '',
    ].join('\n'),
  );
  const broker = spawnOn(ctx, 'server', 'mosquitto', bin, ['-c', conf]);
  void broker.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  await untilListening(broker, port, 5000);
  return broker;
}

async function untilListening(child: Child, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== undefined) throw new Error(`mosquitto exited (${child.exitCode}): ${child.tail.slice(-3).join(' / ')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`mosquitto is not listening on 127.0.0.1:${port} after ${timeoutMs} ms: ${child.tail.slice(-3).join(' / ')}`);
}

/** mqtt.js leaves Nagle's algorithm on; turn it off as ws does (call once connected). */
export function noDelay(client: { stream: unknown }): void {
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}
