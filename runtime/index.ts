/**
 * sketchnet: Arduino-style sketches that serve a WebSocket, find each other over mDNS/DNS-SD
 * and acknowledge every message. See docs/API.md ("Public surface").
 *
 * This is what authors and embedders use, and all that `import … from 'sketchnet'` gives:
 * `test/package.ts` holds it to at most 60 runtime values. Everything else (the CLI's and the
 * dashboard's building blocks, protocol helpers, limits) is internal: sketchnet's own code,
 * tests and benchmarks import it by path from the module that defines it.
 */

// Sketches
export { Sketch } from './sketch.js';
export type { SketchConfig, SketchClass, SketchEvents, ListenOptions, SketchAddress } from './sketch-config.js';
export { reactive, isReactive, type LoopMethod } from './net/reactive.js';
export {
  SketchHost,
  type HostedSketch,
  type HostedState,
  type HostClock,
  type HostOutcome,
  type RestartBackoff,
  type RestartPolicy,
  type SketchHostEvents,
  type SketchHostOptions,
} from './host.js';
export type { HttpRoute, HttpRoutes } from './net/routes.js';
export type { HaEntity } from './discovery/home-assistant.js';
export type { SketchStatus } from './streams/status.js';
export type { OtlpOptions } from './net/otlp.js';
export type { Logger, LoggerOptions, LogLevel, LogFormat, LogRecord, LogStream } from './log.js';

// Pins and sensors
export { openOutput, VirtualPin, type OutputPin, type OutputOptions, type GpioBackendName, type Transition, type Bit, type OnoffClass, type OnoffGpio } from './hardware/gpio.js';
export { openInput, type InputPin, type InputOptions, type Edge, type EdgeGap } from './hardware/input.js';
export { installSafeState, releaseAllPins } from './hardware/safe-state.js';
export {
  openSensor,
  findSensors,
  SENSOR_KINDS,
  type SensorKind,
  type SensorSource,
  type RealSensorSource,
  type Reading,
  type TemperatureSensor,
  type SensorInfo,
  type SensorOptions,
  type SimulatedOptions,
  type OpenedSensor,
} from './hardware/sensors.js';

// Peers, discovery and streams
export { Peer, type PeerOptions } from './net/peer.js';
export { MdnsDiscovery, type Discovery, type MdnsDiscoveryOptions, type FoundSketch, type Announcement, type AnnounceRequest } from './discovery/mdns.js';
export { Delivery, type Stream, type StreamSpec, type PublishOptions, type StreamStatus } from './streams/stream.js';
export type { StreamItem, HistoryLimits } from './streams/history.js';
export type { DeliverPolicy } from './streams/query.js';
export type { SubscriberStatus } from './streams/subscription.js';
export type { Outbox, OutboxOptions, OutboxStatus, OutboxStore, RateLimit } from './streams/outbox.js';
export type { BrokerLinkOptions } from './net/broker-link.js';

// Errors
export { SketchError, ERROR_CODES, errors, type ErrorCode } from './errors.js';

// Options, keys and TLS (what a SketchConfig is made of)
export { resolveOptions, type OptionSchema, type OptionSpec, type OptionValues, type OptionValue } from './options.js';
export { newKey, loadKeyFile, type AccessKey, type Right } from './security/keys.js';
export type { OriginRule } from './security/origin.js';
export { loadTlsIdentity, loadCa, type TlsIdentity } from './security/tls.js';
