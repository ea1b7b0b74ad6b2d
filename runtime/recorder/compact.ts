/**
 * How the recorder keeps an item's data small on disk (issue 22: SD-card wear). A stream's
 * items mostly share their shape and most of their values: a thermometer's
 * `{"time":…,"temperature":21.437,"unit":"°C","sensor":"ds18b20:28-…"}` changes in
 * `temperature` and `time` only, and `time` is the item's sample time, stored in its own column.
 * So each series (a sketch's stream in one epoch) keeps its first item's data as its *base*,
 * and every item whose data is an object with the base's keys in the base's order is stored as a
 * *patch*: the fields that differ from the base, leaving out the field that carries the sample
 * time when it does (the base's *time key*). Anything else (another shape, an array, a string)
 * is stored whole. Pure: no database, no clock; runtime/recorder/store.ts stores the texts.
 */

/** A series' base: its first item's data as JSON text, and the field equal to its sample time. */
export interface Base {
  /** JSON text of the first item's data. */
  text: string;
  /** The top-level field whose value was the item's sample time (s), or null. */
  timeKey: string | null;
}

/** One item's data as stored: exactly one of `data` (whole JSON text) and `patch` (JSON text of the fields that differ). */
export interface Stored {
  data: string | null;
  patch: string | null;
}

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The base a new series takes from its first item (`value` parsed, `text` as received). */
export function baseOf(value: unknown, text: string, time: number): Base {
  let timeKey: string | null = null;
  if (isPlain(value)) for (const k in value) if (value[k] === time) (timeKey ??= k);
  return { text, timeKey };
}

/** A base, parsed once per series for encoding and decoding. */
export class Codec {
  readonly base: Base;
  readonly #value: unknown;
  readonly #keys: string[] | undefined;
  /** The base's values as JSON text, per key: a field is left out when its text is the same. */
  readonly #texts: Map<string, string>;
  /** The keys as JSON strings, in the order of `#keys`. */
  readonly #names: string[];

  constructor(base: Base) {
    this.base = base;
    this.#value = JSON.parse(base.text) as unknown;
    // A `__proto__` key cannot be rebuilt by assignment: such data is stored whole.
    this.#keys = isPlain(this.#value) && !Object.hasOwn(this.#value, '__proto__') ? Object.keys(this.#value) : undefined;
    this.#texts = new Map((this.#keys ?? []).map((k) => [k, JSON.stringify((this.#value as Plain)[k])]));
    this.#names = (this.#keys ?? []).map((k) => JSON.stringify(k));
  }

  /**
   * How `value` (its JSON text `text`, or a function making it, sampled at `time` s) is stored
   * under this base. The patch is written as text field by field (no object, no
   * `JSON.stringify` of one): the same text `JSON.stringify` gives the patch object.
   */
  encode(value: unknown, text: string | (() => string), time: number): Stored {
    const keys = this.#keys;
    const whole = (): Stored => ({ data: typeof text === 'string' ? text : text(), patch: null });
    if (!keys || !isPlain(value)) return whole();
    let i = 0;
    for (const k in value) if (keys[i++] !== k) return whole();
    if (i !== keys.length) return whole();
    let patch = '{';
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j]!;
      const v = value[k];
      if (k === this.base.timeKey && v === time) continue;
      // Finite numbers (all JSON has) print the same through String() as through JSON.stringify.
      const t = typeof v === 'number' && Number.isFinite(v) ? String(v) : (JSON.stringify(v) as string | undefined);
      if (t === undefined || (k !== this.base.timeKey && t === this.#texts.get(k))) continue;
      patch += `${patch.length > 1 ? ',' : ''}${this.#names[j]}:${t}`;
    }
    return { data: null, patch: `${patch}}` };
  }

  /** The item's data back, equal (as JSON) to what was encoded. */
  decode(stored: Stored, time: number): unknown {
    if (stored.data !== null) return JSON.parse(stored.data) as unknown;
    const patch = JSON.parse(stored.patch ?? '{}') as Plain;
    const base = this.#value as Plain;
    const out: Plain = {};
    for (const k of this.#keys!) out[k] = k in patch ? patch[k] : k === this.base.timeKey ? time : base[k];
    return out;
  }

  /** The item's data back as JSON text. */
  text(stored: Stored, time: number): string {
    return stored.data ?? JSON.stringify(this.decode(stored, time));
  }
}
