import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/index.js';
import { addonError } from '../runtime/addon.js';
import { ROOT } from './helpers/child.js';
import { cli, runCli, SKETCH_BIN } from './helpers/net.js';
import { noNodeReason, otherNodes } from './helpers/nodes.js';

const BUILD_TOOLS = '(needs build tools: sudo apt install python3 make g++)';
const made: string[] = [];
/** A fresh temporary directory, removed after the last test. */
const tmp = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A package `gadget` in DIR/node_modules whose compiled addon is not a shared object at all. */
function brokenGadget(): string {
  const dir = tmp('sketch-addon-');
  const pkg = path.join(dir, 'node_modules', 'gadget');
  mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), '{"name":"gadget","main":"index.js"}');
  writeFileSync(path.join(pkg, 'index.js'), "module.exports = require('./build/Release/gadget.node');\n");
  writeFileSync(path.join(pkg, 'build', 'Release', 'gadget.node'), Buffer.alloc(4096, 0x41)); // no ELF header
  return dir;
}

function failure(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

test('an addon file that is not a shared object for this machine: one line naming it, where to rebuild, and the tools', () => {
  const dir = brokenGadget();
  const err = failure(() => createRequire(path.join(dir, 'x.js'))('gadget'));
  assert.is((err as NodeJS.ErrnoException).code, 'ERR_DLOPEN_FAILED');
  const e = addonError(err);
  assert.instance(e, SketchError);
  assert.is(e!.code, 'SKETCH_ERR_ADDON');
  assert.is(e!.exitCode, 1);
  assert.is(e!.cause, err);
  assert.is(
    e!.message,
    `native addon gadget (a compiled module) failed to load: the compiled file is for another kind of machine than this ${process.arch} one (copied node_modules?): invalid ELF header; rebuild it with "npm rebuild gadget" in ${dir} ${BUILD_TOOLS}`,
  );
});

test('onoff\'s epoll installed without its build step: "it was never built", and the rebuild command', () => {
  const dir = tmp('sketch-addon-');
  for (const pkg of ['epoll', 'bindings', 'file-uri-to-path']) {
    cpSync(path.join(ROOT, 'node_modules', pkg), path.join(dir, 'node_modules', pkg), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}build`),
    });
  }
  const err = failure(() => createRequire(path.join(dir, 'x.js'))('epoll'));
  assert.match(err.message, /Could not locate the bindings file/);
  assert.is(
    addonError(err)!.message,
    `native addon epoll (used by onoff for GPIO pins) failed to load: it was never built (its build step did not run or failed during npm install); rebuild it with "npm rebuild epoll" in ${dir} ${BUILD_TOOLS}`,
  );
});

test('errors that are not about a native addon are left alone', () => {
  assert.is(addonError(failure(() => createRequire(import.meta.url)('no-such-package-here'))), undefined);
  assert.is(addonError(new SyntaxError('Unexpected token')), undefined);
  assert.is(addonError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })), undefined);
  assert.is(addonError('a string'), undefined);
});

test('a sketch file importing a broken addon: sketch run prints the addon line, exit 1, no stack trace', async () => {
  const dir = brokenGadget();
  const file = path.join(dir, 'gadget-sketch.ts');
  writeFileSync(
    file,
    "import { Sketch } from 'sketchnet';\nimport gadget from 'gadget';\nexport default class Gadget extends Sketch {\n  async loop() { return String(gadget); }\n}\n",
  );
  const r = await runCli(['run', file, '--no-mdns']);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /^sketch: native addon gadget \(a compiled module\) failed to load: .*invalid ELF header; rebuild it with "npm rebuild gadget" in /);
});

test('epoll built for another Node.js: sketch names the ABI it was built for, the running one, and the fix; auto GPIO falls back only where there is no GPIO', async () => {
  const other = otherNodes().find((n) => n.abi !== process.versions.modules && Number(n.version.split('.')[0]) >= 20);
  if (!other) {
    console.log(`skipped: real ABI mismatch because ${noNodeReason('Node.js ≥ 20 with another addon ABI')}`);
    return;
  }
  const major = process.versions.node.split('.')[0];
  const expected = `sketch: native addon epoll (used by onoff for GPIO pins) failed to load: it was built for Node.js ${major}, ABI ${process.versions.modules} but this is v${other.version} (ABI ${other.abi}), e.g. after Node.js was upgraded; rebuild it with "npm rebuild epoll" in ${ROOT.replace(/\/$/, '')} ${BUILD_TOOLS}\n`;
  const sketch = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(other.bin, [SKETCH_BIN, 'run', 'buzzer', '--no-mdns', ...args], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { ...process.env, ...env },
      killSignal: 'SIGTERM',
    });

  const sysfs = sketch(['--gpio', 'sysfs']);
  assert.is(sysfs.status, 1, sysfs.stderr);
  assert.is(sysfs.stderr, expected);

  // A machine with GPIO (a GPIO chip directory under the sysfs root): auto must not go virtual.
  const pi = tmp('sketch-sysfs-');
  cpSync(path.join(ROOT, 'test', 'fixtures', 'gpio-pi4-6.6'), pi, { recursive: true });
  const auto = sketch([], { SKETCH_SYSFS_ROOT: pi });
  assert.is(auto.status, 1, auto.stderr);
  assert.is(auto.stderr, expected);

  // No GPIO here: auto goes virtual, as it would anyway, and says why in one line.
  const none = cli(['run', 'buzzer', '--no-mdns'], { SKETCH_SYSFS_ROOT: tmp('sketch-sysfs-') }, other.bin);
  try {
    await none.waitFor(/serving on/);
    // the sysfs reason, then (on the same line) why chardev was not taken either
    const line = expected.trimEnd().replace(/^sketch: /, '[ Buzzer ] sysfs GPIO not available, pin 18 is virtual: ') + '; chardev: ';
    assert.ok(none.stdout().includes(line), none.stdout());
  } finally {
    none.child.kill('SIGINT');
    assert.is(await none.exited(), 0);
  }
});

test.run();
