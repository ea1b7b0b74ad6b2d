import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSketchCmd } from '../bench/lib/sketch-cmd.js';
import { stopAll, type Child } from '../bench/lib/proc.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Output lines of `child` once it exits (at most 15 s). */
async function exitOf(child: Child): Promise<{ code: number | null; lines: string[] }> {
  const lines: string[] = [];
  child.onLine((line) => lines.push(line));
  const code = await Promise.race([child.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
  await child.stop();
  if (code === 'timeout') throw new Error(`${child.name} did not exit within 15 s`);
  return { code, lines };
}

test('the bench runs `sketch` by name, a symlink first on PATH as npm link makes it: its shebang runs dist/bin/sketch.cjs, which prints the package version', async () => {
  try {
    const { code, lines } = await exitOf(spawnSketchCmd('sketch --version', ['--version']));
    assert.is(code, 0);
    assert.equal(lines, [version]);
  } finally {
    await stopAll();
  }
});

test('with another Node.js binary, the shebang\'s `env node` finds that one first on PATH', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-fake-node-'));
  const fake = path.join(dir, 'node');
  writeFileSync(fake, '#!/bin/sh\necho "fake node: $(basename "$1") $2"\n');
  chmodSync(fake, 0o755);
  try {
    const { code, lines } = await exitOf(spawnSketchCmd('sketch --version (fake node)', ['--version'], { node: fake }));
    assert.is(code, 0);
    assert.equal(lines, ['fake node: sketch --version']);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
