/**
 * Text from the network (a request path, a query value, an mDNS name or TXT value) made safe
 * to put in one line of a log, an error message or a terminal table.
 */

/**
 * Characters escaped by {@link printable}: C0 controls (newline, tab, escape…), DEL, C1
 * controls, the Unicode line and paragraph separators (U+2028, U+2029) and the bidirectional
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069) that reorder what a terminal shows.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Most characters of client-controlled text (a message, a path, a close reason) put in one log line: 200. */
export const LOG_TEXT_MAX = 200;

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };

/**
 * `text` as one printable line: every character of {@link UNPRINTABLE} written as an escape
 * (`\n`, `\r`, `\t`, else `\xHH` or `\uHHHH`), and cut after `maxLength` characters (UTF-16
 * code units of the input, default no limit) with `…` appended. A lone surrogate left by the
 * cut is dropped. Everything else, including `"` and `\`, is kept as it is.
 */
export function printable(text: string, maxLength = Infinity): string {
  return escape(text, maxLength, UNPRINTABLE);
}

/** {@link UNPRINTABLE} plus `"` and `\`, which {@link quoted} escapes too. */
const UNQUOTABLE = new RegExp(`${UNPRINTABLE.source.slice(0, -1)}"\\\\]`, 'g');

/**
 * `text` between double quotes, as {@link printable} makes it, with `"` and `\` also escaped
 * (`\"`, `\\`), so that where the quoted part ends is never in doubt: for a client-controlled
 * header (an Origin) in a log line. Cut after `maxLength` characters (default {@link LOG_TEXT_MAX}).
 */
export function quoted(text: string, maxLength = LOG_TEXT_MAX): string {
  return `"${escape(text, maxLength, UNQUOTABLE)}"`;
}

function escape(text: string, maxLength: number, pattern: RegExp): string {
  let short = text;
  if (text.length > maxLength) {
    short = text.slice(0, Math.max(0, maxLength));
    if (/[\ud800-\udbff]$/.test(short)) short = short.slice(0, -1);
    short += '…';
  }
  return short.replace(pattern, (c) => {
    const known = SHORT[c];
    if (known) return known;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
