import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES, errors } from '../runtime/index.js';
import { isTooOld, MIN_NODE } from '../runtime/node-version.cjs';
import { SKETCH_BIN } from './helpers/net.js';
import { noNodeReason, otherNodes } from './helpers/nodes.js';

test('the minimum and every newer release are accepted, anything older is refused with one line', () => {
  assert.is(MIN_NODE, '20.19.0');
  for (const ok of ['20.19.0', '20.20.2', 'v22.23.3', '24.21.0', '26.10.0', '30.0.0']) assert.is(isTooOld(ok), false, ok);
  for (const old of ['20.18.3', '18.20.8', '16.20.2', '12.22.12', 'v10.24.1']) {
    assert.is(isTooOld(old), true, old);
    const e = errors.NODE_VERSION(old);
    assert.is(e.code, 'SKETCH_ERR_NODE_VERSION');
    assert.is(e.exitCode, 1);
    assert.is(
      e.message,
      `this is Node.js v${old.replace(/^v/, '')}, sketchnet needs 20.19.0 or newer: install a current LTS release (22, 24 or 26) from nodejs.org or your package manager`,
    );
  }
  assert.is(ERROR_CODES.SKETCH_ERR_NODE_VERSION, 1);
});

test('sketch on a Node.js older than the minimum prints one line and exits 1, for every old binary at hand', () => {
  const old = otherNodes().filter((n) => isTooOld(n.version));
  if (!old.length) {
    console.log(`skipped: real old Node.js check because ${noNodeReason('Node.js older than 20.19')}`);
    return;
  }
  for (const node of old) {
    for (const args of [['--help'], ['run', 'clock', '--tacks', '1']]) {
      const r = spawnSync(node.bin, [SKETCH_BIN, ...args], { encoding: 'utf8', timeout: 10_000 });
      assert.is(r.status, 1, `${node.version}: ${r.stderr}`);
      assert.is(r.stdout, '');
      assert.is(r.stderr, `sketch: ${errors.NODE_VERSION(node.version).message}\n`, node.version);
    }
  }
});

test.run();
