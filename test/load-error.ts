import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { byteColumn, esbuildLocation, excerpt, frameLocation, loadError, nodeSyntaxLocation } from '../bin/load-error.js';

test('the excerpt shows the numbered line and a caret under the column, tabs kept', () => {
  assert.is(excerpt({ file: 'x.ts', line: 4, column: 15, lineText: '    const a = ;' }), '    4 |     const a = ;\n      |               ^');
  assert.is(excerpt({ file: 'x.ts', line: 12, column: 3, lineText: '\t\tx' }), '   12 | \t\tx\n      | \t\t^');
  assert.is(excerpt({ file: 'x.ts', line: 1, column: 1 }), undefined, 'no text, no excerpt');
});

test("esbuild's byte columns become character columns", () => {
  assert.is(byteColumn("'é' x", 5), 4);
  assert.is(byteColumn('abc', 2), 2);
});

test("esbuild's error object with errors[0].location gives the place, the line and the text", async () => {
  const err = Object.assign(new Error('Transform failed with 1 error'), {
    errors: [{ text: 'Unexpected ";"', location: { file: '/s/bad.ts', line: 4, column: 14, lineText: '    const a = ;' } }],
  });
  assert.equal(await esbuildLocation(err), { at: { file: '/s/bad.ts', line: 4, column: 15, lineText: '    const a = ;' }, message: 'Unexpected ";"' });
  assert.is(await esbuildLocation(new Error('something else')), undefined);
});

test("Node's decorated SyntaxError stack gives the place; a SyntaxError thrown at run time does not", () => {
  const compiled = new SyntaxError("Unexpected token ';'");
  compiled.stack = "/s/bad.cjs:4\n    const a = ;\n              ^\n\nSyntaxError: Unexpected token ';'\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)";
  assert.equal(nodeSyntaxLocation(compiled)?.at, { file: '/s/bad.cjs', line: 4, column: 15, lineText: '    const a = ;' });
  let thrown: unknown;
  try {
    JSON.parse('{');
  } catch (err) {
    thrown = err;
  }
  assert.is(nodeSyntaxLocation(thrown), undefined);
});

test('the first stack frame in a file of the user\'s is taken, skipping Node and installed packages', () => {
  const err = new TypeError('boom');
  err.stack = [
    'TypeError: boom',
    '    at helper (/home/me/proj/node_modules/lib/index.js:1:10)',
    '    at node:internal/modules/cjs/loader:1:1',
    '    at <anonymous> (/home/me/proj/sketch.ts:3:6)',
    '    at file:///home/me/proj/other.js:9:2',
  ].join('\n');
  assert.equal(frameLocation(err), { file: '/home/me/proj/sketch.ts', line: 3, column: 6 });
  err.stack = 'TypeError: boom\n    at file:///home/me/proj/esm.js:7:12';
  assert.equal(frameLocation(err), { file: '/home/me/proj/esm.js', line: 7, column: 12 });
});

test('an error with no place in the user\'s files stays a plain SKETCH_ERR_SKETCH_FILE line', async () => {
  const err = await loadError('./x.ts', Object.assign(new Error('Cannot find module ./y'), { stack: 'Error: Cannot find module ./y\n    at node:internal/x:1:1' }));
  assert.is(err.code, 'SKETCH_ERR_SKETCH_FILE');
  assert.is(err.message, 'cannot load sketch file ./x.ts: Cannot find module ./y');
  assert.is(err.detail, undefined);
});

test.run();
