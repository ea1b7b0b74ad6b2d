import { errors } from './errors.js';

/**
 * One option a sketch declares in its static `options` schema. The CLI turns each into a
 * `--flag` (listed by `sketch run KIND --help`); programmatic users pass them in
 * `new Kind({ options })`. Values are validated by {@link resolveOptions}.
 */
export type OptionSpec =
  | {
      type: 'number';
      /** Help text; say the unit (ms, s, °C…). */
      describe: string;
      default?: number;
      /** Smallest accepted value (inclusive). */
      min?: number;
      /** Largest accepted value (inclusive). */
      max?: number;
      /** Only whole numbers are accepted. */
      integer?: boolean;
    }
  | { type: 'string'; describe: string; default?: string; choices?: readonly string[] }
  | { type: 'boolean'; describe: string; default?: boolean };

/** A sketch's option schema: option name (camelCase, becomes `--kebab-case`) → spec. */
export type OptionSchema = Record<string, OptionSpec>;

/** The value type an {@link OptionSpec} yields. */
export type OptionValue<S extends OptionSpec> = S extends { type: 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : string;

/** The resolved option values of a schema: keys with defaults are always present. */
export type OptionValues<T extends OptionSchema> = {
  [K in keyof T]: T[K] extends { default: unknown } ? OptionValue<T[K]> : OptionValue<T[K]> | undefined;
};

/** `tacks` → `--tacks`, `activeLow` → `--active-low`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/**
 * Spreads the schema's defaults, then the given values, then validates every value.
 * Keys not in the schema are rejected.
 * @returns a new object with every schema key that has a value or default.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` with a one-line message naming the flag,
 *   what it accepts and what it got, e.g. `--tacks must be an integer ≥ 0, got -1`.
 */
export function resolveOptions<T extends OptionSchema>(schema: T, given: Record<string, unknown> = {}): OptionValues<T> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.default !== undefined) out[key] = spec.default;
  }
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!(key in schema)) throw errors.INVALID_OPTION(`unknown option ${flagName(key)}`);
    out[key] = value;
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (out[key] !== undefined) out[key] = check(key, spec, out[key]);
  }
  return out as OptionValues<T>;
}

function check(key: string, spec: OptionSpec, value: unknown): unknown {
  const flag = flagName(key);
  const got =
    typeof value === 'string' ? JSON.stringify(value) : Number.isNaN(value) ? 'a non-number' : String(value);
  switch (spec.type) {
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      const what = spec.integer ? 'an integer' : 'a number';
      const range =
        spec.min !== undefined && spec.max !== undefined
          ? ` from ${spec.min} to ${spec.max}`
          : spec.min !== undefined
            ? ` ≥ ${spec.min}`
            : spec.max !== undefined
              ? ` ≤ ${spec.max}`
              : '';
      const bad = () => errors.INVALID_OPTION(`${flag} must be ${what}${range}, got ${got}`);
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad();
      if (spec.integer && !Number.isInteger(n)) throw bad();
      if (spec.min !== undefined && n < spec.min) throw bad();
      if (spec.max !== undefined && n > spec.max) throw bad();
      return n;
    }
    case 'string': {
      if (typeof value !== 'string') throw errors.INVALID_OPTION(`${flag} must be a string, got ${got}`);
      if (spec.choices && !spec.choices.includes(value)) {
        throw errors.INVALID_OPTION(`${flag} must be one of ${spec.choices.join(', ')}, got ${got}`);
      }
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw errors.INVALID_OPTION(`${flag} must be true or false, got ${got}`);
      return value;
  }
}

/**
 * A copy of `o` without its `undefined` fields, so that spreading it over defaults
 * (`{ ...defaults, ...dropUndefined(given) }`) keeps the default where nothing was given.
 */
export function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
