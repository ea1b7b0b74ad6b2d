import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { csvField } from '../bin/export.js';
import { RecordStore } from '../runtime/recorder/store.js';
import { runCli, SKETCH_BIN } from './helpers/net.js';

const T0 = 1_763_737_200;
const dir = mkdtempSync(path.join(os.tmpdir(), 'recorder-export-'));
const db = path.join(dir, 'export.sqlite');
{
  const s = new RecordStore({ file: db });
  for (let i = 1; i <= 3000; i++) {
    s.add({ sketch: 'thermometer', kind: 'thermometer', stream: '/readings', epoch: 'E1', seq: i, time: T0 + i / 10, published: T0 + i / 10, received: T0 + i / 10, data: JSON.stringify({ temperature: 21 + i / 1000, unit: '°C' }) });
  }
  s.add({ sketch: 'note, "quoted"', kind: 'k', stream: '/text', epoch: 'E9', seq: 1, time: T0 + 1.05, published: T0 + 2, received: T0 + 3, data: JSON.stringify('line one\nline "two", three') });
  s.close();
}
const lines = (t: string, sep = '\n') => t.split(sep).filter((l) => l !== '');

test('CSV fields are quoted as RFC 4180 says: commas, quotes and line breaks in quotes, quotes doubled', () => {
  assert.is(csvField('plain'), 'plain');
  assert.is(csvField(1.5), '1.5');
  assert.is(csvField('a,b'), '"a,b"');
  assert.is(csvField('say "hi"'), '"say ""hi"""');
  assert.is(csvField('two\nlines'), '"two\nlines"');
});

test('sketch export --format csv prints a header and one CRLF record per item, oldest first, filtered by sketch and time', async () => {
  const r = await runCli(['export', '--db', db, '--sketch', 'thermometer', '--since', String(T0 + 1), '--until', new Date((T0 + 2) * 1000).toISOString(), '--format', 'csv']);
  assert.is(r.code, 0, r.stderr);
  const rows = lines(r.stdout, '\r\n');
  assert.is(rows[0], 'sketch,kind,stream,epoch,seq,time,published,received,data');
  assert.is(rows.length, 1 + 11, 'seq 10 … 20');
  assert.match(rows[1]!, /^thermometer,thermometer,\/readings,E1,10,1763737201,1763737201,1763737201,"\{""temperature"":21\.01,""unit"":""°C""\}"$/);
});

test('sketch export --format ndjson prints one JSON object per item with data as a value, and quotes odd text right in CSV', async () => {
  const r = await runCli(['export', '--db', db, '--stream', '/text', '--format', 'ndjson']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(lines(r.stdout).map((l) => JSON.parse(l)), [
    { sketch: 'note, "quoted"', kind: 'k', stream: '/text', epoch: 'E9', seq: 1, time: T0 + 1.05, published: T0 + 2, received: T0 + 3, data: 'line one\nline "two", three' },
  ]);
  const csv = await runCli(['export', '--db', db, '--stream', '/text']);
  assert.ok(csv.stdout.endsWith('\r\n'));
  assert.match(csv.stdout, /\r\n"note, ""quoted""",k,\/text,E9,1,/);
  assert.match(csv.stdout, /,"""line one\\nline \\""two\\"", three"""\r\n$/);
});

test('sketch export | head ends quietly with exit 0 (EPIPE)', async () => {
  const child = spawn(`${JSON.stringify(process.execPath)} ${JSON.stringify(SKETCH_BIN)} export --db ${JSON.stringify(db)} --format ndjson | head -2; echo "exit \${PIPESTATUS[0]}" >&2`, { shell: '/bin/bash' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  await new Promise((r) => child.once('exit', r));
  assert.is(lines(out).length, 2);
  assert.is(err.trim(), 'exit 0');
});

test('a missing database or a bad --since is one line and a non-zero exit', async () => {
  const missing = await runCli(['export', '--db', path.join(dir, 'none.sqlite')]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /^sketch: recorder database \S+none\.sqlite: no such file; [^\n]*\n$/);
  const bad = await runCli(['export', '--db', db, '--since', 'yesterday']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /^sketch: --since must be seconds since the epoch or an ISO 8601 date\/time, got "yesterday"\n$/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
