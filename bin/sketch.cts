#!/usr/bin/env node
// The `sketch` entry point: CommonJS in old syntax, so that any Node.js runs it (see
// node-check.cts). It checks the version (one line, exit 1, when too old), turns on Node's
// compile cache where there is one, and only then loads the CLI proper (main.js, an ES module).
import { checkNode, enableCompileCache, flushCompileCache } from './node-check.cjs';

const tooOld = checkNode(process.versions.node);
if (tooOld) {
  console.error(`sketch: ${tooOld}`);
  process.exit(1);
} else {
  enableCompileCache();
  import('./main.js').then(
    // Started (or done): a sketch that then serves until it is killed still leaves a warm cache.
    () => flushCompileCache(),
    (err: unknown) => import('./fail.js').then((fail) => fail.die(err)),
  );
}
