/**
 * Home Assistant MQTT discovery (`sketch run … --broker URL --ha-discovery`): the retained config
 * messages that make a sketch appear in Home Assistant as a device with entities, reading its
 * streams and driving its loop over the sketchnet topics (docs/API.md, "Home Assistant").
 *
 * Sources (Home Assistant's documentation):
 * - MQTT discovery, topic `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`,
 *   node_id and object_id in `[a-zA-Z0-9_-]`: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery
 * - MQTT Sensor: https://www.home-assistant.io/integrations/sensor.mqtt/
 * - MQTT Binary sensor: https://www.home-assistant.io/integrations/binary_sensor.mqtt/
 * - MQTT Switch: https://www.home-assistant.io/integrations/switch.mqtt/
 *
 * Payloads use HA's full key names, never the abbreviations (`stat_t`, `uniq_id`, …) that HA
 * also accepts: they are published once per start, so their length does not matter, and a
 * person reading `mosquitto_sub -t 'homeassistant/#' -v` should understand them.
 */
import { streamPathAllowed, TOPIC_ROOT, topicLevel } from '../net/broker.js';

/**
 * One entity a sketch offers Home Assistant (declared as `static homeAssistant` on a sketch
 * class). `sensor` and `binary_sensor` need `stream`; `switch` needs `command`.
 */
export interface HaEntity {
  /** The Home Assistant MQTT integration: `sensor`, `binary_sensor` or `switch`. */
  component: 'sensor' | 'binary_sensor' | 'switch';
  /** object_id, `[a-zA-Z0-9_-]`, unique among the sketch's entities of one component. */
  objectId: string;
  /** Entity name shown in HA; default: none (`name: null`: HA shows the device name alone). */
  name?: string;
  /**
   * Stream path whose topic `sketchnet/<name>/<path>` is the `state_topic` (e.g. `'/readings'`).
   * Required for `sensor` and `binary_sensor`; optional for `switch` (without it HA's switch is
   * optimistic: it assumes every command took effect).
   */
  stream?: string;
  /** Loop path whose topic `sketchnet/<name>/in[/<path>]` is the `command_topic` (e.g. `'/'`). Only and always for `switch`. */
  command?: string;
  /** HA template that extracts the state from a stream item, e.g. `{{ value_json.temperature }}`. Default: the item as it is. */
  valueTemplate?: string;
  /** HA device class, e.g. `temperature` (https://www.home-assistant.io/integrations/sensor/#device-class). Default none. */
  deviceClass?: string;
  /** `unit_of_measurement`, e.g. `°C`. `sensor` only. Default none. */
  unit?: string;
  /** `state_class`, e.g. `measurement` (HA keeps long-term statistics for it). `sensor` only. Default none. */
  stateClass?: string;
  /** Payload meaning on (switch: sent as the command; binary_sensor: compared with the state). Default HA's `ON`. */
  payloadOn?: string;
  /** Payload meaning off. Default HA's `OFF`. */
  payloadOff?: string;
}

/** Home Assistant's default discovery prefix, `homeassistant`. */
export const HA_DISCOVERY_PREFIX = 'homeassistant';

/** The characters HA allows in a node_id and an object_id. */
const ID_CHARS = /^[a-zA-Z0-9_-]+$/;

/**
 * The node_id for an instance name: each run of characters outside `[a-zA-Z0-9_-]` becomes one
 * `_`, leading and trailing `_` are dropped (`iopin (2)` → `iopin_2`, `Küche` → `K_che`). A name
 * with no such character at all (`温度计`) becomes `sketch_` and its UTF-8 bytes in hex. Two names
 * that differ only in such characters share a node_id: give sketches on one broker names that
 * differ in letters or digits.
 */
export function haNodeId(name: string): string {
  const id = name.replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return id || `sketch_${Buffer.from(name, 'utf8').toString('hex')}`;
}

