// The CLI proper, loaded by sketch.cts once the Node.js version is known to be supported:
// for `sketch run`, start the mDNS name probe first (see early-probe.ts), then load the
// commands. Other commands load neither the probe nor mDNS here.
const args = process.argv.slice(2);
if (args[0] === 'run') (await import('./early-probe.js')).startEarlyProbe(args);
await import('./cli.js');
