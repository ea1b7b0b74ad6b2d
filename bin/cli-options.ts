import type { Options } from 'yargs';
import { loadCa, type OptionSchema } from '../runtime/index.js';
import { flagName } from '../runtime/options.js';
import type { KeyUse } from '../runtime/security/transport.js';

/** Options every `sketch run` accepts, whatever the sketch. Units: seconds for times. */
export const COMMON_RUN_OPTIONS = {
  host: { type: 'string', default: '0.0.0.0', describe: 'interface address to listen on' },
  port: { type: 'number', integer: true, min: 0, max: 65535, default: 0, describe: 'TCP port; 0 picks a free one (mDNS announces it)' },
  name: { type: 'string', describe: 'mDNS instance name (default: the sketch kind)' },
  mdns: { type: 'boolean', default: true, describe: 'announce and discover over mDNS (--no-mdns turns it off)' },
  to: { type: 'string', describe: 'peer to talk to: an instance name, HOST:PORT, or a ws:// (wss://, http://, https://) URL' },
  discoverTimeout: { type: 'number', min: 0, default: 5, describe: 'seconds to look for a peer by name' },
  spool: { type: 'string', describe: 'keep what waits for --to, and the seq and history of streams, in this SQLite file: it survives a restart, a SIGKILL, a power cut (default: in memory)' },
  spoolMax: { type: 'number', min: 0.001, describe: 'MB (10^6 bytes) of items the spool holds at most; past it the oldest unsent are dropped and counted (default: no bound but --queue)' },
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

/** `--key`, `--insecure-key`, `--ca`: how a command authenticates to the sketch it connects to, and verifies it. */
export const CLIENT_SECURITY_OPTIONS = {
  key: {
    type: 'string',
    requiresArg: true,
    describe: 'access key to present to the peer (default: $SKETCH_KEY); sent only over wss:// or to loopback',
    group: 'Keys and TLS:',
  },
  'insecure-key': {
    type: 'boolean',
    default: false,
    describe: 'also send the key over plain ws:// beyond loopback, where anyone on the network can read it',
    group: 'Keys and TLS:',
  },
  ca: {
    type: 'string',
    requiresArg: true,
    describe: "CA certificate (PEM) the peer's certificate must chain to; requires the peer to serve TLS (sketch ca init)",
    group: 'Keys and TLS:',
  },
} as const satisfies Record<string, Options>;

/**
 * The key to present (`--key`, else `$SKETCH_KEY`, else none) and the CA to verify with (`--ca`).
 * @throws SketchError `SKETCH_ERR_TLS_FILE` when the CA file cannot be read.
 */
export async function clientSecurity(argv: object): Promise<KeyUse & { ca?: Buffer }> {
  const a = argv as { key?: unknown; 'insecure-key'?: unknown; ca?: unknown };
  const key = typeof a.key === 'string' ? a.key : process.env.SKETCH_KEY || undefined;
  const ca = typeof a.ca === 'string' ? await loadCa(a.ca) : undefined;
  return { key, insecureKey: a['insecure-key'] === true, ...(ca ? { ca } : {}) };
}

/** `sketch run`'s server-side security options: `--key-file`, `--allow-origin`, `--tls-cert`, `--tls-key`. */
export const SERVER_SECURITY_OPTIONS = {
  'key-file': {
    type: 'string',
    requiresArg: true,
    describe: 'file of access keys ("read KEY" / "write KEY" lines; sketch key new): connections must present one',
    group: 'Keys and TLS:',
  },
  'allow-origin': {
    type: 'string',
    array: true,
    requiresArg: true,
    describe: "browser origin allowed to connect besides the sketch's own (repeatable; * allows all)",
    group: 'Keys and TLS:',
  },
  'tls-cert': {
    type: 'string',
    requiresArg: true,
    describe: 'serve wss:// with this certificate (PEM; sketch ca issue NAME); needs --tls-key',
    group: 'Keys and TLS:',
  },
  'tls-key': {
    type: 'string',
    requiresArg: true,
    describe: "the certificate's private key (PEM)",
    group: 'Keys and TLS:',
  },
} as const satisfies Record<string, Options>;

/** `sketch run`'s tracing options: `--otlp`, `--no-trace`, `--spans` (docs/API.md, "Spans and traces"). */
export const TRACE_OPTIONS = {
  otlp: {
    type: 'string',
    requiresArg: true,
    describe: 'export spans to an OpenTelemetry collector over OTLP/HTTP JSON at this base URL, e.g. http://localhost:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT)',
    group: 'Tracing:',
  },
  trace: {
    type: 'boolean',
    default: true,
    describe: 'record spans (GET /.well-known/sketch/spans, sketch trace) and send W3C traceparent with requests (--no-trace turns it off)',
    group: 'Tracing:',
  },
  spans: {
    type: 'number',
    requiresArg: true,
    describe: 'spans kept for sketch trace, the oldest dropped first (default 2048)',
    group: 'Tracing:',
  },
  'trace-rate': {
    type: 'number',
    requiresArg: true,
    describe: 'traces this sketch starts and records per second at most (burst as many); the rest go unsampled (default 100; 0: none)',
    group: 'Tracing:',
  },
} as const satisfies Record<string, Options>;
