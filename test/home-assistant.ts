import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HaEntity } from '../runtime/index.js';
import { haDiscoveryConfigs, haNodeId, HA_DISCOVERY_PREFIX } from '../runtime/discovery/home-assistant.js';
import Buzzer from '../sketches/buzzer.js';
import Thermometer from '../sketches/thermometer.js';
import { announceSeed, fuzz } from './helpers/fc.js';
import { haProblems, ID, schema } from './helpers/ha-schema.js';

const thermometer = () => haDiscoveryConfigs({ name: 'thermometer', kind: 'thermometer', version: '1.2.3', entities: Thermometer.homeAssistant });
const buzzer = () => haDiscoveryConfigs({ name: 'buzzer', kind: 'buzzer', version: '1.2.3', entities: Buzzer.homeAssistant });

test('the fixture names its sources and lists every required key among the allowed ones', () => {
  for (const url of Object.values(schema.$source).filter((u) => u.startsWith('http'))) assert.match(url, /^https:\/\/www\.home-assistant\.io\/integrations\//);
  for (const [name, spec] of Object.entries(schema.components)) {
    assert.match(spec.$source, /^https:\/\/www\.home-assistant\.io\/integrations\/.+\.mqtt\/$/, name);
    for (const key of spec.required) assert.ok(spec.keys[key], `${name}: required ${key} is not among its keys`);
  }
});

test("the thermometer's config is an HA temperature sensor reading sketchnet/<name>/readings, available while $state is online", () => {
  const configs = thermometer();
  assert.is(configs.length, 1);
  const [c] = configs;
  assert.is(c!.topic, `${HA_DISCOVERY_PREFIX}/sensor/thermometer/temperature/config`);
  assert.equal(haProblems(c!), []);
  assert.equal(c!.payload, {
    name: null,
    unique_id: 'sketchnet_thermometer_temperature',
    device: { identifiers: ['sketchnet_thermometer'], name: 'thermometer', manufacturer: 'sketchnet', model: 'thermometer', sw_version: '1.2.3' },
    origin: { name: 'sketchnet', sw_version: '1.2.3' },
    availability_topic: 'sketchnet/thermometer/$state',
    payload_available: 'online',
    payload_not_available: 'offline',
    state_topic: 'sketchnet/thermometer/readings',
    value_template: '{{ value_json.temperature }}',
    device_class: 'temperature',
    unit_of_measurement: '°C',
    state_class: 'measurement',
  });
});

test("the buzzer's config is an HA switch whose command topic is the loop's sketchnet/<name>/in, with 1 and 0", () => {
  const [c, ...rest] = buzzer();
  assert.is(rest.length, 0);
  assert.is(c!.topic, 'homeassistant/switch/buzzer/buzzer/config');
  assert.equal(haProblems(c!), []);
  assert.is(c!.payload.command_topic, 'sketchnet/buzzer/in');
  assert.is(c!.payload.payload_on, '1');
  assert.is(c!.payload.payload_off, '0');
  assert.is(c!.payload.qos, 1);
  assert.not.ok('state_topic' in c!.payload, 'no state topic: HA drives it optimistically');
  assert.is(c!.payload.availability_topic, 'sketchnet/buzzer/$state');
});

test('every component, path and name shape gives payloads within the documented schema', () => {
  const entities: HaEntity[] = [
    { component: 'sensor', objectId: 'plain', stream: '/readings' },
    { component: 'sensor', objectId: 'named-one', name: 'Greenhouse', stream: '/deep/path', unit: 'hPa', deviceClass: 'pressure', stateClass: 'measurement' },
    { component: 'binary_sensor', objectId: 'door', stream: '/door', deviceClass: 'door', payloadOn: 'open', payloadOff: 'closed', valueTemplate: '{{ value }}' },
    { component: 'switch', objectId: 'relay_1', command: '/relay/1', stream: '/relay', payloadOn: 'on', payloadOff: 'off', valueTemplate: '{{ value_json.on }}' },
  ];
  for (const name of ['iopin', 'iopin (2)', 'Küche', '温度计', 'a/b+c#d']) {
    const configs = haDiscoveryConfigs({ name, kind: 'custom', version: '0.0.1', entities });
    assert.is(configs.length, entities.length);
    for (const c of configs) assert.equal(haProblems(c), [], `${name}: ${c.topic}`);
    assert.equal(new Set(configs.map((c) => c.payload.unique_id)).size, entities.length, 'unique ids');
  }
  const [, , , relay] = haDiscoveryConfigs({ name: 'a/b+c#d', kind: 'custom', version: '0', entities });
  assert.is(relay!.payload.command_topic, 'sketchnet/a_b_c_d/in/relay/1');
  assert.is(relay!.payload.state_topic, 'sketchnet/a_b_c_d/relay');
  assert.is(relay!.topic, 'homeassistant/switch/a_b_c_d/relay_1/config');
  const [other] = haDiscoveryConfigs({ name: 'x', kind: 'k', version: '0', entities }, { prefix: 'ha/test', root: 'site1' });
  assert.is(other!.topic, 'ha/test/sensor/x/plain/config');
  assert.is(other!.payload.state_topic, 'site1/x/readings');
  assert.is(other!.payload.availability_topic, 'site1/x/$state');
});

test('the check catches payloads that break the documented schema (so it can fail)', () => {
  const [good] = thermometer();
  const broken = (change: (p: Record<string, unknown>) => void, topic = good!.topic) => {
    const payload = structuredClone(good!.payload);
    change(payload);
    return haProblems({ topic, payload });
  };
  assert.match(broken((p) => delete p.state_topic).join(), /required state_topic is missing/);
  assert.match(broken((p) => (p.stat_t = 'x')).join(), /unknown key stat_t/);
  assert.match(broken((p) => (p.unit_of_measurement = 5)).join(), /unit_of_measurement is integer/);
  assert.match(broken((p) => (p.state_topic = 'sketchnet/+/readings')).join(), /state_topic .* has a wildcard/);
  assert.match(broken((p) => delete p.unique_id).join(), /device without unique_id/);
  assert.match(broken((p) => delete (p.device as Record<string, unknown>).identifiers).join(), /neither identifiers nor connections/);
  assert.match(broken((p) => ((p.device as Record<string, unknown>).firmware = '1')).join(), /device: unknown key firmware/);
  assert.match(broken((p) => (p.availability = [{ topic: 'x' }])).join(), /availability and availability_topic together/);
  assert.match(broken((p) => (p.qos = 3)).join(), /qos 3/);
  assert.match(broken((p) => (p.command_topic = 'x')).join(), /unknown key command_topic/);
  assert.match(broken(() => {}, 'homeassistant/sensor/iopin (2)/temperature/config').join(), /is not .*config with ids/);
  assert.match(broken(() => {}, 'homeassistant/sensor/temperature/config').join(), /is not/);
  const [sw] = buzzer();
  const noCommand = structuredClone(sw!.payload);
  delete noCommand.command_topic;
  assert.match(haProblems({ topic: sw!.topic, payload: noCommand }).join(), /required command_topic is missing/);
});

test('node_id: each run of other characters becomes one _, trimmed; a name without any allowed character is hex-coded', () => {
  assert.is(haNodeId('iopin (2)'), 'iopin_2');
  assert.is(haNodeId('iopin'), 'iopin');
  assert.is(haNodeId('Küche'), 'K_che');
  assert.is(haNodeId('my sketch.local'), 'my_sketch_local');
  assert.is(haNodeId('keep-this_one'), 'keep-this_one');
  assert.is(haNodeId('温度计'), `sketch_${Buffer.from('温度计').toString('hex')}`);
  assert.is(haNodeId('  '), 'sketch_2020');
});

announceSeed('home-assistant.ts');
fuzz(test, 'node_id: any instance name gives a non-empty node_id of [a-zA-Z0-9_-], and valid payloads', 300, fc.string({ minLength: 1, maxLength: 63, unit: 'binary' }), (name) => {
  assert.match(haNodeId(name), ID);
  for (const c of haDiscoveryConfigs({ name, kind: 'k', version: '0', entities: [...Thermometer.homeAssistant, ...Buzzer.homeAssistant] })) assert.equal(haProblems(c), []);
});

test('declarations HA cannot use are TypeErrors naming the entity', () => {
  const bad = (e: Partial<HaEntity>, options?: { prefix?: string }) => () =>
    haDiscoveryConfigs({ name: 'x', kind: 'k', version: '0', entities: [{ component: 'sensor', objectId: 'ok', stream: '/s', ...e } as HaEntity] }, options);
  assert.throws(bad({ objectId: 'has space' }), (e: Error) => e instanceof TypeError && /"has space".*\[a-zA-Z0-9_-\]/.test(e.message));
  assert.throws(bad({ stream: undefined }), /a sensor needs stream/);
  assert.throws(bad({ component: 'switch', stream: undefined }), /a switch needs command/);
  assert.throws(bad({ command: '/' }), /only a switch takes command/);
  assert.throws(bad({ component: 'binary_sensor', unit: '°C' }), /unit and stateClass are for sensors only/);
  assert.throws(bad({ payloadOn: '1' }), /not for sensors/);
  assert.throws(bad({ stream: '/in/x' }), /no topic of its own/);
  assert.throws(bad({ stream: '/$state' }), /no topic of its own/);
  assert.throws(bad({ stream: '/a+b' }), /no topic of its own/);
  assert.throws(bad({ command: '/#', component: 'switch' }), /command_topic .* is not an MQTT topic name/);
  assert.throws(bad({}, { prefix: 'home/#' }), /discovery prefix "home\/#"/);
  assert.throws(
    () => haDiscoveryConfigs({ name: 'x', kind: 'k', version: '0', entities: [{ component: 'sensor', objectId: 'a', stream: '/s' }, { component: 'sensor', objectId: 'a', stream: '/t' }] }),
    /used twice/,
  );
});

test.run();
