import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheDir, importedSpecifiers, selfContained, TranspileCache } from '../bin/ts-cache.js';
import { cli, connect, frames } from './helpers/net.js';

const RUNTIME_URL = new URL('../runtime/index.ts', import.meta.url).href;
const SKETCH = `import { Sketch, reactive } from 'sketchnet';
import { setTimeout as sleep } from 'node:timers/promises';
export default class Echo extends Sketch {
  @reactive
  override async loop(channel: string, message: string) { await sleep(0); return message; }
}
`;

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ts-cache-'));
}

test('the cache directory is $SKETCH_CACHE_DIR, else $XDG_CACHE_HOME/sketchnet, else the platform’s user cache folder', () => {
  assert.is(cacheDir({ SKETCH_CACHE_DIR: '/c' }, 'linux', '/home/u'), '/c');
  assert.is(cacheDir({ XDG_CACHE_HOME: '/x' }, 'linux', '/home/u'), '/x/sketchnet');
  assert.is(cacheDir({}, 'linux', '/home/u'), '/home/u/.cache/sketchnet');
  assert.is(cacheDir({}, 'darwin', '/Users/u'), '/Users/u/Library/Caches/sketchnet');
});

test('only code importing sketchnet and Node.js built-ins, without CommonJS, is self-contained', () => {
  assert.equal(importedSpecifiers('import { a } from "sketchnet";\nimport fs from "node:fs";\nconst m = await import("os");'), ['sketchnet', 'node:fs', 'os']);
  assert.ok(selfContained('import { a } from "sketchnet";\nimport fs from "node:fs";\nimport "os";'));
  assert.not.ok(selfContained('import { b } from "./helper.ts";'));
  assert.not.ok(selfContained('import mqtt from "mqtt";'));
  assert.not.ok(selfContained('const x = await import(name);'));
  assert.not.ok(selfContained('const fs = require("fs");'));
  assert.not.ok(selfContained('console.log(__dirname);'));
});

test('a TypeScript sketch is compiled once, its import of sketchnet bound to the runtime, and found again by path, size and mtime', async () => {
  const dir = tmp();
  const file = path.join(dir, 'echo.ts');
  writeFileSync(file, SKETCH);
  const cache = new TranspileCache({ dir: path.join(dir, 'cache'), runtimeUrl: RUNTIME_URL });
  const first = await cache.urlFor(file);
  assert.ok(first);
  const entry = new URL(first!).pathname;
  const written = statSync(entry).mtimeMs;
  assert.is(await cache.urlFor(file), first); // found, not compiled again
  assert.is(statSync(entry).mtimeMs, written);
  const mod = (await import(first!)) as { default: { prototype: unknown } };
  const { Sketch } = await import('../runtime/index.js');
  assert.ok(mod.default.prototype instanceof Sketch, 'the cached module extends this very runtime’s Sketch');
  // Edited (new mtime): a new entry.
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const second = await cache.urlFor(file);
  assert.ok(second && second !== first);
  assert.is(readdirSync(path.join(dir, 'cache')).length, 2);
  rmSync(dir, { recursive: true, force: true });
});

test('a sketch importing another file, an npm package, or with a syntax error is not cached (tsx loads it)', async () => {
  const dir = tmp();
  const cache = new TranspileCache({ dir: path.join(dir, 'cache'), runtimeUrl: RUNTIME_URL });
  const relative = path.join(dir, 'a.ts');
  writeFileSync(relative, `import { x } from './b.ts';\nexport default x;\n`);
  const npm = path.join(dir, 'c.ts');
  writeFileSync(npm, `import WebSocket from 'ws';\nexport default WebSocket;\n`);
  const broken = path.join(dir, 'd.ts');
  writeFileSync(broken, `export default class {\n`);
  const js = path.join(dir, 'e.js');
  writeFileSync(js, `export default 1;\n`);
  for (const f of [relative, npm, broken, js]) assert.is(await cache.urlFor(f), undefined, f);
  rmSync(dir, { recursive: true, force: true });
});

test('an unwritable cache directory costs only the cache: the file is not cached', async () => {
  const dir = tmp();
  const file = path.join(dir, 'echo.ts');
  writeFileSync(file, SKETCH);
  writeFileSync(path.join(dir, 'not-a-dir'), '');
  const cache = new TranspileCache({ dir: path.join(dir, 'not-a-dir', 'cache'), runtimeUrl: RUNTIME_URL });
  assert.is(await cache.urlFor(file), undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('sketch run FILE.ts starts its second time from the cache: what the cache holds is what runs', async () => {
  const dir = tmp();
  const file = path.join(dir, 'greeter.ts');
  writeFileSync(file, `import { Sketch, reactive } from 'sketchnet';\nexport default class Greeter extends Sketch {\n  @reactive\n  override async loop(channel: string, message: string) { return 'hello ' + message; }\n}\n`);
  const env = { SKETCH_CACHE_DIR: path.join(dir, 'cache') };
  const ask = async (): Promise<string> => {
    const c = cli(['run', file, '--port', '0', '--no-mdns'], env);
    try {
      const line = await c.waitFor(/serving on [^ ]+:(\d+)/, 15_000);
      const port = /:(\d+)$/.exec(line)![1];
      const ws = await connect(`ws://127.0.0.1:${port}/`);
      const reply = frames(ws, 1);
      ws.send('bob');
      const [text] = await reply;
      ws.close();
      return text!;
    } finally {
      c.child.kill('SIGTERM');
      await c.exited();
    }
  };
  assert.is(await ask(), 'hello bob');
  const entries = readdirSync(path.join(dir, 'cache', 'ts'));
  assert.is(entries.length, 1);
  // Change the cached compilation (not the file): the second start runs it, so it came from the cache.
  const entry = path.join(dir, 'cache', 'ts', entries[0]!);
  writeFileSync(entry, readFileSync(entry, 'utf8').replace('"hello "', '"hello from the cache, "'));
  assert.is(await ask(), 'hello from the cache, bob');
  rmSync(dir, { recursive: true, force: true });
});

test.run();
