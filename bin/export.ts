import type { CommandModule } from 'yargs';
import { errors } from '../runtime/index.js';
import { openRecorded, type RecordStore, type RecordItem, type Selection } from '../runtime/recorder/store.js';
import { die } from './fail.js';
import { parseSince } from './tap.js';

/** Parsed arguments of `sketch export`. */
interface ExportArgs {
  db: string;
  sketch?: string;
  stream?: string;
  since?: string;
  until?: string;
  format: 'csv' | 'ndjson';
}

/** The CSV columns, in order (the header line). */
export const CSV_COLUMNS = ['sketch', 'kind', 'stream', 'epoch', 'seq', 'time', 'published', 'received', 'data'] as const;

/** One CSV field, quoted as RFC 4180 §2 says: in double quotes (doubled inside) when it holds a comma, a quote, CR or LF. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One recorded item as a CSV record (CRLF-terminated, RFC 4180), `data` as its JSON text. */
export function csvLine(item: RecordItem): string {
  return `${CSV_COLUMNS.map((c) => csvField(item[c])).join(',')}\r\n`;
}

/** One recorded item as an NDJSON line, `data` as a JSON value. */
export function ndjsonLine(item: RecordItem): string {
  const { data, ...rest } = item;
  return `${JSON.stringify(rest).slice(0, -1)},"data":${data}}\n`;
}

/** Reads a `--since`/`--until` value, or exits 2 with one line. */
function time(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = parseSince(text);
  if (t === undefined) die(errors.INVALID_OPTION(`--${flag} must be seconds since the epoch or an ISO 8601 date/time, got ${JSON.stringify(text)}`));
  return t;
}

/**
 * `sketch export --db FILE [--sketch NAME] [--stream PATH] [--since T] [--until T] --format csv|ndjson`:
 * the recorded items to stdout, oldest sample first, read one at a time (never all in
 * memory) and written with backpressure; a closed pipe (`| head`) ends it with exit 0.
 */
export const exportCommand: CommandModule<object, ExportArgs> = {
  builder: (y) =>
    y
      .option('db', { type: 'string', demandOption: true, requiresArg: true, describe: 'the recorder database (sketch run recorder --db FILE)' })
      .option('sketch', { type: 'string', requiresArg: true, describe: 'only this sketch (instance name)' })
      .option('stream', { type: 'string', requiresArg: true, describe: 'only this stream path, e.g. /readings' })
      .option('since', { type: 'string', requiresArg: true, describe: 'only items sampled at or after T (seconds since the epoch or ISO 8601)' })
      .option('until', { type: 'string', requiresArg: true, describe: 'only items sampled at or before T' })
      .option('format', { choices: ['csv', 'ndjson'] as const, default: 'csv' as const, describe: 'CSV with a header (RFC 4180) or one JSON object per line' }),
  handler: async (argv) => {
    const selection: Selection = { sketch: argv.sketch, stream: argv.stream, since: time('since', argv.since), until: time('until', argv.until) };
    let store: RecordStore;
    try {
      store = openRecorded(argv.db);
    } catch (err) {
      die(err);
    }
    const out = process.stdout;
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0); // `sketch export … | head`
      die(err);
    });
    const line = argv.format === 'csv' ? csvLine : ndjsonLine;
    if (argv.format === 'csv') out.write(`${CSV_COLUMNS.join(',')}\r\n`);
    let chunk = '';
    for (const item of store.select(selection)) {
      chunk += line(item);
      if (chunk.length < 64 * 1024) continue;
      const more = out.write(chunk);
      chunk = '';
      if (!more) await new Promise((resolve) => out.once('drain', resolve));
    }
    if (chunk) out.write(chunk);
    store.close();
  },
};
