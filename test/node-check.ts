import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkNode, MIN_NODE } from '../bin/node-check.cjs';
import { ERROR_CODES } from '../runtime/index.js';
import { SKETCH_BIN } from './helpers/net.js';
import { noNodeReason, otherNodes } from './helpers/nodes.js';

const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

test('checkNode accepts the minimum and every newer release, refuses anything older with one line', () => {
  assert.is(MIN_NODE, '20.19.0');
  for (const ok of ['20.19.0', '20.20.2', 'v22.23.3', '24.21.0', '26.10.0', '30.0.0']) assert.is(checkNode(ok), undefined, ok);
  for (const old of ['20.18.3', '18.20.8', '16.20.2', '12.22.12', 'v10.24.1']) {
    const line = checkNode(old);
    assert.ok(line, old);
    assert.is(line!.split('\n').length, 1);
    assert.match(line!, new RegExp(`^this is Node\\.js v${old.replace(/^v/, '').replace(/\./g, '\\.')}, sketchnet needs 20\\.19\\.0 or newer: install a current LTS release`));
  }
  assert.is(ERROR_CODES.SKETCH_ERR_NODE_VERSION, 1);
});

test('sketch on a Node.js older than the minimum prints one line and exits 1, for every old binary at hand', () => {
  const old = otherNodes().filter((n) => checkNode(n.version));
  if (!old.length) {
    console.log(`skipped: real old Node.js check because ${noNodeReason('Node.js older than 20.19')}`);
    return;
  }
  for (const node of old) {
    for (const args of [['--help'], ['run', 'clock', '--tacks', '1']]) {
      const r = spawnSync(node.bin, [SKETCH_BIN, ...args], { encoding: 'utf8', timeout: 10_000 });
      assert.is(r.status, 1, `${node.version}: ${r.stderr}`);
      assert.is(r.stdout, '');
      assert.is(r.stderr, `sketch: ${checkNode(node.version)}\n`, node.version);
    }
  }
});

test('on Node.js 22 and later sketch fills the compile cache under os.tmpdir(), and NODE_DISABLE_COMPILE_CACHE=1 leaves it empty', () => {
  const candidates = [
    ...(major(process.version) >= 22 ? [{ bin: process.execPath, version: process.versions.node }] : []),
    ...otherNodes().filter((n) => major(n.version) >= 22),
  ];
  if (!candidates.length) {
    console.log(`skipped: compile cache check because this is ${process.version} and ${noNodeReason('Node.js 22 or later')}`);
    return;
  }
  for (const node of candidates) {
    for (const disabled of [false, true]) {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'sketch-cache-'));
      try {
        // Node treats NODE_DISABLE_COMPILE_CACHE as set even when empty: leave it out entirely
        const { NODE_COMPILE_CACHE: _dir, NODE_DISABLE_COMPILE_CACHE: _off, ...rest } = process.env;
        const env = { ...rest, TMPDIR: tmp, ...(disabled ? { NODE_DISABLE_COMPILE_CACHE: '1' } : {}) };
        const r = spawnSync(node.bin, [SKETCH_BIN, '--help'], { encoding: 'utf8', env, timeout: 15_000 });
        assert.is(r.status, 0, r.stderr);
        const dir = path.join(tmp, 'node-compile-cache');
        const entries = readdirSync(tmp).includes('node-compile-cache')
          ? readdirSync(dir).flatMap((sub) => readdirSync(path.join(dir, sub)))
          : [];
        if (disabled) assert.is(entries.length, 0, `${node.version}: cache written although disabled`);
        // main.js, the CLI's modules and their dependencies: dozens of entries, not the entry alone
        else assert.ok(entries.length > 20, `${node.version}: ${entries.length} cache entries`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  }
});

test.run();
