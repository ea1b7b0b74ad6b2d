import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
// @ts-expect-error: a plain ES module of the build (scripts/), without declarations
import { NARROW_RANGES, narrowWidth } from '../scripts/narrow-width.mjs';

type Width = (text: string, options?: { ambiguousIsNarrow?: boolean }) => number;
const narrow = narrowWidth as (text: unknown, options?: { ambiguousIsNarrow?: boolean }) => number | undefined;
const ranges = NARROW_RANGES as [number, number][];

/** Every copy of string-width installed (top-level and nested: cliui's, wrap-ansi's), which the bundle may wrap. */
async function stringWidths(): Promise<[string, Width][]> {
  const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules');
  const dirs = [path.join(modules, 'string-width'), ...readdirSync(modules).map((d) => path.join(modules, d, 'node_modules', 'string-width'))];
  const found = dirs.filter((d) => existsSync(path.join(d, 'package.json')));
  return Promise.all(found.map(async (d) => [d, ((await import(pathToFileURL(path.join(d, 'index.js')).href)) as { default: Width }).default] as [string, Width]));
}

test('every code point the bundle measures without string-width has the width string-width gives it', async () => {
  const widths = await stringWidths();
  assert.ok(widths.length >= 2, widths.map(([f]) => f).join(', ')); // top-level and cliui's, at least
  for (const [file, width] of widths) {
    for (const [from, to] of ranges) {
      for (let cp = from; cp <= to; cp++) {
        const ch = String.fromCodePoint(cp);
        assert.is(narrow(ch), 1, `U+${cp.toString(16)}`);
        assert.is(width(ch), 1, `${file}: U+${cp.toString(16)}`);
      }
    }
  }
});

test('strings of those characters measure as string-width measures them; anything else is left to string-width', async () => {
  const widths = await stringWidths();
  const inRanges = fc.string({ unit: fc.oneof(...ranges.map(([a, b]) => fc.integer({ min: a, max: b }).map((cp) => String.fromCodePoint(cp)))) });
  fc.assert(
    fc.property(inRanges, (s) => widths.every(([, width]) => narrow(s) === width(s))),
    { numRuns: 500 },
  );
  for (const s of ['\u001b[31mred\u001b[39m', '漢字', 'e\u0301', 'soft\u00adhyphen', '👍', 'tab\there', 'zero\u200bwidth']) {
    assert.is(narrow(s), undefined, JSON.stringify(s));
  }
  assert.is(narrow('→', { ambiguousIsNarrow: false }), undefined, 'ambiguous characters counted wide: string-width decides');
  assert.is(narrow(42), undefined);
});

test.run();
