#!/usr/bin/env node
// The `sketch` entry point: CommonJS in old syntax, so that any Node.js runs it (see
// runtime/node-version.cts). It checks the version (one line, exit 1, when too old), turns on
// Node's compile cache where there is one, and only then loads the CLI proper (main.js, an ES
// module).
import { isTooOld, tooOldMessage } from '../runtime/node-version.cjs';
import { enableCompileCache, flushCompileCache } from './compile-cache.cjs';

if (isTooOld(process.versions.node)) {
  console.error(`sketch: ${tooOldMessage(process.versions.node)}`);
  process.exit(1);
} else {
  enableCompileCache();
  import('./main.js').then(
    // Started (or done): a sketch that then serves until it is killed still leaves a warm cache.
    () => flushCompileCache(),
    (err: unknown) => import('./fail.js').then((fail) => fail.die(err)),
  );
}
