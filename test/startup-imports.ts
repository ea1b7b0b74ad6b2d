import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SKETCH_BIN } from './helpers/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The Node.js built-in modules `sketch ARGS…` loaded by the time it exited (process.moduleLoadList). */
function builtinsLoaded(args: string[]): string[] {
  const report = "process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(process.moduleLoadList)));";
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(report)}`, SKETCH_BIN, ...args], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  return (JSON.parse(line!.slice('LOADED '.length)) as string[]).map((m) => m.replace(/^NativeModule /, ''));
}

test('sketch --help and sketch --version load neither the WebSocket server nor mDNS (only the command that runs is imported)', () => {
  for (const args of [['--help'], ['--version']]) {
    const loaded = builtinsLoaded(args);
    for (const m of ['http', 'dgram', 'zlib', 'tls']) assert.not.ok(loaded.includes(m), `sketch ${args.join(' ')} loaded node:${m}`);
  }
});

test('sketch run iopin --help loads the server (the sketch class is loaded for its options)', () => {
  assert.ok(builtinsLoaded(['run', 'iopin', '--help']).includes('http'));
});

test('npm run build leaves the CLI bundled, and the bundler refuses to bundle a bundle', () => {
  assert.ok(readFileSync(new URL('../dist/bin/cli.js', import.meta.url), 'utf8').startsWith('// sketchnet: bundled by scripts/bundle.mjs'), 'npm test builds with npm run build');
  const again = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.is(again.status, 1);
  assert.match(again.stderr, /already a bundle: run tsc -p tsconfig.json first/);
});

test('sketch --version prints sketchnet’s own version from any folder, not the version of the project it runs in', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'version-cwd-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'my-project', version: '9.9.9' }));
  const own = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  for (const cwd of [dir, os.tmpdir()]) {
    const r = spawnSync(process.execPath, [SKETCH_BIN, '--version'], { cwd, encoding: 'utf8' });
    assert.is(r.stdout.trim(), own, cwd);
  }
  rmSync(dir, { recursive: true, force: true });
});

test.run();
