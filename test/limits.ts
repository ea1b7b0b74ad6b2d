import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { upgrade } from './helpers/net.js';
import { reactive, Sketch, type SketchConfig } from '../runtime/index.js';
import { MAX_CONNECTIONS, UPGRADE_TIMEOUT_MS } from '../runtime/net/sketch-server.js';

class Echo extends Sketch {
  @reactive override async loop(_c: string, m: string) {
    return m;
  }
}

async function started(config: SketchConfig = {}) {
  const lines: string[] = [];
  const s = new Echo({ discovery: false, log: (l) => lines.push(l), ...config });
  const { port } = await s.run({ host: '127.0.0.1' });
  return { s, port, lines, url: `ws://127.0.0.1:${port}/` };
}

/** Opens a raw TCP connection, writes `bytes` (if any); resolves with what came back and after how long it was closed. */
function raw(port: number, bytes?: string | Buffer, drip?: { text: string; everyMs: number }): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect(port, '127.0.0.1', () => {
      if (bytes) socket.write(bytes);
      if (drip) {
        let i = 0;
        timer = setInterval(() => socket.writable && socket.write(drip.text[i++ % drip.text.length]!), drip.everyMs);
      }
    });
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ text, closedAfterMs: Date.now() - t0 });
    });
  });
}

test(`the defaults: at most ${MAX_CONNECTIONS} connections, ${UPGRADE_TIMEOUT_MS} ms to send an upgrade request`, () => {
  assert.is(MAX_CONNECTIONS, 512);
  assert.is(UPGRADE_TIMEOUT_MS, 10_000);
});

test('past maxConnections an upgrade gets 503 and one line, with one log line for the whole burst; a freed place is taken again', async () => {
  const { s, url, lines } = await started({ maxConnections: 5 });
  try {
    const open = await Promise.all(Array.from({ length: 5 }, () => upgrade(url)));
    assert.ok(open.every((o) => o.status === 101));
    for (let i = 0; i < 5; i++) {
      const r = await upgrade(url);
      assert.is(r.status, 503);
      assert.is(r.body, 'this sketch serves at most 5 connections: try again later\n');
    }
    assert.is(lines.filter((l) => l.includes('refusing more (503)')).length, 1, lines.join('\n'));
    open[0]!.ws!.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await upgrade(url);
    assert.is(again.status, 101);
    for (const o of [...open, again]) o.ws?.close();
  } finally {
    await s.close();
  }
});

test('connections that send nothing or drip a header (slowloris) are closed after upgradeTimeout, while a new client is served beside a cap\'s worth of them', async () => {
  const { s, port, url } = await started({ maxConnections: 5, upgradeTimeout: 300 });
  try {
    const idle = Array.from({ length: 5 }, () => raw(port));
    const slow = raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n', { text: 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n', everyMs: 50 });
    const served = await upgrade(url);
    assert.is(served.status, 101, 'a new client is served');
    served.ws!.send('hi');
    assert.is(await new Promise((r) => served.ws!.once('message', (d) => r(d.toString()))), 'hi');
    for (const c of [...(await Promise.all(idle)), await slow]) assert.ok(c.closedAfterMs < 2000, `closed after ${c.closedAfterMs} ms`);
    served.ws!.close();
  } finally {
    await s.close();
  }
});

test('a megabyte of headers gets 431, 2000 headers and garbage bytes a clear answer, and the sketch keeps serving', async () => {
  const { s, port, url } = await started();
  try {
    const huge = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`);
    assert.match(huge.text, /^HTTP\/1\.1 431 /);
    const many = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`);
    assert.match(many.text, /^HTTP\/1\.1 (426|431|400) /);
    const garbage = await raw(port, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)));
    assert.match(garbage.text, /^HTTP\/1\.1 400 /);
    const ok = await upgrade(url);
    assert.is(ok.status, 101);
    ok.ws!.close();
  } finally {
    await s.close();
  }
});

test('a message over maxPayload closes with 1009 and invalid UTF-8 with 1007; other clients go on', async () => {
  const { s, url } = await started({ maxPayload: 1024 });
  try {
    const other = (await upgrade(url)).ws!;
    for (const [send, expected] of [
      [(ws: WebSocket) => ws.send('x'.repeat(1025)), 1009],
      [(ws: WebSocket) => ws.send(Buffer.from([0xc3, 0x28]), { binary: false }), 1007],
    ] as const) {
      const ws = (await upgrade(url)).ws!;
      const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
      send(ws);
      assert.is(await code, expected);
    }
    other.send('still');
    assert.is(await new Promise((r) => other.once('message', (d) => r(d.toString()))), 'still');
    other.close();
  } finally {
    await s.close();
  }
});

test.run();
