// Authoring errors that say where (issue 10), through the real CLI in separate processes:
// syntax errors at FILE:LINE:COLUMN with the line and a caret, `sketch check`, the warning for a
// loop without @reactive, and `sketch send --timeout`.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, runCli, SKETCH_BIN } from './helpers/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECK_FIXTURES = path.join(ROOT, 'test/fixtures/check');
const UNACKNOWLEDGED = path.join(ROOT, 'test/fixtures/sketches/unacknowledged.ts');
const QUIET_ECHO = path.join(ROOT, 'test/fixtures/sketches/quiet-echo.ts');
const WARNING = /loop is not @reactive: messages get no acknowledgement/;

/** Runs `node BIN ...args` in `cwd` to completion (BIN: the built CLI unless given). */
function sketchIn(cwd: string, args: string[], bin = SKETCH_BIN): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: 'pipe', env: { ...process.env, NODE_PATH: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temporary folder holding `files` (name → text). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-authoring-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** stderr's lines: the message, then the line with its number, then the caret line. */
function assertPointsAt(stderr: string, first: RegExp, source: string, caretColumn: number) {
  const [line1, line2, line3] = stderr.split('\n');
  assert.match(line1!, first);
  assert.match(line1!, /^sketch: /);
  assert.match(line2!, new RegExp(`^ +\\d+ \\| ${source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  const bar = line3!.indexOf('| ');
  assert.ok(bar > 0, line3);
  assert.is(line3!.slice(bar + 2).indexOf('^') + 1, caretColumn, `caret under column ${caretColumn}:\n${stderr}`);
  assert.not.match(stderr, /\n\s+at /, 'no stack trace');
}

const BAD = "import { Sketch } from 'sketchnet';\nexport default class Bad extends Sketch {\n  override setup() {\n    const a = ;\n  }\n}\n";

test('a .ts sketch file with a syntax error prints FILE:LINE:COLUMN, the message, the line and a caret, exit 1', async () => {
  const dir = folder({ 'bad.ts': BAD });
  const r = await runCli(['run', path.join(dir, 'bad.ts')]);
  assert.is(r.code, 1);
  assertPointsAt(r.stderr, new RegExp(`^sketch: ${path.join(dir, 'bad.ts')}:4:15: syntax error: Unexpected ";"$`), '    const a = ;', 15);
});

test('a .js ES module with a syntax error (Node.js gives no location for it) is located too, exit 1', async () => {
  const dir = folder({ 'package.json': '{"type":"module"}', 'bad.js': BAD.replace('override ', '') });
  const r = await runCli(['run', path.join(dir, 'bad.js')]);
  assert.is(r.code, 1);
  assertPointsAt(r.stderr, new RegExp(`^sketch: ${path.join(dir, 'bad.js')}:4:15: syntax error: Unexpected token ';'$`), '    const a = ;', 15);
});

test("a CommonJS .cjs sketch file's syntax error comes from Node.js' own stack header", async () => {
  const dir = folder({ 'bad.cjs': "const { Sketch } = require('sketchnet');\nmodule.exports = class extends Sketch {\n  setup() {\n    const a = ;\n  }\n};\n" });
  const r = await runCli(['run', path.join(dir, 'bad.cjs')]);
  assert.is(r.code, 1);
  assertPointsAt(r.stderr, /bad\.cjs:4:15: syntax error: Unexpected token ';'$/, '    const a = ;', 15);
});

test('the caret counts characters, not bytes, and keeps tabs: a line with é and tabs before the error', async () => {
  const dir = folder({ 'tabs.ts': "import { Sketch } from 'sketchnet';\nexport default class T extends Sketch {\n\toverride setup() {\n\t\tconst s = 'température'; const = 1;\n\t}\n}\n" });
  const r = await runCli(['run', path.join(dir, 'tabs.ts')]);
  assert.is(r.code, 1);
  assertPointsAt(r.stderr, /tabs\.ts:4:34: syntax error: Expected identifier but found "="$/, "\t\tconst s = 'température'; const = 1;", 34);
  assert.match(r.stderr.split('\n')[2]!, /\| \t\t {31}\^$/);
});

test('a sketch file that throws while loading names FILE:LINE:COLUMN from its stack, with the line and a caret, exit 1', async () => {
  const dir = folder({ 'throws.ts': "import { Sketch } from 'sketchnet';\nconst settings: { port: number } | null = null as never;\nconsole.log(settings!.port);\nexport default class T extends Sketch {}\n" });
  const r = await runCli(['run', path.join(dir, 'throws.ts')]);
  assert.is(r.code, 1);
  assertPointsAt(r.stderr, /^sketch: cannot load sketch file .*throws\.ts:3:23: Cannot read properties of null \(reading 'port'\)$/, 'console.log(settings!.port);', 23);
});

test('sketch check: the README thermostat type-checks against sketchnet\'s own types, exit 0 with one line', async () => {
  const r = await sketchIn(CHECK_FIXTURES, ['check', 'thermostat.ts']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(r.stdout, '1 file checked, no errors\n');
});

test('sketch check: a type error in loop() and an option of the wrong type print file:line:col and the message each, exit 1', async () => {
  const r = await sketchIn(CHECK_FIXTURES, ['check', 'thermostat.ts', 'loop-type-error.ts', 'wrong-option-type.ts']);
  assert.is(r.code, 1, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.is(lines.length, 3, r.stdout);
  assert.match(lines[0]!, /^loop-type-error\.ts:14:11 error TS2322: Type 'string' is not assignable to type 'number'\.$/);
  assert.match(lines[1]!, /^wrong-option-type\.ts:8:\d+ error TS\d+: .*'options'.*Type 'string' is not assignable to type 'number'\.$/);
  assert.is(lines[2], '3 files checked, 2 errors');
});

test('sketch check resolves sketchnet from anywhere: a sketch file in a folder outside any package', async () => {
  const dir = folder({});
  cpSync(path.join(CHECK_FIXTURES, 'loop-type-error.ts'), path.join(dir, 'sketch.ts'));
  const r = await sketchIn(dir, ['check', 'sketch.ts']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stdout, /^sketch\.ts:14:11 error TS2322: /);
  assert.not.match(r.stdout, /TS2307/, 'sketchnet is found');
});

test('sketch check on a missing file prints one line, exit 1', async () => {
  const r = await sketchIn(CHECK_FIXTURES, ['check', 'no-such-sketch.ts']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^sketch: cannot load sketch file no-such-sketch\.ts: ENOENT/);
});

/**
 * sketchnet installed without typescript (as users get it: typescript is only a devDependency):
 * `dist` and package.json copied, every other installed package linked beside it.
 */
function installWithoutTypeScript(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-no-ts-'));
  const pkg = path.join(dir, 'sketchnet');
  mkdirSync(path.join(pkg, 'node_modules'), { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === 'typescript' || name.startsWith('.')) continue;
    symlinkSync(path.join(ROOT, 'node_modules', name), path.join(pkg, 'node_modules', name));
  }
  return pkg;
}

test('sketch check without typescript installed prints one line saying how to add it, exit 1; installed in the project, it is used', async () => {
  const pkg = installWithoutTypeScript();
  const bin = path.join(pkg, 'dist/bin/sketch.cjs');
  const project = path.join(path.dirname(pkg), 'project');
  mkdirSync(project);
  cpSync(path.join(CHECK_FIXTURES, 'thermostat.ts'), path.join(project, 'thermostat.ts'));
  const missing = await sketchIn(project, ['check', 'thermostat.ts'], bin);
  assert.is(missing.code, 1);
  assert.is(missing.stdout, '');
  assert.is(missing.stderr, 'sketch: sketch check needs the TypeScript compiler, which is not installed: add it to your project with "npm install --save-dev typescript"\n');
  // What the line says to do: typescript in the project's node_modules.
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(path.join(ROOT, 'node_modules/typescript'), path.join(project, 'node_modules/typescript'));
  const found = await sketchIn(project, ['check', 'thermostat.ts'], bin);
  rmSync(path.dirname(pkg), { recursive: true, force: true });
  assert.is(found.code, 0, found.stdout + found.stderr);
  assert.is(found.stdout, '1 file checked, no errors\n');
});

test('a sketch whose loop is not @reactive gets one warning at start; a @reactive one gets none', async () => {
  const deaf = cli(['run', UNACKNOWLEDGED, '--host', '127.0.0.1', '--port', '0', '--no-mdns']);
  const echo = cli(['run', QUIET_ECHO, '--host', '127.0.0.1', '--port', '0', '--no-mdns']);
  try {
    await deaf.waitFor(/serving on/);
    await echo.waitFor(/serving on/);
  } finally {
    deaf.child.kill('SIGTERM');
    echo.child.kill('SIGTERM');
    assert.is(await deaf.exited(), 0);
    assert.is(await echo.exited(), 0);
  }
  const deafOut = deaf.stdout() + deaf.stderr();
  assert.is(deafOut.split('\n').filter((l) => WARNING.test(l)).length, 1, deafOut);
  assert.not.match(echo.stdout() + echo.stderr(), WARNING);
});

/** Runs the sketch without @reactive, then `fn` with its ws:// URL. */
async function withDeafSketch(fn: (url: string) => Promise<void>): Promise<void> {
  const deaf = cli(['run', UNACKNOWLEDGED, '--host', '127.0.0.1', '--port', '0', '--no-mdns']);
  try {
    const port = /serving on [^:]+:(\d+)/.exec(await deaf.waitFor(/serving on [^:]+:\d+/))![1];
    await fn(`ws://127.0.0.1:${port}/`);
  } finally {
    deaf.child.kill('SIGTERM');
    await deaf.exited();
  }
}

test('sketch send --timeout 1 to a sketch that never acknowledges ends with one line naming @reactive, exit 1', async () => {
  await withDeafSketch(async (url) => {
    const r = await runCli(['send', url, 'hello', '--timeout', '1']);
    assert.is(r.code, 1);
    assert.is(r.stdout, '');
    assert.is(r.stderr, `sketch: no acknowledgement from ${url} within 1 s: is its loop decorated with @reactive? (a loop without it answers nothing; --timeout SECONDS waits longer)\n`);
  });
});

test('sketch send waits 5 s for an acknowledgement by default, then gives up the same way', async () => {
  await withDeafSketch(async (url) => {
    const r = await runCli(['send', url, 'hello'], {}, 20_000);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^sketch: no acknowledgement from .* within 5 s: is its loop decorated with @reactive\?/);
  });
});

test('sketch send --timeout with a negative number is a usage error, exit 2', async () => {
  const r = await runCli(['send', 'ws://127.0.0.1:9/', 'x', '--timeout', '-1']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--timeout must be a number of seconds >= 0 \(0 = wait forever\), got -1/);
});

test.run();
