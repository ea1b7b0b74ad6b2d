import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/index.js';
import { parsePeerAddress } from '../runtime/net/address.js';

/** The target a written peer comes to (what Peer and `--to` get). */
const target = (text: string) => parsePeerAddress(text).target;

test('ws:// and wss:// URLs are kept as written, path and query string included', () => {
  assert.is(target('ws://127.0.0.1:8765'), 'ws://127.0.0.1:8765');
  assert.is(target('wss://buzzer.local:8765/door?x=1'), 'wss://buzzer.local:8765/door?x=1');
  const a = parsePeerAddress('WS://h:1/readings');
  assert.is(a.kind, 'url');
  assert.is(a.kind === 'url' && a.url.pathname, '/readings');
});

test('http:// is read as ws:// and https:// as wss://', () => {
  assert.is(target('http://127.0.0.1:8765'), 'ws://127.0.0.1:8765');
  assert.is(target('http://localhost:8765/'), 'ws://localhost:8765/');
  assert.is(target('HTTPS://buzzer.example:443/door'), 'wss://buzzer.example:443/door');
});

test('HOST:PORT (a name, an IPv4 or a bracketed IPv6 address) is a ws:// URL, path kept', () => {
  assert.is(target('127.0.0.1:8765'), 'ws://127.0.0.1:8765');
  assert.is(target('localhost:8765'), 'ws://localhost:8765');
  assert.is(target('raspberrypi.local:8765/readings'), 'ws://raspberrypi.local:8765/readings');
  assert.is(target('[::1]:8765'), 'ws://[::1]:8765');
  const a = parsePeerAddress('127.0.0.1:8765/readings?last=2');
  assert.is(a.kind === 'url' && a.url.search, '?last=2');
});

test('a trailing .local, or the whole service instance name, is stripped from an instance name', () => {
  assert.equal(parsePeerAddress('iopin.local'), { kind: 'name', name: 'iopin', target: 'iopin' });
  assert.is(target('iopin.local.'), 'iopin');
  assert.is(target('Kitchen.LOCAL'), 'Kitchen');
  assert.is(target('iopin._sketch._tcp.local'), 'iopin');
  assert.is(target('thermometer (2)'), 'thermometer (2)', 'any other name is kept as written');
  assert.is(target('my.local.sketch'), 'my.local.sketch', 'only a trailing .local goes');
});

test('another scheme, a bad port, a bare IPv4 address or nothing at all is a usage error (exit 2) saying what to write', () => {
  for (const [text, pattern] of [
    ['ftp://h:21', /ftp:\/\/ is not supported; give an instance name, HOST:PORT, or a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/],
    ['h:0', /port 0 in h:0 is not a TCP port: use 1 to 65535/],
    ['h:65536', /port 65536 in h:65536 is not a TCP port/],
    ['192.168.1.20', /192\.168\.1\.20 is an address without a port: write 192\.168\.1\.20:PORT/],
    ['http://', /not a valid URL: http:\/\//],
    ['.local', /no peer named in "\.local"/],
    ['', /no peer named/],
  ] as const) {
    try {
      parsePeerAddress(text);
      assert.unreachable(`${text} was accepted`);
    } catch (err) {
      assert.instance(err, SketchError, text);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.is((err as SketchError).exitCode, 2);
      assert.match((err as SketchError).message, pattern);
    }
  }
});

test.run();
