/** The pieces BENCHMARKS.md is made of: sections, markdown tables, goals and number formats. */
import type { Summary } from './stats.js';

/** A goal next to the figure it judges. Goals are reported, never asserted. */
export interface Goal {
  /** e.g. "round trips, 16 B: ≥ 0.9× bare ws". */
  goal: string;
  /** The figure as printed, e.g. "0.95×". */
  figure: string;
  /** undefined when the figure could not be measured (peer skipped, case failed). */
  met: boolean | undefined;
}

export interface Section {
  title: string;
  /** What was measured and how, in a sentence or two. */
  intro: string;
  /** Markdown blocks (tables), in order. */
  blocks: string[];
  notes: string[];
  goals: Goal[];
  /** How many figures the case produced; a case with none makes `--quick` fail. */
  figures: number;
}

export function section(title: string, intro: string): Section {
  return { title, intro, blocks: [], notes: [], goals: [], figures: 0 };
}

/** A markdown table; `align` has one letter per column (l or r), default: first left, rest right. */
export function table(header: string[], rows: string[][], align?: string): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const right = (i: number) => (align ? align[i] === 'r' : i > 0);
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (right(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** "met" / "MISSED" / "n/a" for a comparison of `value` against `target`. */
export function judge(value: number | undefined, op: '≥' | '≤', target: number): boolean | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  return op === '≥' ? value >= target : value <= target;
}

export const verdict = (met: boolean | undefined): string => (met === undefined ? 'n/a' : met ? 'met' : 'MISSED');

/** "goal ≥ 0.9×: met" — the cell printed beside a figure. */
export function goalCell(text: string, met: boolean | undefined): string {
  return `${text}: ${verdict(met)}`;
}

/** 12 345 → "12.3k", 1 234 567 → "1.23M". */
export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  if (n >= 100) return n.toFixed(0);
  return n.toPrecision(3);
}

export function fmtSummary(s: Summary | undefined, f: (n: number) => string = fmtCount): string {
  if (!s || !Number.isFinite(s.median)) return '–';
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export const fmtUs = (us: number): string => (Number.isFinite(us) ? `${us.toFixed(us >= 100 ? 0 : 1)} µs` : '–');

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return '–';
  const sign = b < 0 ? '-' : '';
  const v = Math.abs(b);
  if (v >= 1024 * 1024) return `${sign}${(v / 1024 / 1024).toFixed(1)} MiB`;
  if (v >= 1024) return `${sign}${(v / 1024).toFixed(1)} KiB`;
  return `${sign}${v.toFixed(0)} B`;
}

/** CPU time over wall time as % of one core, e.g. "98%". */
export const fmtCpu = (cpuUs: number, wallMs: number): string =>
  Number.isFinite(cpuUs) && wallMs > 0 ? `${Math.round(cpuUs / 10 / wallMs)}%` : '–';

export const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`);

/** The whole document. */
export function render(header: string[], sections: Section[], footer: string[]): string {
  const goals = sections.flatMap((s) => s.goals.map((g) => [s.title.replace(/^\d+\.\s*/, ''), g.goal, g.figure, verdict(g.met)]));
  const out = [...header, '', '## Goals', '', table(['case', 'goal', 'figure', 'verdict'], goals, 'llrl'), ''];
  for (const s of sections) {
    out.push(`## ${s.title}`, '', s.intro, '');
    for (const b of s.blocks) out.push(b, '');
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push('');
  }
  out.push(...footer);
  return `${out.join('\n').trimEnd()}\n`;
}
