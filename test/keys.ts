import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadKeyFile, newKey, SketchError } from '../runtime/index.js';
import { allows, KEY_BYTES, keyLine, KeyRing, MIN_KEY_CHARS, parseKeys, presentedKey } from '../runtime/security/keys.js';

const W = newKey();
const R = newKey();
const req = (headers: http.IncomingHttpHeaders) => ({ headers }) as http.IncomingMessage;

function failure(fn: () => unknown): SketchError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, SketchError);
    return err as SketchError;
  }
  throw new Error('expected a failure');
}

test('a new key is 256 random bits in base64url, different every time, and keyLine makes a key-file line of it', () => {
  assert.is(KEY_BYTES, 32);
  assert.match(W, /^[A-Za-z0-9_-]{43}$/);
  assert.is(Buffer.from(W, 'base64url').length, 32);
  const many = new Set(Array.from({ length: 1000 }, newKey));
  assert.is(many.size, 1000);
  assert.is(keyLine('write', W), `write ${W}`);
  assert.is(keyLine('read', R, 'kitchen tablet'), `read ${R} kitchen tablet`);
});

test('a key file is parsed line by line: rights, keys, labels, comments and blank lines', () => {
  const keys = parseKeys(`# made with sketch key new\n\nwrite ${W} kitchen tablet\n  read ${R}   # the dashboard\r\n`, 'keys');
  assert.equal(keys, [
    { key: W, right: 'write', label: 'kitchen tablet' },
    { key: R, right: 'read' },
  ]);
});

test('a bad key file line is refused with file:line and what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    [`root ${W}`, /^key file keys:1: expected "read KEY", "write KEY" or "admin KEY", got "root"$/],
    ['write', /^key file keys:1: no key after "write"$/],
    [`\nwrite ${W.slice(0, MIN_KEY_CHARS - 1)}`, /^key file keys:2: the key is 21 characters, fewer than 22 \(128 bits\)/],
    ['write abc+def/ghi=jklmnopqrstuvwxyz', /^key file keys:1: a key may only hold the characters/],
    [`write ${W}\nread ${W}`, /^key file keys:2: this key is already listed above$/],
    ['# nothing\n', /^key file keys: no key in the file: add one with "sketch key new --write >> FILE"$/],
    [`write ${'a'.repeat(513)}`, /^key file keys:1: the key is longer than 512 characters$/],
  ];
  for (const [text, message] of cases) {
    const e = failure(() => parseKeys(text, 'keys'));
    assert.is(e.code, 'SKETCH_ERR_KEY_FILE');
    assert.match(e.message, message);
  }
});

test('a key file readable by others is used, with one warning line saying how to fix it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-keys-'));
  try {
    const file = path.join(dir, 'keys');
    writeFileSync(file, `write ${W}\n`);
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    assert.equal(await loadKeyFile(file, (l) => warnings.push(l)), [{ key: W, right: 'write' }]);
    assert.equal(warnings, [`key file ${file} can be read by others (mode 0644): chmod 600 ${file}`]);
    chmodSync(file, 0o600);
    warnings.length = 0;
    await loadKeyFile(file, (l) => warnings.push(l));
    assert.equal(warnings, []);
    const missing = await loadKeyFile(path.join(dir, 'nope'), () => {}).catch((e: SketchError) => e);
    assert.is((missing as SketchError).code, 'SKETCH_ERR_KEY_FILE');
    assert.match((missing as SketchError).message, /nope: cannot read it \(ENOENT\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the key ring tells each key its right, and nothing for unknown, truncated, extended or empty keys', () => {
  const ring = new KeyRing([
    { key: W, right: 'write' },
    { key: R, right: 'read' },
  ]);
  assert.is(ring.size, 2);
  assert.is(ring.match(W), 'write');
  assert.is(ring.match(R), 'read');
  for (const wrong of [newKey(), W.slice(0, -1), `${W}x`, '', W.toLowerCase(), 'x'.repeat(10_000)]) assert.is(ring.match(wrong), undefined);
});

test('an admin key is parsed, allows what write and read keys do, and the ring gives a key listed twice over its highest right', () => {
  assert.equal(parseKeys(`admin ${W} laptop`, 'keys'), [{ key: W, right: 'admin', label: 'laptop' }]);
  assert.ok(allows('admin', 'write') && allows('admin', 'read') && allows('write', 'read'));
  assert.not.ok(allows('write', 'admin') || allows('read', 'write'));
  const ring = new KeyRing([
    { key: W, right: 'write' },
    { key: W, right: 'admin' },
    { key: R, right: 'read' },
  ]);
  assert.is(ring.match(W), 'admin');
  assert.is(ring.match(R), 'read');
});

test('a key is taken from Authorization: Bearer or a bearer.KEY subprotocol entry, never from elsewhere', () => {
  assert.is(presentedKey(req({ authorization: `Bearer ${W}` })), W);
  assert.is(presentedKey(req({ authorization: `bearer   ${W}  ` })), W);
  assert.is(presentedKey(req({ 'sec-websocket-protocol': `sketchnet.v2, bearer.${R}` })), R);
  assert.is(presentedKey(req({ authorization: `Basic ${W}` })), undefined);
  assert.is(presentedKey(req({ 'sec-websocket-protocol': 'sketchnet.v2' })), undefined);
  assert.is(presentedKey({ headers: {}, url: `/?key=${W}&access_token=${W}` } as http.IncomingMessage), undefined);
});

test('a new key never starts with -, which the CLI would read as an option after --key', () => {
  // 2000 draws: a key starting with '-' would come up with probability 1 − (63/64)^2000 ≈ 1
  assert.ok(Array.from({ length: 2000 }, newKey).every((k) => !k.startsWith('-')));
});

test.run();
