import { MdnsDiscovery } from '../runtime/discovery/mdns.js';
import { BUILTINS } from '../sketches/index.js';

let early: MdnsDiscovery | undefined;

/**
 * `sketch run KIND …`: starts the mDNS name probe (`MdnsDiscovery.probe`) before the rest of
 * the CLI loads, so the ~120 ms of listening for another holder of the name overlaps the
 * loading instead of adding to the start-up. Only for a built-in kind or an explicit
 * `--name`, and not with `--no-mdns`. `args` is argv without node and the script.
 */
export function startEarlyProbe(args: string[]): void {
  if (args[0] !== 'run' || args.some((a) => a === '--no-mdns' || a === '--mdns=false')) return;
  const at = args.indexOf('--name');
  const name =
    args.find((a) => a.startsWith('--name='))?.slice('--name='.length) ??
    (at > 0 ? args[at + 1] : undefined) ??
    args.slice(1).find((a) => Object.hasOwn(BUILTINS, a));
  if (!name || name.startsWith('-')) return;
  early = new MdnsDiscovery({ log: (line) => console.error(line) });
  early.probe(name).catch(() => {}); // failures surface again when the sketch announces
}

/** The discovery the early probe started (once; later calls get undefined). */
export function takeEarlyDiscovery(): MdnsDiscovery | undefined {
  const d = early;
  early = undefined;
  return d;
}
