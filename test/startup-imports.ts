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

/** The built-ins `sketch ARGS…` (a long-running sketch) loaded by the time its server listened. */
function builtinsAtListen(args: string[]): string[] {
  const report = [
    "import net from 'node:net';",
    'const listen = net.Server.prototype.listen;',
    'net.Server.prototype.listen = function (...a) {',
    "  this.once('listening', () => setTimeout(() => { process.stderr.write('\\nLOADED ' + JSON.stringify(process.moduleLoadList) + '\\n'); process.exit(0); }, 0));",
    '  return listen.apply(this, a);',
    '};',
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(report)}`, SKETCH_BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, `no report: status ${r.status}, ${r.stderr}`);
  return (JSON.parse(line!.slice('LOADED '.length)) as string[]).map((m) => m.replace(/^NativeModule /, ''));
}

test('sketch run iopin --no-mdns serves without loading what it does not use (TLS, zlib, crypto, undici, http2, readline, worker_threads)', () => {
  const loaded = builtinsAtListen(['run', 'iopin', '--no-mdns', '--host', '127.0.0.1', '--port', '0']);
  assert.ok(loaded.includes('http'), 'the server runs on node:http');
  // node:http's lazy WebSocket getter (undici → http2), node:fs's ReadStream (fs/promises → readline) and
  // node:util's setTraceSigInt (worker_threads) are read by an ES module import of them: the bundle requires them.
  for (const m of ['tls', 'https', 'zlib', 'crypto', 'internal/deps/undici/undici', 'http2', 'readline', 'worker_threads', 'assert', 'fs/promises']) {
    assert.not.ok(loaded.includes(m), `loaded node:${m}`);
  }
});

test('the lazy built-ins load on first use: node:crypto once a client opens a WebSocket (its key, its masks)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lazy-builtins-'));
  try {
    // The bundled runtime (what `import 'sketchnet'` gets): crypto, tls and https untouched until a Peer connects.
    const probe = [
      `import { Sketch, Peer, reactive } from ${JSON.stringify(new URL('../dist/runtime/index.js', import.meta.url).href)};`,
      "const before = ['crypto', 'tls', 'https'].filter((m) => process.moduleLoadList.includes('NativeModule ' + m));",
      "class Echo extends Sketch { async loop(_c, m) { return 'ok ' + m; } }",
      "reactive(Echo.prototype.loop, { kind: 'method' }); // @reactive, in plain JavaScript",
      "const s = new Echo({ discovery: false, log: () => {}, port: 0 });",
      "const { url } = await s.run({ host: '127.0.0.1' });",
      'const peer = new Peer(url, { discovery: false });',
      "const reply = await peer.send('hi');",
      "const after = ['crypto'].filter((m) => process.moduleLoadList.includes('NativeModule ' + m));",
      'console.log(JSON.stringify({ before, after, reply }));',
      'await peer.close(); await s.close();',
    ].join('\n');
    const file = path.join(dir, 'probe.mjs');
    writeFileSync(file, probe);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { before: string[]; after: string[]; reply: unknown };
    assert.equal(out.before, []);
    assert.equal(out.after, ['crypto']);
    assert.match(String(out.reply), /ok hi/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
