/**
 * The one registry of errors sketchnet raises. Every error a user can hit is a
 * {@link SketchError} whose `code` is one of the `SKETCH_ERR_…` names below; the
 * message is one line that says what happened and what to do. docs/API.md lists them all.
 *
 * Throw them by name: `throw errors.PEER_NOT_FOUND('iopin', 5)`.
 */
import { tooOldMessage } from './node-version.cjs';

/** Every error code sketchnet can raise, with the exit status the CLI uses for it. */
export const ERROR_CODES = {
  /** A command-line option or sketch option has a bad value. CLI exit 2. */
  SKETCH_ERR_INVALID_OPTION: 2,
  /** `sketch run NAME`: NAME is neither a built-in sketch nor a file. CLI exit 2. */
  SKETCH_ERR_UNKNOWN_SKETCH: 2,
  /** A sketch file exists but could not be read or loaded (missing import, threw while loading: then at `FILE:LINE:COLUMN`). */
  SKETCH_ERR_SKETCH_FILE: 1,
  /** A sketch file (or a file it imports) has a syntax error; the message starts with `FILE:LINE:COLUMN` and `detail` holds the line with a caret. */
  SKETCH_ERR_SKETCH_SYNTAX: 1,
  /** A sketch file loaded, but its default export is not a class extending `Sketch`. */
  SKETCH_ERR_NOT_A_SKETCH: 1,
  /** The TCP port asked for is already taken by another process. */
  SKETCH_ERR_PORT_IN_USE: 1,
  /** Listening failed for another reason (address not available, permission). */
  SKETCH_ERR_LISTEN: 1,
  /** No sketch with that instance name answered over mDNS within the discovery timeout. */
  SKETCH_ERR_PEER_NOT_FOUND: 1,
  /** A peer could not be reached, or was lost and did not come back after the retries. */
  SKETCH_ERR_PEER_UNREACHABLE: 1,
  /** The peer answered a message with an error reply (see `remoteCode`). */
  SKETCH_ERR_REMOTE: 1,
  /** A sketch's `loop` threw or rejected; sent to the peer as the error reply. */
  SKETCH_ERR_LOOP: 1,
  /** The operation needs mDNS, but the sketch runs with `mdns: false` (`--no-mdns`). */
  SKETCH_ERR_MDNS_DISABLED: 1,
  /** The sketch (or peer connection) was closed while the operation was pending. */
  SKETCH_ERR_CLOSED: 1,
  /** `run()` was called on a sketch that is already running (a sketch runs once). */
  SKETCH_ERR_ALREADY_RUNNING: 1,
  /** A message was not valid for the sketch (e.g. the buzzer got something other than 0 or 1). */
  SKETCH_ERR_BAD_MESSAGE: 1,
  /** GPIO: the pin number does not exist on the GPIO chip. */
  SKETCH_ERR_GPIO_PIN_RANGE: 1,
  /** GPIO: no permission on the sysfs GPIO files (EACCES/EPERM). */
  SKETCH_ERR_GPIO_PERMISSION: 1,
  /** GPIO: exporting or driving the pin failed (EINVAL, EBUSY…). */
  SKETCH_ERR_GPIO_EXPORT: 1,
  /** GPIO: the backend asked for (sysfs or chardev) is not usable on this machine. */
  SKETCH_ERR_GPIO_UNAVAILABLE: 1,
  /** GPIO (chardev): the line is held by another process or a kernel driver (EBUSY); the message names its consumer. */
  SKETCH_ERR_GPIO_BUSY: 1,
  /** GPIO (chardev): `--chip` names no GPIO chip, or a pin name is on no line of the chip. */
  SKETCH_ERR_GPIO_CHIP: 1,
  /** GPIO (chardev): the kernel refused to request, configure, read or drive a line (EINVAL, EIO…). */
  SKETCH_ERR_GPIO_REQUEST: 1,
  /** PWM: `--tone` asked for, but no PWM chip/channel is available (sysfs `/sys/class/pwm`). */
  SKETCH_ERR_PWM_UNAVAILABLE: 1,
  /** Thermometer: the requested sensor kind is not present on this machine. */
  SKETCH_ERR_SENSOR_NOT_FOUND: 1,
  /** Thermometer: a sensor file could not be read or held no valid reading. */
  SKETCH_ERR_SENSOR_READ: 1,
  /** `sketch` started on a Node.js older than it supports (20.19.0). Printed by the `sketch` entry point (bin/sketch.cts) before anything else loads. */
  SKETCH_ERR_NODE_VERSION: 1,
  /** A native addon (a compiled `.node` file, e.g. onoff's `epoll`) could not be loaded: built for another Node.js or machine, or not built at all. */
  SKETCH_ERR_ADDON: 1,
  /** A key file could not be read or has a bad line (`--key-file`). */
  SKETCH_ERR_KEY_FILE: 1,
  /** The peer refused the connection: no key, or a key it does not know (HTTP 401). */
  SKETCH_ERR_UNAUTHORIZED: 1,
  /** The key allows reading only, and a message was sent (the error reply's code), or the origin is not allowed (HTTP 403). */
  SKETCH_ERR_FORBIDDEN: 1,
  /** A key would go over a connection that is neither verified TLS nor loopback (pass `--insecure-key` to allow it). */
  SKETCH_ERR_INSECURE_KEY: 1,
  /** A TLS certificate, key or CA file could not be read or does not fit (`--tls-cert`, `--tls-key`, `--ca`). */
  SKETCH_ERR_TLS_FILE: 1,
  /** A peer's TLS certificate failed verification, or a peer expected to use TLS does not: maybe an impostor. */
  SKETCH_ERR_TLS_VERIFY: 1,
  /** `sketch ca`: no CA where one is needed, a CA that would be overwritten, or a name unusable in a certificate. */
  SKETCH_ERR_CA: 1,
  /** A `sketchnet.v3` request was applied already and its reply is no longer held: it is not applied again. */
  SKETCH_ERR_DUPLICATE: 1,
  /** The recorder's SQLite database (`--db FILE`) cannot be opened, created or read, or is not a recorder database. */
  SKETCH_ERR_RECORD_DB: 1,
  /** `sketch send`: a message got no acknowledgement within `--timeout` (a `loop` without `@reactive` answers nothing). */
  SKETCH_ERR_ACK_TIMEOUT: 1,
  /** `sketch check`: the TypeScript compiler (`typescript`) is not installed where it can be found. */
  SKETCH_ERR_TYPESCRIPT_MISSING: 1,
  /** `sketch service`: a unit cannot be written (no permission on the unit folder: needs root, or `--user`) or removed (none of that name, or still enabled), or `--env-file` cannot be read. */
  SKETCH_ERR_SERVICE: 1,
  /** `--broker`: the URL is not an MQTT broker URL (mqtt://, mqtts://, ws://, wss://). CLI exit 2. */
  SKETCH_ERR_BROKER_URL: 2,
  /** The MQTT broker refused the connection: bad user name or password, or not authorized (CONNACK reason code 0x86/0x87, MQTT 5 §3.2.2.2). */
  SKETCH_ERR_BROKER_AUTH: 1,
  /** The MQTT broker could not be reached (or its certificate not verified) within the time allowed. */
  SKETCH_ERR_BROKER_UNREACHABLE: 1,
  /** `sketch up`: the device file (`sketchnet.yaml`) cannot be read, is not valid YAML/JSON, or lists a sketch badly (unknown kind or option, bad value, duplicate name or port); one `FILE:LINE: …` line per problem. */
  SKETCH_ERR_DEVICE_FILE: 1,
  /** `OTEL_EXPORTER_OTLP_PROTOCOL` (or `…_TRACES_PROTOCOL`) asks for grpc or http/protobuf: sketchnet exports OTLP/HTTP with JSON only. CLI exit 2. */
  SKETCH_ERR_OTLP_PROTOCOL: 2,
  /** `sketch trace`: the sketch keeps no spans (it runs with `--no-trace`, or is older than the spans endpoint). */
  SKETCH_ERR_NOT_TRACING: 1,
  /** `sketch trace`: the sketch handled fewer requests than `--count` within `--timeout`. */
  SKETCH_ERR_TRACE_TIMEOUT: 1,
  /** `sketch push`: the device refused the push and nothing changed (no admin key, no TLS nor loopback, too large, a file that does not load, no push accepted). */
  SKETCH_ERR_PUSH_REFUSED: 1,
  /** `sketch push`: the pushed version failed (its `setup()` threw, or it failed within its probation) and the previous version runs again. */
  SKETCH_ERR_PUSH_FAILED: 1,
} as const;

