/**
 * The recorder on a full disk, for real: its database on a 600 KiB tmpfs mounted in a mount
 * namespace of its own (`unshare --mount`; root, in the sandbox), a thermometer at 200 Hz; the
 * disk fills, then grows (`nsenter … mount -o remount,size=8m`). Skipped without root or unshare.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../runtime/recorder/sqlite.js';
import { cli, sleep, SKETCH_BIN } from './helpers/net.js';

const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const can = process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0 && spawnSync('nsenter', ['--version']).status === 0;

interface RecorderStatus {
  recorder: { storage: string; written: number; unstored: number; freeBytes: number | null };
}

test('a recorder whose disk fills keeps running and answering, says storage full, and resumes without a silent hole once the disk grows', async () => {
  if (!can) return console.log('  skipped: needs root, unshare and nsenter (a tmpfs in a mount namespace)');
  const dir = mkdtempSync(join(tmpdir(), 'full-disk-'));
  const db = join(dir, 'r.db');
  const copy = join(mkdtempSync(join(tmpdir(), 'full-disk-copy-')), 'r.db');
  const therm = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.005', '--name', `therm-${id}`, '--host', '127.0.0.1']);
  // sh stays (no exec) and sleeps after the recorder ends: the namespace, and its tmpfs with the
  // database, outlive the recorder long enough to copy the file out.
  const script = `mount -t tmpfs -o size=600k tmpfs '${dir}' && '${process.execPath}' '${SKETCH_BIN}' run recorder --db '${db}' --name 'rec-${id}' --rescan 1 --host 127.0.0.1; sleep 60`;
  const rec = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: 'pipe' });
  let out = '';
  rec.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  rec.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    let port = 0;
    for (let i = 0; i < 200 && !port; i++) {
      port = Number(/serving on [^:]+:(\d+)/.exec(out)?.[1] ?? 0);
      await sleep(50);
    }
    assert.ok(port, out);
    const status = async () => (await (await fetch(`http://127.0.0.1:${port}/.well-known/sketch`)).json()) as RecorderStatus;
    let s = await status();
    for (let i = 0; i < 600 && s.recorder.storage === 'ok'; i++) {
      await sleep(100);
      s = await status();
    }
    assert.is(s.recorder.storage, 'full', out);
    assert.match(out, /the disk is full \(\d+ bytes free\)/);
    assert.is(rec.exitCode, null, 'still running');
    const recorded = await fetch(`http://127.0.0.1:${port}/recorded`);
    assert.is(recorded.status, 200, 'still answering from what it has');
    const writtenWhenFull = s.recorder.written;
    await sleep(6000); // longer than the thermometer's history holds at 200 Hz (1000 items, 5 s): some items are gone for good

    assert.is(spawnSync('nsenter', ['-t', String(rec.pid), '-m', 'mount', '-o', 'remount,size=8m', dir]).status, 0, 'the disk grows');
    for (let i = 0; i < 300 && (s.recorder.storage !== 'ok' || s.recorder.written <= writtenWhenFull + 200); i++) {
      await sleep(100);
      s = await status();
    }
    assert.is(s.recorder.storage, 'ok', out);
    assert.ok(s.recorder.written > writtenWhenFull + 200, `written ${writtenWhenFull} → ${s.recorder.written}`);
    assert.match(out, /takes writes again/);
    // Stop the recorder (sh's child) cleanly, then copy its database out of the namespace.
    const node = Number(readFileSync(`/proc/${rec.pid}/task/${rec.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    process.kill(node, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(`/proc/${node}`); i++) await sleep(50);
    assert.is(spawnSync('nsenter', ['-t', String(rec.pid), '-m', 'cp', db, copy]).status, 0, 'the database copied out');
  } finally {
    therm.child.kill('SIGTERM');
    rec.kill('SIGKILL');
    await Promise.all([therm.exited(), new Promise((r) => (rec.exitCode !== null ? r(0) : rec.once('exit', r)))]);
  }
  // Within the epoch, every stored range is contiguous or has a gap row for what is missing.
  const database = openDatabase(copy, { readonly: true, fileMustExist: true });
  assert.is(database.pragma('integrity_check', { simple: true }), 'ok');
  const rows0 = database.prepare('SELECT count(*) AS n FROM items').get() as { n: number };
  assert.ok(rows0.n > 500, `${rows0.n} rows`);
  const rows = database.prepare('SELECT epoch, seq FROM items WHERE stream = ? ORDER BY epoch, seq').all('/readings') as Array<{ epoch: string; seq: number }>;
  const gaps = database.prepare('SELECT epoch, from_seq AS "from", to_seq AS "to" FROM gaps').all() as Array<{ epoch: string; from: number; to: number }>;
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if (a.epoch !== b.epoch || b.seq === a.seq + 1) continue;
    assert.ok(gaps.some((g) => g.epoch === a.epoch && g.from <= a.seq + 1 && g.to >= b.seq - 1), `seq ${a.seq} → ${b.seq} without a gap row`);
  }
  assert.ok(gaps.some((g) => g.epoch === rows.at(-1)!.epoch), 'what the thermometer no longer held is a recorded gap');
  database.close();
});

test.run();
