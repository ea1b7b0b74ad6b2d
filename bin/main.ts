// The CLI proper, loaded by sketch.cts once the Node.js version is known to be supported:
// start the mDNS name probe first, then load the commands (see early-probe.ts).
import { startEarlyProbe } from './early-probe.js';

startEarlyProbe(process.argv.slice(2));
await import('./cli.js');
