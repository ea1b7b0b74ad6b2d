/**
 * Where a subscriber starts reading a stream, chosen with the query string of the WebSocket
 * URL, like NATS JetStream's deliver policies. Parsing is pure: no sockets, no streams.
 */
import { MAX_CREDIT } from '../net/protocol.js';
import { printable } from '../text.js';

/**
 * A subscriber's starting point. Exactly one per subscription, so an impossible
 * combination does not compile.
 */
export type DeliverPolicy =
  /** No query: the newest item held (if any), then live — like an MQTT retained message. */
  | { deliver: 'last'; n: number }
  /** `?history=all`: every item held, then live. */
  | { deliver: 'all' }
  /** `?new`: live items only. */
  | { deliver: 'new' }
  /** `?since=T`: items sampled at or after `time` (seconds since the epoch), then live. */
  | { deliver: 'since'; time: number }
  /**
   * `?after_seq=S`: items after seq `seq`, then live. With `epoch` (`&epoch=E`) and a stream
   * whose epoch is not `E` (it restarted), every item held instead.
   */
  | { deliver: 'after'; seq: number; epoch?: string };

/** The default policy (no query): the newest item, then live. */
export const DEFAULT_DELIVER_POLICY: DeliverPolicy = Object.freeze({ deliver: 'last', n: 1 });

/**
 * Query parameters of a stream subscription: those that choose a starting point, `epoch`, and
 * `credit` (flow control, see {@link parseCredit}); on a path that is not a stream each is
 * refused (HTTP 400).
 */
export const STREAM_QUERY_PARAMETERS = ['last', 'history', 'since', 'after_seq', 'new', 'epoch', 'credit'] as const;

/** What {@link parseDeliverPolicy} returns: a policy, or one line saying what is wrong. */
export type ParsedPolicy = { ok: true; policy: DeliverPolicy } | { ok: false; error: string };

/** Seconds of clock difference tolerated for `?since=` in the future. */
const FUTURE_SLACK_S = 5;

/** Longest part of a query value quoted in an error line, in characters. */
const QUOTE_MAX = 60;

/** A query value as quoted in an error line: one line, at most {@link QUOTE_MAX} characters. */
const quoted = (value: string) => `"${printable(value, QUOTE_MAX)}"`;

/**
 * Reads the starting point from a URL's query parameters. `now` is the current time in
 * seconds since the epoch (for refusing `?since=` in the future). Parameters other than
 * {@link STREAM_QUERY_PARAMETERS} are ignored. Never throws; an error is one line, quoting
 * at most 60 characters of a value.
 */
export function parseDeliverPolicy(params: URLSearchParams, now: number): ParsedPolicy {
  const given = STREAM_QUERY_PARAMETERS.filter((p) => p !== 'epoch' && p !== 'credit' && params.has(p));
  if (given.length > 1) {
    return { ok: false, error: `choose one starting point, got ${given.map((p) => `?${p}`).join(' and ')}` };
  }
  for (const p of STREAM_QUERY_PARAMETERS) {
    if (params.getAll(p).length > 1) return { ok: false, error: `?${p} is given more than once` };
  }
  if (params.has('epoch') && given[0] !== 'after_seq') return { ok: false, error: '?epoch goes with ?after_seq=S only' };
  const value = (p: string) => params.get(p)!;
  switch (given[0]) {
    case undefined:
    case 'epoch': // (never: filtered out above)
    case 'credit':
      return { ok: true, policy: DEFAULT_DELIVER_POLICY };
    case 'last': {
      const n = wholeNumber(value('last'));
      if (n === undefined || n < 0) return { ok: false, error: `?last must be a whole number ≥ 0, got ${quoted(value('last'))}` };
      return { ok: true, policy: { deliver: 'last', n } };
    }
    case 'history':
      if (value('history') !== 'all') return { ok: false, error: `?history takes only "all", got ${quoted(value('history'))}` };
      return { ok: true, policy: { deliver: 'all' } };
    case 'new':
      if (!['', '1', 'true'].includes(value('new'))) return { ok: false, error: `?new takes no value, got ${quoted(value('new'))}` };
      return { ok: true, policy: { deliver: 'new' } };
    case 'since': {
      const raw = value('since');
      const time = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(time) || time < 0) {
        return { ok: false, error: `?since must be a time in seconds since the epoch (e.g. ${Math.floor(now)}), got ${quoted(raw)}` };
      }
      if (time > now + FUTURE_SLACK_S) {
        return { ok: false, error: `?since=${time} is in the future (now is ${Math.floor(now)}): nothing can be sampled after it yet` };
      }
      return { ok: true, policy: { deliver: 'since', time } };
    }
    case 'after_seq': {
      const seq = wholeNumber(value('after_seq'));
      if (seq === undefined || seq < 0) {
        return { ok: false, error: `?after_seq must be a whole number ≥ 0, got ${quoted(value('after_seq'))}` };
      }
      const epoch = params.get('epoch') ?? undefined;
      return { ok: true, policy: epoch === undefined ? { deliver: 'after', seq } : { deliver: 'after', seq, epoch } };
    }
  }
}

/** What {@link parseCredit} returns: the credit asked for (undefined: none, no flow control), or one line saying what is wrong. */
export type ParsedCredit = { ok: true; credit?: number } | { ok: false; error: string };

/**
 * Reads `?credit=N`: the subscriber asks for credit-based flow control and grants N items
 * (0 to {@link MAX_CREDIT}) to begin with; it is sent at most the items it granted.
 * Never throws.
 */
export function parseCredit(params: URLSearchParams): ParsedCredit {
  if (!params.has('credit')) return { ok: true };
  const raw = params.get('credit')!;
  const n = wholeNumber(raw);
  if (n === undefined || n > MAX_CREDIT) return { ok: false, error: `?credit must be a whole number from 0 to ${MAX_CREDIT}, got ${quoted(raw)}` };
  return { ok: true, credit: n };
}

/** Whether any stream query parameter is present (they are refused on paths that are not streams). */
export function streamParameter(params: URLSearchParams): string | undefined {
  return STREAM_QUERY_PARAMETERS.find((p) => params.has(p));
}

function wholeNumber(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}