/** One of the registered `SKETCH_ERR_…` codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error sketchnet raises on purpose. `message` is a single line meant for the user;
 * `code` is stable and documented; `exitCode` is the process exit status the CLI uses.
 */
export class SketchError extends Error {
  /** Stable machine-readable code, one of {@link ERROR_CODES}. */
  readonly code: ErrorCode;
  /** For `SKETCH_ERR_REMOTE`: the code the peer sent, when it sent one. */
  readonly remoteCode?: string;
  /**
   * Lines the CLI prints below the one-line `message`, when there are any: for
   * `SKETCH_ERR_SKETCH_SYNTAX` (and a sketch file that throws while loading) the source line with
   * a caret under the column.
   */
  readonly detail?: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; remoteCode?: string; detail?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SketchError';
    this.code = code;
    if (options?.remoteCode !== undefined) this.remoteCode = options.remoteCode;
    if (options?.detail !== undefined) this.detail = options.detail;
  }

  /** Exit status for the CLI: 2 for usage errors, 1 otherwise. */
  get exitCode(): number {
    return ERROR_CODES[this.code];
  }
}

const s = (seconds: number) => `${Number(seconds.toFixed(3))} s`;

/** Constructors for every error, by name. Each returns (does not throw) a {@link SketchError}. */
export const errors = {
  INVALID_OPTION: (message: string) => new SketchError('SKETCH_ERR_INVALID_OPTION', message),
  UNKNOWN_SKETCH: (name: string, builtins: readonly string[]) =>
    new SketchError(
      'SKETCH_ERR_UNKNOWN_SKETCH',
      `unknown sketch "${name}": use a built-in (${builtins.join(', ')}) or a path to a .ts/.js file`,
    ),
  SKETCH_FILE: (file: string, cause: unknown, detail?: string) =>
    new SketchError('SKETCH_ERR_SKETCH_FILE', `cannot load sketch file ${file}: ${oneLine(cause)}`, { cause, detail }),
  SKETCH_SYNTAX: (at: string, message: string, detail?: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_SKETCH_SYNTAX', `${at}: syntax error: ${message}`, { cause, detail }),
  NOT_A_SKETCH: (file: string) =>
    new SketchError(
      'SKETCH_ERR_NOT_A_SKETCH',
      `${file} has no default export extending Sketch: add "export default class … extends Sketch"`,
    ),
  PORT_IN_USE: (host: string, port: number) =>
    new SketchError(
      'SKETCH_ERR_PORT_IN_USE',
      `port ${port} on ${host} is already in use: stop the other process or pick another --port (0 = any free port)`,
    ),
  LISTEN: (host: string, port: number, cause: unknown) =>
    new SketchError('SKETCH_ERR_LISTEN', `cannot listen on ${host}:${port}: ${oneLine(cause)}`, { cause }),
  /** `broker`: the broker URL also looked at; `mdns: false`: only the broker was (`--no-mdns`). */
  PEER_NOT_FOUND: (name: string, timeoutSeconds: number, broker?: string, mdns = true) =>
    new SketchError(
      'SKETCH_ERR_PEER_NOT_FOUND',
      broker === undefined
        ? `no sketch named "${name}" answered over mDNS within ${s(timeoutSeconds)}: is it running? "sketch ls" lists the sketches on the network; wait longer with --discover-timeout SECONDS, or give its address as HOST:PORT`
        : `no sketch named "${name}" ${mdns ? 'answered over mDNS or ' : ''}is online on the broker at ${broker} within ${s(timeoutSeconds)}: is it running with --broker? "sketch ls --broker URL" lists them; wait longer with --discover-timeout SECONDS`,
    ),
  PEER_UNREACHABLE: (peer: string, detail: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_PEER_UNREACHABLE', `peer ${peer} unreachable: ${detail}`, { cause }),
  REMOTE: (peer: string, remoteCode: string, message: string) =>
    new SketchError('SKETCH_ERR_REMOTE', `${peer} replied with an error (${remoteCode}): ${message}`, { remoteCode }),
  LOOP: (cause: unknown) => new SketchError('SKETCH_ERR_LOOP', oneLine(cause), { cause }),
  MDNS_DISABLED: (name: string) =>
    new SketchError(
      'SKETCH_ERR_MDNS_DISABLED',
      `cannot look up "${name}": mDNS is off (--no-mdns); pass a ws://HOST:PORT URL instead`,
    ),
  CLOSED: (what: string) => new SketchError('SKETCH_ERR_CLOSED', `${what} was closed`),
  ALREADY_RUNNING: (name: string) =>
    new SketchError('SKETCH_ERR_ALREADY_RUNNING', `sketch "${name}" is already running: a sketch runs once; make a new one to run again`),
  BAD_MESSAGE: (message: string) => new SketchError('SKETCH_ERR_BAD_MESSAGE', message),
  GPIO_PIN_RANGE: (pin: number, chip?: { label: string; ngpio: number }) =>
    new SketchError(
      'SKETCH_ERR_GPIO_PIN_RANGE',
      chip
        ? `GPIO ${pin} does not exist on ${chip.label} (${chip.ngpio} lines): use a BCM number from 0 to ${chip.ngpio - 1}`
        : `GPIO ${pin} is not a pin number: use a BCM number (a whole number from 0 up)`,
    ),
  GPIO_PERMISSION: (pin: number | string, cause: unknown) =>
    new SketchError(
      'SKETCH_ERR_GPIO_PERMISSION',
      `no permission to use GPIO ${pin} (${oneLine(cause)}): add your user to the gpio group ("sudo adduser $USER gpio", then log in again) or run as root`,
      { cause },
    ),
  GPIO_EXPORT: (pin: number | string, detail: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_GPIO_EXPORT', `cannot export GPIO ${pin}: ${detail}`, { cause }),
  GPIO_UNAVAILABLE: (detail: string, backend: 'sysfs' | 'chardev' = 'sysfs') =>
    new SketchError(
      'SKETCH_ERR_GPIO_UNAVAILABLE',
      `${backend === 'sysfs' ? 'sysfs GPIO' : 'the GPIO character device'} is not available: ${detail}; use --gpio virtual to simulate the pins`,
    ),
  GPIO_BUSY: (pin: number | string, where: string, consumer: string, cause?: unknown) =>
    new SketchError(
      'SKETCH_ERR_GPIO_BUSY',
      `GPIO ${pin} (${where}) is held by ${consumer ? JSON.stringify(consumer) : 'another process or a kernel driver'}: stop that process (gpioinfo shows the holder), or use another pin`,
      { cause },
    ),
  GPIO_CHIP: (detail: string) => new SketchError('SKETCH_ERR_GPIO_CHIP', detail),
  GPIO_REQUEST: (pin: number | string, detail: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_GPIO_REQUEST', `GPIO ${pin}: ${detail}`, { cause }),
  PWM_UNAVAILABLE: (detail: string) =>
    new SketchError('SKETCH_ERR_PWM_UNAVAILABLE', `no PWM for --tone: ${detail}`),
  SENSOR_NOT_FOUND: (what: string, where: string, hint: string) =>
    new SketchError('SKETCH_ERR_SENSOR_NOT_FOUND', `no ${what} under ${where}: ${hint}`),
  SENSOR_READ: (sensor: string, file: string, detail: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_SENSOR_READ', `cannot read ${sensor} from ${file}: ${detail}`, { cause }),
  KEY_FILE: (where: string, detail: string) => new SketchError('SKETCH_ERR_KEY_FILE', `key file ${where}: ${detail}`),
  UNAUTHORIZED: (peer: string) =>
    new SketchError(
      'SKETCH_ERR_UNAUTHORIZED',
      `${peer} refused the connection (401): it needs a key; pass one with --key KEY or SKETCH_KEY (the peer's owner makes one with "sketch key new")`,
    ),
  FORBIDDEN: (detail: string) => new SketchError('SKETCH_ERR_FORBIDDEN', detail),
  /** `fix`: what to do about it (`sketch push` has no `--insecure-key`). */
  INSECURE_KEY: (url: string, fix = 'serve the peer over TLS (wss://) or pass --insecure-key') =>
    new SketchError('SKETCH_ERR_INSECURE_KEY', `not sending the key to ${url}: plain ws:// beyond loopback lets anyone on the network read it; ${fix}`),
  TLS_FILE: (file: string, detail: string) => new SketchError('SKETCH_ERR_TLS_FILE', `TLS file ${file}: ${detail}`),
  TLS_VERIFY: (peer: string, url: string, detail: string, cause?: unknown) =>
    new SketchError(
      'SKETCH_ERR_TLS_VERIFY',
      `cannot verify ${peer} (${url}): ${detail}; nothing was sent. It may be an impostor, or its certificate is not from the CA you trust (--ca FILE; "sketch ca init")`,
      { cause },
    ),
  CA: (detail: string) => new SketchError('SKETCH_ERR_CA', detail),
  DUPLICATE: (seq: number, window: number) =>
    new SketchError(
      'SKETCH_ERR_DUPLICATE',
      `message ${seq} was applied already; its reply is no longer held (more than ${window} replies unacknowledged)`,
    ),
  RECORD_DB: (file: string, detail: string) =>
    new SketchError(
      'SKETCH_ERR_RECORD_DB',
      `recorder database ${file}: ${detail}; check the path and its permissions (sketch run recorder --db FILE creates one)`,
    ),
  ACK_TIMEOUT: (peer: string, timeoutSeconds: number) =>
    new SketchError(
      'SKETCH_ERR_ACK_TIMEOUT',
      `no acknowledgement from ${/^wss?:\/\//i.test(peer) ? peer : `"${peer}"`} within ${s(timeoutSeconds)}: is its loop decorated with @reactive? (a loop without it answers nothing; --timeout SECONDS waits longer)`,
    ),
  TYPESCRIPT_MISSING: () =>
    new SketchError(
      'SKETCH_ERR_TYPESCRIPT_MISSING',
      'sketch check needs the TypeScript compiler, which is not installed: add it to your project with "npm install --save-dev typescript"',
    ),
  NODE_VERSION: (version: string) => new SketchError('SKETCH_ERR_NODE_VERSION', tooOldMessage(version)),
  ADDON: (addon: string, usedBy: string, why: string, fix: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_ADDON', `native addon ${addon} (${usedBy}) failed to load: ${why}; ${fix}`, { cause }),
  SERVICE: (message: string, cause?: unknown) => new SketchError('SKETCH_ERR_SERVICE', message, { cause }),
  BROKER_URL: (url: string) =>
    new SketchError('SKETCH_ERR_BROKER_URL', `--broker ${JSON.stringify(url)} is not a broker URL: give mqtt://HOST[:PORT], mqtts://HOST[:PORT], ws:// or wss://`),
  BROKER_AUTH: (url: string, reason: string) =>
    new SketchError(
      'SKETCH_ERR_BROKER_AUTH',
      `the broker at ${url} refused the connection (${reason}): check --broker-user and SKETCH_BROKER_PASSWORD, and the broker's password_file and acl_file`,
    ),
  BROKER_UNREACHABLE: (url: string, detail: string, cause?: unknown) =>
    new SketchError('SKETCH_ERR_BROKER_UNREACHABLE', `cannot reach the broker at ${url}: ${detail}`, { cause }),
  OTLP_PROTOCOL: (variable: string, value: string) =>
    new SketchError(
      'SKETCH_ERR_OTLP_PROTOCOL',
      `${variable}=${value}: sketchnet exports spans over OTLP/HTTP with JSON only; set it to http/json (or unset it) and give the collector's HTTP address (port 4318)`,
    ),
  NOT_TRACING: (name: string, detail: string) =>
    new SketchError('SKETCH_ERR_NOT_TRACING', `sketch "${name}" keeps no spans (${detail}): start it without --no-trace (an older sketchnet has no spans to show)`),
  TRACE_TIMEOUT: (name: string, seen: number, wanted: number, timeoutSeconds: number) =>
    new SketchError(
      'SKETCH_ERR_TRACE_TIMEOUT',
      seen === 0
        ? `"${name}" handled no request within ${s(timeoutSeconds)}: is anything sending to it? (wait longer with --timeout SECONDS)`
        : `"${name}" handled ${seen} of ${wanted} requests within ${s(timeoutSeconds)} (wait longer with --timeout SECONDS)`,
    ),
  /** `status`: the HTTP status of the refusal; `line`: the device's reason; `detail`: the source line and caret of a syntax error. */
  PUSH_REFUSED: (name: string, status: number, line: string, detail?: string) =>
    new SketchError('SKETCH_ERR_PUSH_REFUSED', `${name} refused the push (${status}): ${line}`, detail ? { detail } : {}),
  /** `running`: what runs again (`version 3`, `the device file's version`). */
  PUSH_FAILED: (name: string, reason: string, running: string) =>
    new SketchError('SKETCH_ERR_PUSH_FAILED', `${name}: the pushed version failed (${reason}): rolled back, ${running} runs`),
  /** `problems`: one `FILE:LINE: where: what` line each; the first is the message, the others the `detail`. */
  DEVICE_FILE: (problems: readonly string[]) =>
    new SketchError('SKETCH_ERR_DEVICE_FILE', problems[0] ?? 'the device file has a problem', problems.length > 1 ? { detail: problems.slice(1).join('\n') } : {}),
};

/** The first line of an error's message (or of `String(value)` for non-errors). */
export function oneLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  return text.split('\n', 1)[0] ?? '';
}
