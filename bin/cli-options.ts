import type { Options } from 'yargs';
import { flagName, type OptionSchema } from '../runtime/index.js';

/** Options every `sketch run` accepts, whatever the sketch. Units: seconds for times. */
export const COMMON_RUN_OPTIONS = {
  host: { type: 'string', default: '0.0.0.0', describe: 'interface address to listen on' },
  port: { type: 'number', integer: true, min: 0, max: 65535, default: 0, describe: 'TCP port; 0 picks a free one (mDNS announces it)' },
  name: { type: 'string', describe: 'mDNS instance name (default: the sketch kind)' },
  mdns: { type: 'boolean', default: true, describe: 'announce and discover over mDNS (--no-mdns turns it off)' },
  to: { type: 'string', describe: 'peer to talk to: an instance name or a ws:// URL' },
  discoverTimeout: { type: 'number', min: 0, default: 5, describe: 'seconds to look for a peer by name' },
} as const satisfies OptionSchema;

/** The yargs option definitions for a schema (names become --kebab-case). */
export function yargsOptions(schema: OptionSchema, group?: string): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [key, spec] of Object.entries(schema)) {
    out[flagName(key).slice(2)] = {
      type: spec.type,
      describe: spec.describe,
      ...(spec.default !== undefined ? { default: spec.default } : {}),
      ...(spec.type === 'string' && spec.choices ? { choices: [...spec.choices] } : {}),
      ...(spec.type !== 'boolean' ? { requiresArg: true } : {}),
      ...(group ? { group } : {}),
    };
  }
  return out;
}

/** The values of `schema`'s keys in parsed yargs `argv` (camelCase keys). */
export function pick(schema: OptionSchema, argv: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) if (argv[key] !== undefined) out[key] = argv[key];
  return out;
}
