// The width of a string that is one terminal column per UTF-16 unit, computed without
// string-width (see bundle.mjs: string-width builds a Unicode-property RegExp and an
// Intl.Segmenter on first use, ~30–50 ms, and segments every string it measures). The bundle
// answers from here for the help texts (ASCII, Latin-1, a few punctuation marks and arrows) and
// falls back to string-width for anything else; test/narrow-width.ts checks every code point
// answered here against string-width itself.

/**
 * Code point ranges (inclusive) that string-width counts as one column each (printable, not
 * combining, not default-ignorable, not emoji, East Asian Width narrow or ambiguous-as-narrow).
 */
export const NARROW_RANGES = [
  [0x20, 0x7e], // ASCII printable
  // Latin-1, Latin Extended-A/B, IPA, spacing modifier letters; not © ® (emoji), not the soft
  // hyphen (default-ignorable, width 0)
  [0xa0, 0xa8],
  [0xaa, 0xac],
  [0xaf, 0x2ff],
  // dashes, quotes, bullet, ellipsis, per mille, primes, guillemets; not ‼ ⁉ (emoji)
  [0x2010, 0x2027],
  [0x2030, 0x203b],
  [0x203d, 0x2048],
  [0x204a, 0x205e],
  // arrows; not ↔…↙ ↩ ↪ (emoji)
  [0x2190, 0x2193],
  [0x219a, 0x21a8],
  [0x21ab, 0x21ff],
];

const NARROW = new RegExp(`^[${NARROW_RANGES.map(([a, b]) => `\\u{${a.toString(16)}}-\\u{${b.toString(16)}}`).join('')}]*$`, 'u');

/**
 * `text`'s width in terminal columns when every character is in {@link NARROW_RANGES} (and
 * ambiguous characters count as narrow, string-width's default), else undefined.
 * @param {unknown} text
 * @param {{ ambiguousIsNarrow?: boolean } | undefined} options string-width's options
 * @returns {number | undefined}
 */
export function narrowWidth(text, options) {
  if (typeof text !== 'string' || options?.ambiguousIsNarrow === false) return undefined;
  return NARROW.test(text) ? text.length : undefined;
}
