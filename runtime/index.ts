/**
 * sketchnet: Arduino-style sketches that serve a WebSocket, find each other over
 * mDNS/DNS-SD and acknowledge every message. See docs/API.md.
 */
export { Sketch, MAX_CONNECTIONS, UPGRADE_TIMEOUT_MS, type SketchConfig, type SketchClass, type SketchEvents, type ListenOptions, type SketchAddress } from './sketch.js';
export type { OtlpOptions } from './net/otlp.js';
export { reactive, isReactive, QUEUE_HIGH_WATER, REPLY_HIGH_WATER, TURN_SLICE, type LoopMethod, type ServeOptions } from './net/reactive.js';
export { Peer, type PeerOptions } from './net/peer.js';
export {
  BrokerClient,
  checkBrokerUrl,
  stateTopic,
  inTopic,
  streamTopic,
  replyTopic,
  topicLevel,
  shownUrl,
  BROKER_KEEPALIVE_S,
  TOPIC_ROOT,
  type BrokerOptions,
  type BrokerClientEvents,
  type Will,
} from './net/broker.js';
export { BrokerPeer, type BrokerPeerOptions } from './net/broker-peer.js';
export { serveBroker, type BrokerServeOptions, type BrokerServer } from './net/broker-serve.js';
export { BrokerLink, brokerHost, webSocketUrls, type BrokerLinkOptions, type BrokerHost, type BrokerHostParts, type BrokerLinkEvents } from './net/broker-link.js';
export { Route, lookUp, onLocalLink, onThisLan, type Lookup, type RouteKind, type RouteOptions, type Sender } from './net/route.js';
export {
  BrokerDirectory,
  onlineMessage,
  offlineWill,
  parseDescription,
  foundThroughBroker,
  type BrokerDescription,
  type BrokerEntry,
  type BrokerDirectoryEvents,
} from './discovery/broker.js';
export { parsePeerAddress, type PeerAddress } from './net/address.js';
export { Heartbeat, HEARTBEAT_MS } from './net/heartbeat.js';
export { Dedupe, DEDUPE_WINDOW, DEDUPE_SESSION_TTL_MS, DEDUPE_MAX_SESSIONS, type Outcome, type DedupeOptions } from './net/dedupe.js';
export {
  MdnsDiscovery,
  MemoryDiscovery,
  ServiceTable,
  parseTxt,
  parseStreams,
  MAX_SERVICES,
  MDNS_RECEIVE_BUFFER,
  MAX_TXT_BYTES,
  MAX_ADDRESSES,
  type ServiceTableOptions,
  type Discovery,
  type MdnsDiscoveryOptions,
  type FoundSketch,
  type Announcement,
  type AnnounceRequest,
} from './discovery/mdns.js';
export {
  resolveOptions,
  flagName,
  type OptionSchema,
  type OptionSpec,
  type OptionValues,
  type OptionValue,
} from './options.js';
export { SketchError, ERROR_CODES, errors, oneLine, type ErrorCode } from './errors.js';
export { addonError, KNOWN_ADDONS } from './addon.js';
export { printable, quoted, LOG_TEXT_MAX } from './text.js';
export { createLogger, logTimes, lineStream, LOG_LEVELS, LOG_FORMATS, type Logger, type LoggerOptions, type LogLevel, type LogFormat, type LogRecord, type LogStream } from './log.js';
export {
  SketchHost,
  HOSTED_STATES,
  RESTART_POLICIES,
  RESTART_BACKOFF,
  type HostedSketch,
  type HostedState,
  type HostClock,
  type HostOutcome,
  type RestartBackoff,
  type RestartPolicy,
  type SketchHostEvents,
  type SketchHostOptions,
} from './host.js';
export { Gate, type GateOptions, type Verdict } from './security/gate.js';
export {
  newKey,
  keyLine,
  parseKeys,
  loadKeyFile,
  KeyRing,
  presentedKey,
  KEY_BYTES,
  MIN_KEY_CHARS,
  MAX_KEY_CHARS,
  BEARER_PROTOCOL_PREFIX,
  type AccessKey,
  type Right,
} from './security/keys.js';
export { originAllowed, parseOrigins, type OriginRule } from './security/origin.js';
export { keySafe, keyHeaders, type KeyUse } from './security/transport.js';
export { loadTlsIdentity, loadCa, identityFor, clientTlsOptions, verifyError, type TlsIdentity } from './security/tls.js';
export { initCa, issueCert, caFiles, defaultCaDir, CA_DAYS, CERT_DAYS, type CaFiles } from './security/ca.js';
export { MIN_NODE, isTooOld } from './node-version.cjs';
export {
  SUBPROTOCOL,
  PROTOCOL_VERSION,
  SERVICE_TYPE,
  NO_ACK,
  PLAIN_ERROR_PREFIX,
  ackText,
  decodeReply,
  encodeCredit,
  decodeCredit,
  MAX_CREDIT,
  type Reply,
  type ItemFrame,
  type GapFrame,
  type GapReason,
  type SubscribedFrame,
} from './net/protocol.js';
export { Stream, Delivery, type StreamSpec, type PublishOptions, type StreamStatus } from './streams/stream.js';
export { History, DEFAULT_HISTORY, MAX_HISTORY_ITEMS, MAX_HISTORY_BYTES, type StreamItem, type HistoryLimits } from './streams/history.js';
export {
  parseDeliverPolicy,
  DEFAULT_DELIVER_POLICY,
  STREAM_QUERY_PARAMETERS,
  parseCredit,
  type DeliverPolicy,
  type ParsedPolicy,
  type ParsedCredit,
} from './streams/query.js';
export { Confirmation, Credit, pingIntervalMs, PING_MIN_BYTES, DEFAULT_STALE_AFTER_MS, MIN_STALE_AFTER_MS, MAX_STALE_AFTER_MS, DEFAULT_MAX_CREDIT } from './streams/flow.js';
export { STALLED_CLOSE_GRACE_MS, type SubscriberStatus } from './streams/subscription.js';
export { STATUS_PATH, type SketchStatus } from './streams/status.js';
export { findRoute, answerRoute, sendText, sendJson, type HttpRoute, type HttpRoutes } from './net/routes.js';
export { Directory, type DirectoryOptions, type DirectoryEvents, type SketchCard, type StreamCard } from './dashboard/directory.js';
export { Relay, type RelayOptions, type Point } from './dashboard/relay.js';
export { numericFields, MAX_FIELDS } from './streams/fields.js';
export { getJson, httpUrl, reach, MAX_JSON_BYTES, type ClientSecurity } from './net/client.js';
export { fetchStatus, STATUS_TIMEOUT_MS, MAX_STATUS_BYTES, type FetchStatusOptions } from './discovery/status.js';
export { haDiscoveryConfigs, haNodeId, HA_DISCOVERY_PREFIX, type HaEntity } from './discovery/home-assistant.js';
export {
  DashboardServer,
  pageDir,
  WINDOWS,
  HISTORY_POINTS,
  RELAY_POINTS,
  RECORDER_TIMEOUT_MS,
  type DashboardServerOptions,
  type PlotHistory,
  type LivePoint,
} from './dashboard/server.js';
export {
  Outbox,
  MemoryOutboxStore,
  parseRate,
  DEFAULT_OUTBOX,
  MAX_OUTBOX_ITEMS,
  MAX_OUTBOX_BATCH,
  type OutboxOptions,
  type OutboxConfig,
  type OutboxStatus,
  type OutboxStore,
  type RateLimit,
} from './streams/outbox.js';
export {
  openOutput,
  VirtualPin,
  resolveSysfsNumber,
  findSocChip,
  listGpioChips,
  defaultSysfsRoot,
  type OutputPin,
  type OutputOptions,
  type GpioBackendName,
  type GpioChip,
  type Transition,
  type Bit,
  type OnoffClass,
  type OnoffGpio,
} from './hardware/gpio.js';
export { openInput, type InputPin, type InputOptions, type Edge, type EdgeGap } from './hardware/input.js';
export { installSafeState, uninstallSafeState, releaseAllPins, holdPin, openPins, type HeldPin } from './hardware/safe-state.js';
export {
  openSensor,
  findSensors,
  parseW1Slave,
  resolveSysfsRoot,
  SENSOR_KINDS,
  DS18B20_POWER_ON_VALUE,
  type SensorKind,
  type SensorSource,
  type RealSensorSource,
  type Reading,
  type TemperatureSensor,
  type SensorInfo,
  type SensorOptions,
  type SimulatedOptions,
  type OpenedSensor,
  type W1SlaveData,
} from './hardware/sensors.js';
