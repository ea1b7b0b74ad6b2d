import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/index.js';
import { originAllowed, parseOrigins } from '../runtime/security/origin.js';

test('requests without an Origin header (programs, the Python original) are always allowed', () => {
  assert.ok(originAllowed(undefined, 'pi.local:8765', []));
});

test('a browser page from anywhere else is refused unless allowed', () => {
  for (const origin of ['http://evil.example', 'http://pi.local:8766', 'http://pi.local', 'null', 'garbage', 'file:///x', 'http://pi.local:8765.evil.example']) {
    assert.not.ok(originAllowed(origin, 'pi.local:8765', []), origin);
  }
});

test('the sketch\'s own origin (same host and port as the Host header) is allowed', () => {
  assert.ok(originAllowed('http://pi.local:8765', 'pi.local:8765', []));
  assert.ok(originAllowed('http://PI.local:8765', 'pi.local:8765', []));
  assert.ok(originAllowed('http://pi.local', 'pi.local:80', []));
  assert.ok(originAllowed('https://pi.local', 'pi.local', []));
  assert.ok(originAllowed('http://[::1]:8765', '[::1]:8765', []));
});

test('--allow-origin values allow exactly those origins; * allows all; null the opaque origin; RegExps match', () => {
  const rules = parseOrigins(['http://Dashboard.local:8080/some/path', 'null']);
  assert.equal(rules, ['http://dashboard.local:8080', 'null']);
  assert.ok(originAllowed('http://dashboard.local:8080', 'pi.local:8765', rules));
  assert.ok(originAllowed('null', 'pi.local:8765', rules));
  assert.not.ok(originAllowed('http://dashboard.local:8081', 'pi.local:8765', rules));
  assert.ok(originAllowed('http://anything.example', 'pi.local:8765', parseOrigins(['*'])));
  assert.ok(originAllowed('https://a.example.org', 'pi.local:8765', [/^https:\/\/[a-z]+\.example\.org$/]));
  assert.not.ok(originAllowed('https://a.example.org.evil', 'pi.local:8765', [/^https:\/\/[a-z]+\.example\.org$/]));
});

test('a bad --allow-origin value is a usage error naming what is accepted', () => {
  for (const bad of ['pi.local:8080', 'ftp://x', '']) {
    try {
      parseOrigins([bad]);
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.is((err as SketchError).exitCode, 2);
      assert.match((err as SketchError).message, /^--allow-origin must be an http\(s\) origin like http:\/\/pi\.local:8080, "null" or "\*"; got /);
    }
  }
});

test.run();
