/**
 * Home Assistant's documented MQTT discovery schema (test/fixtures/home-assistant/schema.json,
 * transcribed from HA's sensor.mqtt, binary_sensor.mqtt and switch.mqtt pages) as a checker:
 * test/home-assistant.ts checks the payloads `haDiscoveryConfigs` builds, test/cli-broker.ts the
 * ones a running sketch published.
 */
import { readFileSync } from 'node:fs';

/** HA's documented discovery schema, transcribed in test/fixtures/home-assistant/schema.json. */
export interface KeySet {
  required: string[];
  keys: Record<string, string[]>;
}
export interface Schema {
  $source: Record<string, string>;
  topic: { format: string; id_pattern: string };
  rules: { qos: number[]; topic_keys: string[] };
  device: KeySet;
  origin: KeySet;
  components: Record<string, KeySet & { $source: string }>;
}
/** The fixture as read. */
export const schema = JSON.parse(readFileSync(new URL('../fixtures/home-assistant/schema.json', import.meta.url), 'utf8')) as Schema;
/** node_id and object_id as HA allows them. */
export const ID = new RegExp(schema.topic.id_pattern);

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'map' : Number.isInteger(v) ? 'integer' : typeof v);

/** A topic one may publish to (MQTT 5 §4.7): non-empty, no wildcard, no NUL, ≤ 65 535 bytes. */
const topicProblem = (t: unknown) =>
  typeof t !== 'string' || t === '' ? 'empty' : /[+#\u0000]/.test(t) ? 'has a wildcard or NUL' : Buffer.byteLength(t) > 65535 ? 'too long' : undefined;

function checkKeys(where: string, value: Record<string, unknown>, set: KeySet, problems: string[]) {
  for (const key of set.required) if (!(key in value)) problems.push(`${where}: required ${key} is missing`);
  for (const [key, v] of Object.entries(value)) {
    const types = set.keys[key];
    if (!types) problems.push(`${where}: unknown key ${key}`);
    else if (!types.includes(typeOf(v))) problems.push(`${where}: ${key} is ${typeOf(v)}, HA documents ${types.join(' or ')}`);
  }
}

/** Everything in one discovery message that HA's documentation does not allow; [] when none. */
export function haProblems(message: { topic: string; payload: Record<string, unknown> }): string[] {
  const problems: string[] = [];
  const levels = message.topic.split('/');
  const component = levels[1] ?? '';
  const spec = schema.components[component];
  if (!spec) return [`topic ${message.topic}: no component ${component}`];
  if (topicProblem(message.topic)) problems.push(`topic ${message.topic}: ${topicProblem(message.topic)}`);
  if (levels.length !== 5 || levels[4] !== 'config' || !ID.test(levels[2]!) || !ID.test(levels[3]!))
    problems.push(`topic ${message.topic} is not ${schema.topic.format.replace('[<node_id>/]', '<node_id>/')} with ids ${schema.topic.id_pattern}`);
  const p = message.payload;
  checkKeys(component, p, spec, problems);
  if (typeOf(p.device) === 'map') {
    const device = p.device as Record<string, unknown>;
    checkKeys(`${component}.device`, device, schema.device, problems);
    if (!('unique_id' in p)) problems.push(`${component}: device without unique_id`);
    if (!('identifiers' in device) && !('connections' in device)) problems.push(`${component}.device: neither identifiers nor connections`);
  }
  if (typeOf(p.origin) === 'map') checkKeys(`${component}.origin`, p.origin as Record<string, unknown>, schema.origin, problems);
  if ('availability' in p && 'availability_topic' in p) problems.push(`${component}: availability and availability_topic together`);
  if ('qos' in p && !schema.rules.qos.includes(p.qos as number)) problems.push(`${component}: qos ${p.qos}`);
  for (const key of schema.rules.topic_keys) {
    if (key in p && topicProblem(p[key])) problems.push(`${component}: ${key} ${JSON.stringify(p[key])} ${topicProblem(p[key])}`);
  }
  return problems;
}

/** {@link haProblems} for a topic and payload apart. */
export function haConfigProblems(topic: string, payload: Record<string, unknown>): string[] {
  return haProblems({ topic, payload });
}
