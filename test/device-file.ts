import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkDeviceText, readDeviceFile, suggest, type DeviceResult } from '../bin/device-file.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'device-file-'));
const FILE = path.join(dir, 'sketchnet.yaml');
writeFileSync(path.join(dir, 'mine.ts'), "import { Sketch } from 'sketchnet';\nexport default class Mine extends Sketch {}\n");

const check = (text: string): Promise<DeviceResult> => checkDeviceText(text, FILE);
async function problems(text: string): Promise<string[]> {
  const r = await check(text);
  assert.not.ok(r.ok, 'refused');
  return r.ok ? [] : r.problems;
}

const GOOD = `# the example of the docs
defaults:
  discover-timeout: 10
sketches:
  - kind: buzzer
    pin: 18
    gpio: virtual
  - kind: iopin
    to: buzzer
    discoverTimeout: 2
  - kind: thermometer
    name: kitchen
    sensor: simulated
  - file: ./mine.ts
    port: 8090
  - kind: recorder
    db: ./data.db
`;

test('a good device file gives each sketch its kind or file, its instance name and its options, defaults under its own', async () => {
  const r = await check(GOOD);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  const s = r.device.sketches;
  assert.equal(s.map((x) => x.name), ['buzzer', 'iopin', 'kitchen', 'mine', 'recorder']);
  assert.equal(s.map((x) => x.spec), ['buzzer', 'iopin', 'thermometer', path.join(dir, 'mine.ts'), 'recorder'], 'a file resolves against the device file folder');
  assert.equal(s.map((x) => x.line), [5, 8, 11, 14, 16]);
  assert.is(s[0]!.argv.pin, 18);
  assert.is(s[0]!.argv['discover-timeout'], 10, 'a default');
  assert.is(s[1]!.argv['discover-timeout'], 2, 'its own value (camelCase accepted) over the default');
  assert.is(s[1]!.argv.discoverTimeout, 2, 'as yargs has it: both spellings');
  assert.is(s[3]!.argv.port, 8090);
  assert.is(s[4]!.argv.db, './data.db');
  assert.is(r.device.dir, dir);
});

test('the same device as JSON reads the same', async () => {
  const json = JSON.stringify({
    defaults: { 'discover-timeout': 10 },
    sketches: [{ kind: 'buzzer', pin: 18, gpio: 'virtual' }, { kind: 'iopin', to: 'buzzer' }, { file: './mine.ts', port: 8090 }],
  });
  const r = await checkDeviceText(json, path.join(dir, 'sketchnet.json'));
  if (!r.ok) throw new Error(r.problems.join('\n'));
  assert.equal(r.device.sketches.map((x) => [x.name, x.argv['discover-timeout'], x.argv.port]), [
    ['buzzer', 10, undefined],
    ['iopin', 10, undefined],
    ['mine', 10, 8090],
  ]);
});

test('each problem is one FILE:LINE line naming the entry, and every problem of the file is listed', async () => {
  const text = `sketches:
  - kind: buzzer
    gpio: virtual
  - kind: iopin
    too: buzzer
  - kind: thermometr
  - kind: clock
    tacks: -1
  - kind: clock
    port: 9000
  - kind: buzzer
    name: buzz2
    port: 9000
  - file: ./nope.ts
  - kind: clock
    file: ./mine.ts
  - name: q
  - kind: iopin
    quiet: true
  - kind: buzzer
    gpio: virtual
`;
  assert.equal(await problems(text), [
    `${FILE}:5: sketches[1] (iopin): unknown option "too" (did you mean "to"?)`,
    `${FILE}:6: sketches[2] (thermometr): unknown kind "thermometr" (did you mean "thermometer"?): built-ins are clock, iopin, buzzer, thermometer, recorder, dashboard, button (a sketch of your own: "file: PATH")`,
    `${FILE}:8: sketches[3] (clock): --tacks must be an integer ≥ 0, got -1`,
    `${FILE}:13: sketches[5] (buzzer): duplicate port 9000 (also sketches[4] (clock), line 9): give each its own port, or none (a free one is picked)`,
    `${FILE}:14: sketches[6] (nope.ts): file "./nope.ts" not found (relative paths start at the device file's folder, ${dir})`,
    `${FILE}:16: sketches[7]: has both "kind" and "file": give one (a built-in kind, or a sketch file)`,
    `${FILE}:17: sketches[8]: has neither "kind" nor "file": give a built-in kind (clock, iopin, buzzer, thermometer, recorder, dashboard, button) or a sketch file`,
    `${FILE}:19: sketches[9] (iopin): "quiet" is an option of "sketch up" itself, for every sketch: sketch up --quiet`,
    `${FILE}:20: sketches[10] (buzzer): duplicate instance name "buzzer" (also sketches[0] (buzzer), line 2): give each a different "name:"`,
  ]);
});

