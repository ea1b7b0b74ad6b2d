import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SKETCH_BIN } from './helpers/net.js';
import { noNodeReason, otherNodes } from './helpers/nodes.js';

const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

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
        // main.js, cli.js and the bundle's chunks they import (scripts/bundle.mjs): several
        // entries, not the CommonJS entry point alone
        else assert.ok(entries.length >= 4, `${node.version}: ${entries.length} cache entries`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  }
});

test.run();
