import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from './helpers/net.js';

function getJson(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('sketch demo --dashboard starts the circuit, a thermometer, a recorder and the dashboard, prints the URL, and on Ctrl-C stops them all and deletes its database', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'demo-test-'));
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const demo = cli(['demo', '--dashboard', '--port', String(port), '--gpio', 'virtual'], { TMPDIR: tmp });
  try {
    await demo.waitFor(new RegExp(`the dashboard is at http://localhost:${port}/`), 30_000);
    const page = await getJson(`http://127.0.0.1:${port}/`);
    assert.is(page.status, 200);
    assert.match(page.body, /<html/i);
    const wanted = ['buzzer', 'clock', 'iopin', 'recorder', 'thermometer'];
    let kinds: string[] = [];
    for (const t0 = Date.now(); Date.now() - t0 < 15_000; await new Promise((r) => setTimeout(r, 250))) {
      const { sketches } = JSON.parse((await getJson(`http://127.0.0.1:${port}/api/sketches`)).body) as { sketches: Array<{ kind: string }> };
      kinds = [...new Set(sketches.map((s) => s.kind))].sort();
      if (wanted.every((k) => kinds.includes(k))) break;
    }
    assert.equal(kinds, wanted, 'every sketch of the demo is on the dashboard');
    assert.equal(readdirSync(tmp).filter((f) => f.startsWith('sketch-demo-')).length, 1, 'one temporary database folder');
    demo.child.kill('SIGINT');
    assert.is(await demo.exited(15_000), 0);
    assert.equal(readdirSync(tmp).filter((f) => f.startsWith('sketch-demo-')), [], 'the temporary database is deleted');
  } finally {
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
