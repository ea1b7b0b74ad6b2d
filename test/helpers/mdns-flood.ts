/**
 * A hostile mDNS responder, run as its own process by test/discovery-robustness.ts:
 *
 *   node --import tsx test/helpers/mdns-flood.ts [--count 10000] [--source 127.0.0.2] [--pause 200]
 *
 * Announces `count` bogus `_sketch._tcp` services again and again (a round every `pause` ms,
 * plus one at once for every query for `_sketch._tcp.local`) from `source` (an address of
 * its own, as another host would), with garbage TXT records — bytes that are not UTF-8,
 * 255-byte strings, `streams=` with junk, no `kind`, thousands of keys, keys like
 * `__proto__` — names with control characters, labels too long to decode, goodbyes, and
 * packets that are not DNS at all. Prints `round N` after each round.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import makeMdns from 'multicast-dns';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    source: { type: 'string', default: '127.0.0.2' },
    pause: { type: 'string', default: '200' },
    'per-packet': { type: 'string', default: '25' },
  },
});
const count = Number(values.count);
const pause = Number(values.pause);
const perPacket = Number(values['per-packet']);

const SERVICE = '_sketch._tcp.local';
const b = (text: string) => Buffer.from(text, 'latin1');

/** Services with thousands of TXT keys: every 40th, each alone in its packet. */
const isHuge = (i: number) => i % 40 === 4;

/** The TXT record of bogus service `i`: eight kinds of garbage in turn. */
function txtOf(i: number): Buffer[] {
  if (isHuge(i)) return Array.from({ length: 2000 }, (_, j) => b(`k${j}=${j}`)); // thousands of keys
  switch (i % 8) {
    case 0: // not UTF-8
      return [b('kind=\xff\xfe\xc0\x80'), Buffer.from([0xc0, 0x80, 0x3d, 0xed, 0xa0, 0x80]), Buffer.from([0xff]), b('protocol=\x80')];
    case 1: // 255-byte strings, the longest a TXT string can be
      return [Buffer.alloc(255, 'k'), Buffer.concat([b('kind='), Buffer.alloc(250, 0xff)]), Buffer.concat([b('streams='), Buffer.alloc(247, ',')])];
    case 2: // streams= with junk
      return [b('kind=iopin'), b('protocol=2'), b('streams=,,, ,no-slash,/ok,\x00/nul,\x1b[2J,//,/a,b'), b('streams=/second-is-ignored')];
    case 3: // no kind
      return [b('protocol=2'), b('streams=/readings')];
    case 4: // a key with an empty value, and one with "=" in its value
      return [b('kind='), b('protocol=2=2')];
    case 5: // keys no parser should trust
      return [b('=novalue'), b('__proto__=polluted'), b('constructor=x'), b('KIND=upper'), b('kind=second'), Buffer.from([0x01, 0x3d, 0x41]), b('flag'), Buffer.alloc(0)];
    case 6: // looks like a real sketch
      return [b('kind=iopin'), b('protocol=2')];
    default: // none at all
      return [];
  }
}

/** The instance name of bogus service `i`: mostly plain, some with control characters or a label too long to decode. */
function nameOf(i: number): string {
  switch (i % 50) {
    case 7:
      return `evil\x1b[2J\x1b]0;pwned\x07-${i}`;
    case 8:
      return `line\nbreak\u2028-${i}`;
    case 9:
      return `\u202eright-to-left-${i}`;
    case 10:
      return `${'x'.repeat(70)}-${i}`; // a 70-byte label: the length byte reads as a compression pointer
    default:
      return `bogus-${i}`;
  }
}

function recordsOf(i: number): object[] {
  const fqdn = `${nameOf(i)}.${SERVICE}`;
  const target = `h${i}.local`;
  const goodbye = i % 97 === 0;
  return [
    { name: SERVICE, type: 'PTR', ttl: goodbye ? 0 : 120, data: fqdn },
    { name: fqdn, type: 'SRV', ttl: 120, data: { target, port: 1 + (i % 65535), priority: 0, weight: 0 } },
    { name: fqdn, type: 'TXT', ttl: 120, data: txtOf(i) },
    { name: target, type: 'A', ttl: 120, data: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
  ];
}

/** Packets that are not DNS, or that lie about their own lengths. */
const RAW = [
  Buffer.alloc(3),
  Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 10, 0, 0, 0, 0]), // ten answers announced, none there
  Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c, 0, 12, 0, 1, 0, 0, 0, 120, 0, 2, 0xc0, 0x0c]), // a name pointing at itself
  Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 120, 0xff, 0xff, 5, 0x41]), // TXT rdlength past the end
  Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 131 + 7) & 255)),
];

const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((resolve) => socket.bind(0, values.source, resolve));
socket.setMulticastTTL(255);
const sender = makeMdns({ socket, bind: false, multicast: false });
sender.on('warning', () => {});
sender.on('error', () => {});

const send = (answers: object[]) =>
  new Promise<void>((resolve) => {
    try {
      sender.respond({ answers }, () => resolve());
    } catch {
      resolve(); // a record this encoder will not write: skip it
    }
  });
const sendRaw = (buf: Buffer) => new Promise<void>((resolve) => socket.send(buf, 5353, '224.0.0.251', () => resolve()));

let busy = false;
async function round(): Promise<void> {
  if (busy) return;
  busy = true;
  let batch: object[] = [];
  for (let i = 0; i < count; i++) {
    // Alone in its packet: a huge TXT record, and the escape-sequence names, which must reach the
    // browser whatever else is in the round (a label no decoder reads, every 50th, makes a decoder
    // drop the whole packet it is in, neighbours included: that stays, it is part of the flood).
    if (isHuge(i) || i % 50 === 7) await send(recordsOf(i));
    else batch.push(...recordsOf(i));
    if (batch.length >= perPacket * 4) {
      await send(batch);
      batch = [];
    }
  }
  if (batch.length) await send(batch);
  for (const raw of RAW) await sendRaw(raw);
  busy = false;
}

const listener = makeMdns();
listener.on('warning', () => {});
listener.on('query', (q: { questions?: Array<{ name: string }> }) => {
  if (q.questions?.some((x) => x.name.toLowerCase() === SERVICE)) void round();
});

let n = 0;
for (;;) {
  const started = Date.now();
  await round();
  console.log(`round ${++n} (${count} services in ${Date.now() - started} ms)`);
  await new Promise((r) => setTimeout(r, pause));
}
