import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLag, formatRate, formatUptime, lsTable, mergeFound, statusNotes, watchTable, type LsEntry } from '../bin/ls-table.js';
import type { FoundSketch, SketchStatus, StreamStatus } from '../runtime/index.js';

function found(name: string, kind: string, port: number, streams: string[] = []): FoundSketch {
  return { name, kind, address: '127.0.0.1', addresses: [], port, protocol: '3', streams, host: 'pi.local', url: `ws://127.0.0.1:${port}/`, tls: false, txt: {} };
}

function stream(over: Partial<StreamStatus> = {}): StreamStatus {
  return {
    seq: 120,
    epoch: 'E1',
    delivery: 'latest',
    history: { items: 120, bytes: 9000, oldestTime: 1, firstSeq: 1, maxItems: 1000, maxBytes: 1 << 20, maxAgeSeconds: null },
    rate: 10.04,
    interval: { mean: 0.1, jitter: 0.001 },
    lag: { mean: 0.0004, p99: 0.002 },
    drops: 3,
    closedSlow: 0,
    subscribers: [],
    ...over,
  };
}

function status(name: string, over: Partial<SketchStatus> = {}): SketchStatus {
  return { name, kind: 'x', protocol: 3, uptime: 75, acknowledges: true, connections: {}, streams: {}, ...over };
}

const thermometer: LsEntry = {
  found: found('thermometer', 'thermometer', 40001, ['/readings']),
  status: status('thermometer', { uptime: 3725, connections: { '/readings': 2, '/': 1 }, streams: { '/readings': stream(), '/alerts': stream({ seq: 0, rate: 0, lag: { mean: null, p99: null }, drops: 0 }) } }),
  up: true,
};
const iopin: LsEntry = { found: found('iopin', 'iopin', 40002), status: status('iopin', { uptime: 12 }), up: true };
const silent: LsEntry = { found: found('old', 'clock', 40003, ['/ticks']), status: null, up: false, why: 'old: no answer to GET /.well-known/sketch within 2 s' };

test('mergeFound: one entry per name (case-insensitive), mDNS first with VIA mdns or mdns+broker, then the broker-only ones by name', () => {
  const onBroker = (name: string, kind: string): FoundSketch => ({ ...found(name, kind, 0), address: '', port: 0, url: '', host: '', via: 'broker' });
  const merged = mergeFound([found('thermometer', 'thermometer', 40001), found('iopin', 'iopin', 40002)], [onBroker('zeta', 'clock'), onBroker('IOPIN', 'iopin'), onBroker('alpha', 'buzzer')]);
  assert.equal(merged.map((e) => [e.found.name, e.via, e.found.port]), [
    ['thermometer', 'mdns', 40001],
    ['iopin', 'mdns+broker', 40002],
    ['alpha', 'broker', 0],
    ['zeta', 'broker', 0],
  ]);
  assert.ok(merged.every((e) => e.status === null && !e.up));
});

test('lsTable: a VIA column last when entries say how they were found; a broker presence without an address shows -', () => {
  const broker: LsEntry = { found: { ...found('far', 'clock', 0, ['/ticks']), address: '', port: 0, url: '' }, via: 'broker', status: null, up: false };
  const lines = lsTable([{ ...iopin, via: 'mdns+broker' }, broker]);
  assert.match(lines[0]!, /^NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS\s+UPTIME\s+CONNECTIONS\s+VIA$/);
  assert.match(lines[1]!, /^iopin\s+iopin\s+127\.0\.0\.1\s+40002\s+3\s+-\s+12s\s+0\s+mdns\+broker$/);
  assert.match(lines[2]!, /^far\s+clock\s+-\s+-\s+3\s+\/ticks\s+\?\s+\?\s+broker$/);
  assert.not.match(lsTable([iopin])[0]!, /VIA/, 'no broker asked: no VIA column');
});

test('formatUptime shows the two largest units', () => {
  assert.equal([0, 45.9, 65, 3725, 90061].map(formatUptime), ['0s', '45s', '1m5s', '1h2m', '1d1h']);
});

