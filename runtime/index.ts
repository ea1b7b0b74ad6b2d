/**
 * sketchnet: Arduino-style sketches that serve a WebSocket, find each other over
 * mDNS/DNS-SD and acknowledge every message. See docs/API.md.
 */
export { Sketch, type SketchConfig, type SketchClass, type ListenOptions, type SketchAddress } from './sketch.js';
export { reactive, isReactive, QUEUE_HIGH_WATER, type LoopMethod } from './reactive.js';
export { Peer, type PeerOptions } from './peer.js';
export {
  MdnsDiscovery,
  MemoryDiscovery,
  type Discovery,
  type MdnsDiscoveryOptions,
  type FoundSketch,
  type Announcement,
  type AnnounceRequest,
} from './discovery.js';
export {
  resolveOptions,
  flagName,
  type OptionSchema,
  type OptionSpec,
  type OptionValues,
  type OptionValue,
} from './options.js';
export { SketchError, ERROR_CODES, errors, type ErrorCode } from './errors.js';
export {
  SUBPROTOCOL,
  PROTOCOL_VERSION,
  SERVICE_TYPE,
  NO_ACK,
  PLAIN_ERROR_PREFIX,
  ackText,
  decodeReply,
  type Reply,
} from './protocol.js';
