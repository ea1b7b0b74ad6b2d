#!/usr/bin/env node
// Entry point: start the mDNS name probe first, then load the CLI (see early-probe.ts).
import { startEarlyProbe } from './early-probe.js';

startEarlyProbe(process.argv.slice(2));
await import('./cli.js');