test('formatLag and formatRate show units, and - when unknown', () => {
  assert.equal([0.0004, 0.012, 1.5, null].map(formatLag), ['0.4ms', '12ms', '1.5s', '-']);
  assert.equal([10.04, 0, null].map(formatRate), ['10.0/s', '0.0/s', '-']);
});

test('lsTable: one row per sketch with uptime, connections (every path together) and every stream of its status', () => {
  const lines = lsTable([iopin, thermometer]);
  assert.match(lines[0]!, /^NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS\s+UPTIME\s+CONNECTIONS$/);
  assert.match(lines[1]!, /^iopin\s+iopin\s+127\.0\.0\.1\s+40002\s+3\s+-\s+12s\s+0$/);
  assert.match(lines[2]!, /^thermometer\s+thermometer\s+127\.0\.0\.1\s+40001\s+3\s+\/readings,\/alerts\s+1h2m\s+3$/);
  assert.is(lines.length, 3);
  // columns line up: every row starts its KIND where the header does
  const at = lines[0]!.indexOf('KIND');
  for (const l of lines.slice(1)) assert.is(l.slice(at).split(/\s/)[0], l.includes('thermometer') ? 'thermometer' : 'iopin');
});

test('lsTable: a sketch whose status does not answer still shows, with ?; statusNotes says why', () => {
  const lines = lsTable([silent, iopin]);
  assert.is(lines.length, 3);
  assert.match(lines[1]!, /^old\s+clock\s+127\.0\.0\.1\s+40003\s+3\s+\/ticks\s+\?\s+\?$/);
  assert.equal(statusNotes([silent, iopin]), ['old: no status (no answer to GET /.well-known/sketch within 2 s)']);
});

test('statusNotes stops after max lines and counts the rest', () => {
  const many = Array.from({ length: 5 }, (_, i) => ({ ...silent, found: found(`s${i}`, 'x', 1), why: 'refused' }));
  assert.equal(statusNotes(many, 2), ['s0: no status (refused)', 's1: no status (refused)', '… and 3 more without status']);
});

test('watchTable: one row per stream with seq, rate, lag and drops; the sketch columns on its first row only', () => {
  const lines = watchTable([iopin, thermometer]);
  assert.match(lines[0]!, /^NAME\s+KIND\s+STATE\s+UPTIME\s+CONNS\s+STREAM\s+SEQ\s+RATE\s+LAG\s+DROPS$/);
  assert.match(lines[1]!, /^iopin\s+iopin\s+up\s+12s\s+0\s+-$/);
  assert.match(lines[2]!, /^thermometer\s+thermometer\s+up\s+1h2m\s+3\s+\/readings\s+120\s+10\.0\/s\s+0\.4ms\s+3$/);
  assert.match(lines[3]!, /^\s+\/alerts\s+0\s+0\.0\/s\s+-\s+0$/);
  assert.is(lines[3]!.indexOf('/alerts'), lines[2]!.indexOf('/readings'));
});

test('watchTable: a sketch gone down keeps its last seq and drops, loses rate and lag, and gets a footnote', () => {
  const down: LsEntry = { ...thermometer, up: false, why: 'thermometer: no answer to GET /.well-known/sketch within 2 s' };
  const lines = watchTable([down]);
  assert.match(lines[1]!, /^thermometer\s+thermometer\s+down\s+-\s+3\s+\/readings\s+120\s+-\s+-\s+3$/);
  assert.is(lines.at(-1), '? thermometer: down (no answer to GET /.well-known/sketch within 2 s)');
});

test('names and paths from the network reach the table escaped: no control character', () => {
  const evil: LsEntry = { found: found('a\x1b[2Jb', 'k\nind', 1), status: status('x', { streams: { '/r\x07': stream() } }), up: true };
  for (const l of [...lsTable([evil]), ...watchTable([evil])]) assert.not.match(l, /[\x00-\x1f]/);
});

test.run();
