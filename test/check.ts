import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkFiles, checkOptions, loadTypeScript } from '../bin/check.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/check/', import.meta.url));

test('the compiler options are strict, NodeNext, standard decorators, sketchnet mapped to its own types', async () => {
  const ts = await loadTypeScript(os.tmpdir()); // none in the temporary folder: the one beside sketchnet
  const o = checkOptions(ts);
  assert.is(o.strict, true);
  assert.is(o.experimentalDecorators, false);
  assert.is(o.module, ts.ModuleKind.NodeNext);
  assert.is(o.moduleResolution, ts.ModuleResolutionKind.NodeNext);
  assert.match(String(o.paths?.sketchnet?.[0]), /runtime[\\/]index\.(d\.)?ts$/);
});

test('checkFiles: no lines for the README thermostat, one file:line:col line per error otherwise, relative to cwd', async () => {
  const ts = await loadTypeScript();
  assert.equal(checkFiles(ts, ['thermostat.ts'], FIXTURES), []);
  const lines = checkFiles(ts, [path.join(FIXTURES, 'loop-type-error.ts')], FIXTURES);
  assert.equal(lines, ["loop-type-error.ts:14:11 error TS2322: Type 'string' is not assignable to type 'number'."]);
  // A fresh directory is never an ancestor of the fixtures (os.tmpdir() is, when the tree itself lives in /tmp, as in CI's copies).
  const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'check-cwd-'));
  const outside = checkFiles(ts, [path.join(FIXTURES, 'loop-type-error.ts')], elsewhere);
  rmSync(elsewhere, { recursive: true, force: true });
  assert.ok(outside[0]!.startsWith(`${path.join(FIXTURES, 'loop-type-error.ts')}:14:11 `), outside[0]);
});

test.run();
