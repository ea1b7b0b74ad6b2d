import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sketch, SketchError } from '../runtime/index.js';
import { fetchStatus, MAX_STATUS_BYTES } from '../runtime/discovery/status.js';

/** A plain HTTP server on loopback answering every request with `answer`; its `{ url, name }` as mDNS would give it. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const s = http.createServer(answer);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  return { found: { url: `ws://127.0.0.1:${port}/`, name: 'probe' }, close: () => new Promise((r) => s.close(r)), server: s };
}

test('fetchStatus reads a running sketch status: uptime, connections, streams', async () => {
  class Probe extends Sketch {
    static override streams = { '/r': { history: 10 } };
  }
  const s = new Probe({ discovery: false, log: () => {} });
  const { url } = await s.run({ host: '127.0.0.1' });
  try {
    s.publish('/r', { x: 1 });
    const status = await fetchStatus({ url, name: 'probe' });
    assert.is(status.kind, 'probe');
    assert.is(status.streams['/r']!.seq, 1);
    assert.type(status.uptime, 'number');
  } finally {
    await s.close();
  }
});

test('fetchStatus refuses an answer larger than MAX_STATUS_BYTES (4 MiB), with one line', async () => {
  const big = `{"streams":{},"pad":"${'x'.repeat(MAX_STATUS_BYTES)}"}`;
  const srv = await server((_req, res) => res.end(big));
  try {
    await fetchStatus(srv.found).then(
      () => assert.unreachable('accepted'),
      (err: Error) => assert.match(err.message, /larger than 4194304 bytes/),
    );
  } finally {
    await srv.close();
  }
});

test('fetchStatus gives up after timeoutMs on a server that never answers', async () => {
  const srv = await server(() => {}); // never answers
  try {
    await fetchStatus(srv.found, {}, { timeoutMs: 200 }).then(
      () => assert.unreachable('answered'),
      (err: Error) => assert.match(err.message, /^probe: no answer to GET \/\.well-known\/sketch within 0\.2 s$/),
    );
  } finally {
    srv.server.closeAllConnections();
    await srv.close();
  }
});

test('fetchStatus rejects JSON that is not a sketch status, and a 401 as SKETCH_ERR_UNAUTHORIZED', async () => {
  const srv = await server((req, res) => {
    if (req.headers.authorization) return void res.end('[1,2]');
    res.writeHead(401).end('a key is needed\n');
  });
  try {
    await fetchStatus(srv.found).then(
      () => assert.unreachable('accepted'),
      (err: unknown) => assert.is((err as SketchError).code, 'SKETCH_ERR_UNAUTHORIZED'),
    );
    await fetchStatus(srv.found, { key: 'k'.repeat(32) }).then(
      () => assert.unreachable('accepted'),
      (err: Error) => assert.match(err.message, /^probe answered GET \/\.well-known\/sketch with something that is not a sketch status$/),
    );
  } finally {
    await srv.close();
  }
});

test.run();