test('values are checked as sketch run checks them: types, ranges, choices, peer addresses, origins, options that go together', async () => {
  const text = `sketches:
  - kind: buzzer
    gpio: nowhere
  - kind: iopin
    to: "ws://"
  - kind: clock
    mdns: "yes"
  - kind: thermometer
    allow-origin: [42]
  - kind: recorder
    db: x.db
    tls-cert: cert.pem
  - kind: dashboard
    port: 70000
`;
  const lines = await problems(text);
  assert.is(lines.length, 6, lines.join('\n'));
  assert.match(lines[0]!, new RegExp(`^${FILE}:3: sketches\\[0\\] \\(buzzer\\): --gpio must be one of`));
  assert.match(lines[1]!, new RegExp(`^${FILE}:5: sketches\\[1\\] \\(iopin\\): `));
  assert.is(lines[2], `${FILE}:7: sketches[2] (clock): --mdns must be true or false, got "yes"`);
  assert.is(lines[3], `${FILE}:9: sketches[3] (thermometer): --allow-origin must be a string or a list of strings, got [42]`);
  assert.is(lines[4], `${FILE}:10: sketches[4] (recorder): --tls-cert and --tls-key go together: give both, or neither`, 'a check across options points at the entry');
  assert.is(lines[5], `${FILE}:14: sketches[5] (dashboard): --port must be an integer from 0 to 65535, got 70000`);
});

test('unknown keys are errors at the top level, in defaults and in entries; name and port cannot be defaults', async () => {
  const text = `defaults:
  brokr: mqtt://pi.local
  port: 8000
  pin: 18
sketch:
  - kind: clock
sketches:
  - kind: clock
`;
  assert.equal(await problems(text), [
    `${FILE}:5: unknown key "sketch" (did you mean "sketches"?): the file has "defaults:" and "sketches:"`,
    `${FILE}:2: defaults: unknown option "brokr" (did you mean "broker"?): defaults take the options of every "sketch run" (a sketch's own options go in its entry)`,
    `${FILE}:3: defaults: "port" cannot be a default: each sketch needs its own port`,
    `${FILE}:4: defaults: unknown option "pin": defaults take the options of every "sketch run" (a sketch's own options go in its entry)`,
  ]);
});

test('a YAML syntax error gives its line; a file that is not a mapping, a sketches that is not a list, an empty list: one line each', async () => {
  assert.equal(await problems('sketches:\n  - kind: clock\n    tacks: [1, 2\n'), [`${FILE}:4: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`]);
  assert.equal(await problems('sketches:\n  - kind: clock\n  - kind: clock\n    kind: iopin\n'), [`${FILE}:4: not valid YAML: Map keys must be unique`]);
  assert.equal(await problems('- kind: clock\n'), [`${FILE}:1: the file must be a mapping with a "sketches:" list (and optional "defaults:")`]);
  assert.equal(await problems('sketches:\n  kind: clock\n'), [`${FILE}:2: sketches: must be a list (each entry "- kind: NAME" or "- file: PATH")`]);
  assert.equal(await problems('sketches: []\n'), [`${FILE}:1: sketches: the list is empty: name the sketches this device runs`]);
  assert.equal(await problems('defaults: {}\n'), [`${FILE}:1: no "sketches:" list: name the sketches this device runs`]);
});

test('two sketches on port 0 (a free port each, the default) are fine; two of one kind need names', async () => {
  const r = await check('sketches:\n  - kind: clock\n    port: 0\n  - kind: clock\n    name: clock2\n    port: 0\n');
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
});

test('a missing device file is one line that says where sketch up looked', async () => {
  const r = await readDeviceFile(path.join(dir, 'none.yaml'));
  assert.equal(r.ok ? [] : r.problems, [`${path.join(dir, 'none.yaml')}: cannot read it: no such file (sketch up reads sketchnet.yaml in this folder unless given a FILE)`]);
});

test('suggestions: within two edits, else none', () => {
  assert.is(suggest('too', ['to', 'name']), ' (did you mean "to"?)');
  assert.is(suggest('completely', ['to', 'name']), '');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
