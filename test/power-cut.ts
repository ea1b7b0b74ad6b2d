/**
 * A whole device killed mid-write, 20 times: `sketch up` running a 100 Hz thermometer and a
 * recorder, SIGKILLed at a random moment and started again each time. Real processes, real mDNS,
 * in the sandbox.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../runtime/recorder/sqlite.js';
import { cli, sleep } from './helpers/net.js';
import { scaled } from './helpers/time-scale.js';

const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const KILLS = 20;

test(`sketch up with a 100 Hz thermometer and a recorder, SIGKILLed ${KILLS} times: the database opens, integrity_check ok, every stored range contiguous or a gap row`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'power-cut-'));
  const db = join(dir, 'r.db');
  const file = join(dir, 'sketchnet.yaml');
  writeFileSync(
    file,
    `sketches:\n  - kind: thermometer\n    name: therm-${id}\n    sensor: simulated\n    interval: 0.01\n  - kind: recorder\n    name: rec-${id}\n    db: ${db}\n    rescan: 1\n    flush: 0.1\n`,
  );
  let recorded = 0;
  for (let k = 0; k < KILLS; k++) {
    const up = cli(['up', file]);
    await up.waitFor(new RegExp(`therm-${id}/readings: (recording|restarted)`), scaled(20_000));
    await sleep(200 + Math.random() * 800); // mid-write: batches every 100 ms (flush: 0.1)
    up.child.kill('SIGKILL');
    await up.exited();
    const d = openDatabase(db, { fileMustExist: true });
    assert.is(d.pragma('integrity_check', { simple: true }), 'ok', `after kill ${k + 1}`);
    recorded = (d.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
    d.close();
  }
  const d = openDatabase(db, { readonly: true, fileMustExist: true });
  const rows = d.prepare('SELECT epoch, seq FROM items WHERE stream = ? ORDER BY epoch, seq').all('/readings') as Array<{ epoch: string; seq: number }>;
  const gaps = d.prepare('SELECT epoch, from_seq AS "from", to_seq AS "to" FROM gaps').all() as Array<{ epoch: string; from: number; to: number }>;
  const epochs = new Set(rows.map((r) => r.epoch));
  assert.is(epochs.size, KILLS, 'one epoch per run of the thermometer');
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if (a.epoch !== b.epoch || b.seq === a.seq + 1) continue;
    assert.ok(gaps.some((g) => g.epoch === a.epoch && g.from <= a.seq + 1 && g.to >= b.seq - 1), `seq ${a.seq} → ${b.seq} in ${a.epoch} without a gap row`);
  }
  assert.ok(recorded > KILLS * 10, `${recorded} rows`);
  d.close();
});

test.run();
