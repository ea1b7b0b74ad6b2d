/**
 * The shapes around a {@link Sketch}: how one is built (`SketchConfig`), where it listens, its
 * events and the static side of a sketch class. Types only.
 */
import type { Discovery } from './discovery/mdns.js';
import type { MdnsDiscovery } from './discovery/mdns.js'; // {@link MdnsDiscovery}
import type { HaEntity } from './discovery/home-assistant.js';
import type { LoggerOptions } from './log.js';
import type { BrokerLink, BrokerLinkOptions } from './net/broker-link.js';
import type { PeerOptions } from './net/peer.js';
import type { TracingConfig } from './net/tracing.js';
import type { OptionSchema } from './options.js';
import type { AccessKey } from './security/keys.js';
import type { OriginRule } from './security/origin.js';
import type { TlsIdentity } from './security/tls.js';
import type { StreamSpec } from './streams/stream.js';
import type { Sketch } from './sketch.js';

/** How a sketch is built: `new MySketch(config)`. Every field is optional; the tracing fields are {@link TracingConfig}'s. */
export interface SketchConfig extends TracingConfig {
  /** DNS-SD instance name to announce. Default: the class's `kind`. */
  name?: string;
  /** Values for the class's option schema (`static options`); defaults fill the rest. */
  options?: Record<string, unknown>;
  /**
   * Discovery to announce with and resolve peers through. Default: a new
   * {@link MdnsDiscovery}, closed with the sketch. `false` turns mDNS off (`--no-mdns`):
   * nothing is announced and peers must be `ws://` URLs.
   */
  discovery?: Discovery | false;
  /**
   * The peer this sketch talks to (`--to`): an instance name or a `ws://` URL. Default: the
   * class's `defaultTo` (the clock's is `iopin`), else none.
   */
  to?: string;
  /** How long `stream()` looks for a peer by name, in ms. Default 5000. */
  discoverTimeout?: number;
  /**
   * A SQLite file (`--spool`) holding what waits in the sketch's outboxes (`--to` on a producer),
   * one queue per peer, and its streams' epoch, seq and history (a restarted stream goes on in
   * the same epoch): it survives a restart, a SIGKILL or a power cut (see runtime/streams/spool.ts
   * and stream-spool.ts for what a power cut can still lose). Default none: in memory.
   */
  spool?: string;
  /** MB (10^6 bytes) of items the spool holds per peer at most (`--spool-max`); past it the oldest unsent are dropped and counted in the outbox's `dropped`. Default: no bound but the outbox's `maxItems`. */
  spoolMax?: number;
  /** Largest message accepted, in bytes; a bigger one closes the connection with 1009. Default 1 MiB. */
  maxPayload?: number;
  /**
   * Bytes a subscriber of a `delivery: 'all'` stream may have waiting unsent (items published
   * for it but not sent, plus its socket's unsent bytes) before it is closed with 1013 (try
   * again later) instead of falling further behind. Default 1 MiB.
   */
  maxBuffered?: number;
  /**
   * Retry, backoff, timeout and key settings for connections made by `stream()` and `outbox()`;
   * `createSocket` makes their WebSockets (the test kit connects sketches in memory with it).
   */
  peer?: Pick<PeerOptions, 'retries' | 'backoff' | 'handshakeTimeout' | 'subprotocol' | 'key' | 'insecureKey' | 'ca' | 'heartbeat' | 'ackTimeout' | 'createSocket'>;
  /**
   * Ping interval for clients, in ms: a client that misses a pong is dropped (1006), so a silent
   * link is found within two intervals. Default 5000; 0 turns it off.
   */
  heartbeat?: number;
  /**
   * Most WebSocket connections at once; one more is refused with HTTP 503 and one log line per
   * burst. Default 512 (below the 1024 open files a process gets by default, so that the sketch
   * can always answer).
   */
  maxConnections?: number;
  /**
   * How long a connection may take to send its complete upgrade request, in ms: a slow or idle
   * one (slowloris) is closed after it. Default 10 000.
   */
  upgradeTimeout?: number;
  /**
   * Access keys (`--key-file`): with any, every connection and status request must present one
   * (HTTP 401 otherwise), and only `write` keys may send messages to `loop` (a `read` key gets
   * a `SKETCH_ERR_FORBIDDEN` error reply). Default none: open to everyone who can reach it.
   */
  keys?: readonly AccessKey[];
  /**
   * Browser origins allowed besides the sketch's own (`--allow-origin`): an upgrade with any
   * other `Origin` header gets HTTP 403; `'*'` allows all. Default none.
   */
  allowOrigins?: readonly OriginRule[];
  /**
   * Serve `wss://` with this certificate (chain) and private key, PEM (`--tls-cert`,
   * `--tls-key`); the TXT record then says `tls=1`. Default none: plain `ws://`.
   */
  tls?: TlsIdentity;
  /** Where text lines go, one call per line without time (`[ Label ] text`); overrides `logging.stream`. Default: stdout. */
  log?: (line: string) => void;
  /** Format, level, times of log lines (`--log-format`, `--quiet`, `--verbose`): see `createLogger`. Default: text, `info`. */
  logging?: Omit<LoggerOptions, 'name' | 'label'>;
  /**
   * An MQTT 5 broker to be present on, serve requests and mirror streams through, and find
   * peers on besides mDNS (`--broker`; see {@link BrokerLink}). Default none.
   */
  broker?: BrokerLinkOptions;
}

/** The events a {@link Sketch} emits, with their arguments. */
export interface SketchEvents {
  /** A client connected on `channel` (its request path). */
  connection: [channel: string];
  /** A client's connection on `channel` closed with `code` (1000/1001/1005: normal; else abnormal). */
  disconnect: [channel: string, code: number];
  /** Another sketch announced our name after us: we now announce `newName`. */
  rename: [newName: string, oldName: string];
}

/** Where to listen: `run({ host, port })`. */
export interface ListenOptions {
  /** Interface address to bind. Default `0.0.0.0` (all IPv4 interfaces). */
  host?: string;
  /** TCP port; 0 (the default) picks a free one, which mDNS then announces. */
  port?: number;
}

/** Where a running sketch can be reached. */
export interface SketchAddress {
  host: string;
  port: number;
  /** `ws://HOST:PORT/` (with 127.0.0.1 for a wildcard host). */
  url: string;
  /** The instance name announced (may differ from the one asked for after a conflict). */
  name: string;
}

/** The static side of a sketch class, as the CLI and loaders see it. */
export interface SketchClass {
  new (config?: SketchConfig): Sketch;
  /** Sketch kind, announced in the TXT record (`kind=`). Default: the class name in lower case. */
  kind?: string;
  /** One-line description for `sketch run --help`. */
  description?: string;
  /** The sketch's own options (become `--flags`). */
  options?: OptionSchema;
  /** Default for `SketchConfig.to` (`--to`). */
  defaultTo?: string;
  /** The streams the sketch publishes, by path (announced in the TXT record `streams=`). */
  streams?: Record<string, StreamSpec>;
  /** Whether it drives GPIO pins with these resolved options (`sketch service install` adds the `gpio` group). */
  drivesPins?(options: Record<string, unknown>): boolean;
  /** Entities offered to Home Assistant with `--ha-discovery` (see `haDiscoveryConfigs`). */
  homeAssistant?: readonly HaEntity[];
  readonly name: string;
}
