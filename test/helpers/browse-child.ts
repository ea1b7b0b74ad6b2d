/**
 * Browses once with MdnsDiscovery in a process of its own and prints one JSON line:
 * `{ names, lines, maxRssKiB }` — the names found, the lines logged and the process's peak
 * resident set size (KiB). Used by test/discovery-robustness.ts to measure a browse beside a flood.
 *
 *   node --import tsx test/helpers/browse-child.ts <timeout ms> [maxServices]
 */
import { MdnsDiscovery } from '../../runtime/discovery/mdns.js';

const lines: string[] = [];
const discovery = new MdnsDiscovery({ log: (l) => lines.push(l), ...(process.argv[3] ? { maxServices: Number(process.argv[3]) } : {}) });
const found = await discovery.browse(Number(process.argv[2] ?? 2000));
await discovery.close();
const out = JSON.stringify({ names: found.map((f) => f.name), lines, maxRssKiB: process.resourceUsage().maxRSS });
process.stdout.write(`${out}\n`, () => process.exit(0));
