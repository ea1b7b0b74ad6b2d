// Preloaded with `node --require` by test/discovery-robustness.ts: when the process exits, writes
// its peak resident set size (process.resourceUsage().maxRSS, KiB) to $SKETCH_TEST_RSS_FILE.
'use strict';
const fs = require('node:fs');
const file = process.env.SKETCH_TEST_RSS_FILE;
if (file) process.on('exit', () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS)));
