/** Reads a V8 .cpuprofile (node --cpu-prof) and lists where the time went: self time by function and by file. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './env.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Hot {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, 0…1. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  totalMs: number;
  functions: Hot[];
  files: Hot[];
}

/** `file:///…/node_modules/ws/lib/sender.js` → `ws/lib/sender.js`; `…/dist/runtime/peer.js` → `runtime/peer.js`. */
function shortUrl(url: string): string {
  if (!url) return '';
  let p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('/node_modules/');
  if (nm !== -1) return p.slice(nm + '/node_modules/'.length);
  if (p.startsWith(ROOT)) p = path.relative(ROOT, p);
  return p.replace(/^dist\//, '');
}

/** The main thread's profile (thread id 0 in Node's default file name) in `dir`, if any. */
export function mainThreadProfile(dir: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const main = files.find((f) => f.split('.')[4] === '0') ?? files[0];
  return main && path.join(dir, main);
}

/**
 * Self time by function and by file. `window` ([from, to] in µs of process.hrtime, the
 * monotonic clock V8 stamps samples with) keeps only the samples taken in it, e.g. only
 * while publishing, leaving out start-up and connection set-up.
 */
export function summarizeProfile(file: string, top = 12, window?: [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window[0] || t > window[1])) continue;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let busy = 0;
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    total += us;
    if (functionName === '(idle)') continue;
    busy += us;
    const where = shortUrl(url);
    const name = where ? `${where}:${functionName || '(anonymous)'}:${lineNumber + 1}` : functionName || '(anonymous)';
    fn.set(name, (fn.get(name) ?? 0) + us);
    const fileKey = where || functionName;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): Hot[] =>
    [...m.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return { file, busyMs: busy / 1000, totalMs: total / 1000, functions: rank(fn), files: rank(files) };
}

export function formatProfile(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  return [
    `busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled`,
    '  self time by file:',
    ...s.files.map((h) => `    ${pct(h.share)}  ${h.name}`),
    '  self time by function:',
    ...s.functions.map((h) => `    ${pct(h.share)}  ${h.name}`),
  ].join('\n');
}