/** Whether `topic` is an MQTT topic name one may publish to: non-empty, no `+`/`#` wildcards, no NUL, at most 65 535 UTF-8 bytes (MQTT 5 §4.7). */
function topicNameValid(topic: string): boolean {
  return topic.length > 0 && !/[+#\u0000]/.test(topic) && Buffer.byteLength(topic, 'utf8') <= 65535;
}

/**
 * The retained discovery messages for one sketch: one per entity, on
 * `<prefix>/<component>/<node_id>/<object_id>/config`, publish each retained, so
 * that HA finds them whenever it (re)starts. Every entity is tied to one HA device per sketch
 * (`identifiers: ["sketchnet_<node_id>"]`, name = instance name, model = kind, sw_version =
 * version), has `unique_id` `sketchnet_<node_id>_<object_id>`, and is available while the
 * sketch's `sketchnet/<name>/$state` is `online`. Removing an entity from HA is an empty
 * retained payload on the same topic (not done here).
 *
 * `options.prefix`: HA's discovery prefix (default {@link HA_DISCOVERY_PREFIX}); `options.root`:
 * the sketchnet topic root (default `sketchnet`).
 *
 * @throws TypeError for a declaration HA cannot use: an objectId outside `[a-zA-Z0-9_-]` or
 * used twice in one component, a sensor or binary_sensor without `stream`, a `stream` path
 * with no topic of its own (`/`, `/in…`, `/$…`), a switch without
 * `command`, a `command` on another component, `unit`/`stateClass` off a sensor, a prefix or a
 * topic that is not a valid MQTT topic name.
 */
export function haDiscoveryConfigs(
  sketch: { name: string; kind: string; version: string; entities: readonly HaEntity[] },
  options: { prefix?: string; root?: string } = {},
): Array<{ topic: string; payload: Record<string, unknown> }> {
  const prefix = options.prefix ?? HA_DISCOVERY_PREFIX;
  const root = options.root ?? TOPIC_ROOT;
  if (!topicNameValid(prefix) || prefix.startsWith('/') || prefix.endsWith('/')) throw new TypeError(`Home Assistant discovery prefix ${JSON.stringify(prefix)} is not an MQTT topic name`);
  const nodeId = haNodeId(sketch.name);
  const level = topicLevel(sketch.name);
  const seen = new Set<string>();
  const device = {
    identifiers: [`sketchnet_${nodeId}`],
    name: sketch.name,
    manufacturer: 'sketchnet',
    model: sketch.kind,
    sw_version: sketch.version,
  };
  return sketch.entities.map((e) => {
    const what = `Home Assistant entity ${JSON.stringify(e.objectId)} of ${sketch.kind}`;
    if (!ID_CHARS.test(e.objectId)) throw new TypeError(`${what}: objectId must be made of [a-zA-Z0-9_-]`);
    if (seen.has(`${e.component}/${e.objectId}`)) throw new TypeError(`${what}: objectId used twice for ${e.component}`);
    seen.add(`${e.component}/${e.objectId}`);
    if (e.component === 'switch' && e.command === undefined) throw new TypeError(`${what}: a switch needs command (a loop path, e.g. '/')`);
    if (e.component !== 'switch' && e.command !== undefined) throw new TypeError(`${what}: only a switch takes command`);
    if (e.component !== 'switch' && e.stream === undefined) throw new TypeError(`${what}: a ${e.component} needs stream (a stream path, e.g. '/readings')`);
    if (e.component !== 'sensor' && (e.unit !== undefined || e.stateClass !== undefined)) throw new TypeError(`${what}: unit and stateClass are for sensors only`);
    if (e.stream !== undefined && !streamPathAllowed(e.stream)) throw new TypeError(`${what}: stream ${JSON.stringify(e.stream)} has no topic of its own (not '/', not under /in or /$…, no + or #)`);
    if (e.component === 'sensor' && (e.payloadOn !== undefined || e.payloadOff !== undefined)) throw new TypeError(`${what}: payloadOn and payloadOff are not for sensors`);

    const payload: Record<string, unknown> = {
      name: e.name ?? null,
      unique_id: `sketchnet_${nodeId}_${e.objectId}`,
      device,
      origin: { name: 'sketchnet', sw_version: sketch.version },
      availability_topic: `${root}/${level}/$state`,
      payload_available: 'online',
      payload_not_available: 'offline',
    };
    if (e.stream !== undefined) payload.state_topic = `${root}/${level}/${e.stream.replace(/^\/+/, '')}`;
    if (e.command !== undefined) {
      const rest = e.command.replace(/^\/+/, '');
      payload.command_topic = `${root}/${level}/in${rest ? `/${rest}` : ''}`;
      // requests to a sketch go QoS 1 (at least once); HA publishes commands at this QoS
      payload.qos = 1;
    }
    if (e.valueTemplate !== undefined) payload.value_template = e.valueTemplate;
    if (e.deviceClass !== undefined) payload.device_class = e.deviceClass;
    if (e.unit !== undefined) payload.unit_of_measurement = e.unit;
    if (e.stateClass !== undefined) payload.state_class = e.stateClass;
    if (e.payloadOn !== undefined) payload.payload_on = e.payloadOn;
    if (e.payloadOff !== undefined) payload.payload_off = e.payloadOff;
    for (const key of ['state_topic', 'command_topic', 'availability_topic'] as const) {
      const t = payload[key] as string | undefined;
      if (t !== undefined && !topicNameValid(t)) throw new TypeError(`${what}: ${key} ${JSON.stringify(t)} is not an MQTT topic name`);
    }
    return { topic: `${prefix}/${e.component}/${nodeId}/${e.objectId}/config`, payload };
  });
}
