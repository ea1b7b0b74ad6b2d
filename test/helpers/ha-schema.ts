/**
 * Checks one Home Assistant MQTT discovery message against HA's documented schema, as
 * transcribed in test/fixtures/home-assistant/schema.json (the fixture test/home-assistant.ts
 * checks the generated configs with): topic shape, required and allowed keys, value types.
 * No side effects on import besides reading the fixture.
 */
import { readFileSync } from 'node:fs';

interface KeySet {
  required: string[];
  keys: Record<string, string[]>;
}
interface Schema {
  topic: { format: string; id_pattern: string };
  rules: { qos: number[]; topic_keys: string[] };
  device: KeySet;
  origin: KeySet;
  components: Record<string, KeySet>;
}

const schema = JSON.parse(readFileSync(new URL('../fixtures/home-assistant/schema.json', import.meta.url), 'utf8')) as Schema;
const ID = new RegExp(schema.topic.id_pattern);

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'map' : Number.isInteger(v) ? 'integer' : typeof v);

function checkKeys(where: string, value: Record<string, unknown>, set: KeySet, problems: string[]): void {
  for (const key of set.required) if (!(key in value)) problems.push(`${where}: required ${key} is missing`);
  for (const [key, v] of Object.entries(value)) {
    const types = set.keys[key];
    if (!types) problems.push(`${where}: unknown key ${key}`);
    else if (!types.includes(typeOf(v))) problems.push(`${where}: ${key} is ${typeOf(v)}, HA documents ${types.join(' or ')}`);
  }
}

/** Everything in one discovery message (topic and parsed JSON payload) that HA's documentation does not allow; [] when none. */
export function haConfigProblems(topic: string, payload: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const levels = topic.split('/');
  const component = levels[1] ?? '';
  const spec = schema.components[component];
  if (!spec) return [`topic ${topic}: no component ${component}`];
  if (levels.length !== 5 || levels[4] !== 'config' || !ID.test(levels[2]!) || !ID.test(levels[3]!)) problems.push(`topic ${topic} is not ${schema.topic.format}`);
  checkKeys(component, payload, spec, problems);
  if (typeOf(payload.device) === 'map') checkKeys(`${component}.device`, payload.device as Record<string, unknown>, schema.device, problems);
  if (typeOf(payload.origin) === 'map') checkKeys(`${component}.origin`, payload.origin as Record<string, unknown>, schema.origin, problems);
  if ('qos' in payload && !schema.rules.qos.includes(payload.qos as number)) problems.push(`${component}: qos ${String(payload.qos)}`);
  for (const key of schema.rules.topic_keys) {
    const t = payload[key];
    if (key in payload && (typeof t !== 'string' || t === '' || /[+#\u0000]/.test(t))) problems.push(`${component}: ${key} ${JSON.stringify(t)} is not a topic one may publish to`);
  }
  return problems;
}
