import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES, errors, SketchError } from '../runtime/index.js';

const API = readFileSync(new URL('../docs/API.md', import.meta.url), 'utf8');
const table = API.slice(API.lastIndexOf('## Errors'));
const documented = new Map([...table.matchAll(/^\| `(SKETCH_ERR_[A-Z_0-9]+)` \| (\d) \|/gm)].map((m) => [m[1]!, Number(m[2])]));

test('every registered error code is in docs/API.md with its exit status, and nothing else is', () => {
  for (const [code, exit] of Object.entries(ERROR_CODES)) assert.is(documented.get(code), exit, `${code} in docs/API.md`);
  assert.equal([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
});

test('every error constructor builds a one-line SketchError with a registered code', () => {
  const samples: SketchError[] = [
    errors.INVALID_OPTION('x'),
    errors.UNKNOWN_SKETCH('x', ['clock']),
    errors.PEER_NOT_FOUND('x', 5),
    errors.PEER_UNREACHABLE('x', 'gone'),
    errors.CLOSED('x'),
  ];
  for (const e of samples) {
    assert.instance(e, SketchError);
    assert.ok(e.code in ERROR_CODES);
    assert.not.match(e.message, /\n/);
  }
  assert.is(Object.keys(errors).length, Object.keys(ERROR_CODES).length, 'one constructor per code');
});

test.run();
