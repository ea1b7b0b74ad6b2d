/**
 * sketchnet: Arduino-style sketches that serve a WebSocket, find each other over
 * mDNS/DNS-SD and acknowledge every message. See docs/API.md.
 */
export { Sketch, type SketchConfig, type SketchClass, type ListenOptions, type SketchAddress } from './sketch.js';
export { reactive, isReactive, QUEUE_HIGH_WATER, type LoopMethod } from './net/reactive.js';
export { Peer, type PeerOptions } from './net/peer.js';
export {
  MdnsDiscovery,
  MemoryDiscovery,
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
} from './net/protocol.js';
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
