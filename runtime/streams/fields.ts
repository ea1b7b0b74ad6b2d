/**
 * The numbers in a stream item's data that can be plotted: shared by the recorder's history
 * (runtime/recorder/decimate.ts) and the dashboard's live points (runtime/dashboard/relay.ts),
 * so both show the same fields.
 */

/** Most numeric fields plotted or decimated per stream (the first seen are kept): 32. */
export const MAX_FIELDS = 32;

/**
 * The finite numeric top-level fields of an item's `data`, in their order, at most
 * {@link MAX_FIELDS}: a bare number is the field `value`; a field named `time` is left out (the
 * item's own sample time is the x axis); nested objects, strings, booleans, NaN and ±Infinity
 * are not plotted. Anything else (a string, an array, null) has none.
 */
export function numericFields(data: unknown): Array<[string, number]> {
  if (typeof data === 'number') return Number.isFinite(data) ? [['value', data]] : [];
  if (!data || typeof data !== 'object' || Array.isArray(data)) return [];
  const out: Array<[string, number]> = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === 'time' || typeof v !== 'number' || !Number.isFinite(v)) continue;
    out.push([k, v]);
    if (out.length >= MAX_FIELDS) break;
  }
  return out;
}
