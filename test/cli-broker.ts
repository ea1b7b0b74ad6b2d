/**
 * The CLI through an MQTT 5 broker, end to end: the real `dist/bin/sketch.cjs` in separate
 * processes on two test hosts (test/helpers/hosts.ts) that share a broker (mosquitto, with a
 * password) but no multicast, so whatever crosses from host A to host B crosses the broker.
 * Needs root (network namespaces) and mosquitto; prints `skipped: <reason>` otherwise.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { haConfigProblems } from './helpers/ha-schema.js';
import { threeHosts, type ThreeHosts } from './helpers/hosts.js';
import { onHost, sketchOn, type HostProcess } from './helpers/host-cli.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { runCli } from './helpers/net.js';

const USER = 'maker';
const PASSWORD = 'correct horse';
const ENV = { SKETCH_BROKER_PASSWORD: PASSWORD, SKETCH_BROKER: '', SKETCH_BROKER_USER: '' };

let hosts: ThreeHosts | undefined;
let broker: Mosquitto | undefined;
let skip: string | undefined;
const running: HostProcess[] = [];

test.before(async () => {
  const h = threeHosts();
  if (!h.ok) return void (skip = h.reason);
  hosts = h;
  const b = await startMosquitto({ netns: h.broker, host: h.brokerAddress, users: { [USER]: PASSWORD } });
  if ('skip' in b) return void (skip = b.skip);
  broker = b;
  if (spawnSync('mosquitto_sub', ['--help']).error) skip = 'mosquitto_sub is not installed (apt-get install mosquitto-clients)';
});

test.after.each(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

test.after(async () => {
  await broker?.stop();
  hosts?.close();
});

/** `--broker URL --broker-user maker` (the password goes in the environment). */
const brokerArgs = () => ['--broker', broker!.url, '--broker-user', USER];

/** `sketch ARGS…` on host `ns`, stopped after the test. */
function sketch(ns: string, args: string[], env: NodeJS.ProcessEnv = ENV): HostProcess {
  const p = sketchOn(hosts!, ns, args, env);
  running.push(p);
  return p;
}

/** A sketch on host `ns` with the broker, once it says it is online there. */
async function online(ns: string, args: string[]): Promise<HostProcess> {
  const p = sketch(ns, [...args, ...brokerArgs()]);
  await p.waitFor(/online on the broker at \S+ as "[^"]+"/, 15_000);
  return p;
}

/** `mosquitto_sub -V mqttv5 … -v -t TOPIC` on host `ns`, as the maker. */
function mosquittoSub(ns: string, topic: string, extra: string[] = []): HostProcess {
  const p = onHost(hosts!, ns, 'mosquitto_sub', ['-V', 'mqttv5', '-h', broker!.host, '-p', String(broker!.port), '-u', USER, '-P', PASSWORD, '-v', '-t', topic, ...extra]);
  running.push(p);
  return p;
}

/** The lines of a stderr that start with `sketch:` (what the CLI says about a failure). */
const sketchLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('sketch:'));

/** Runs `fn` unless the hosts or the broker cannot be had here. */
function hostsTest(name: string, fn: (h: ThreeHosts) => Promise<void>): void {
  test(name, async () => {
    if (skip || !hosts || !broker) return console.log(`  skipped: ${skip ?? 'no test hosts'}`);
    await fn(hosts);
  });
}

hostsTest('the clock on host B reaches the iopin on host A through the broker: 5 acknowledgements, exit 0', async (h) => {
  await online(h.a, ['run', 'iopin', '--gpio', 'virtual']);
  const clock = sketch(h.b, ['run', 'clock', '--tacks', '5', '--delay', '0', ...brokerArgs()]);
  assert.is(await clock.exited(), 0, clock.stdout() + clock.stderr());
  const out = clock.stdout() + clock.stderr();
  assert.match(out, /found "iopin" on the broker, not on this link: requests go through the broker/);
  const acks = clock.stdout().split('\n').filter((l) => / < /.test(l));
  assert.is(acks.length, 5, clock.stdout());
  for (const line of acks) assert.match(line, / < \[[01](,[01])*\]$/);
});

hostsTest('sketch ls --broker on host B lists the iopin of host A with VIA broker, and its own sketch with VIA mdns+broker', async (h) => {
  await online(h.a, ['run', 'iopin', '--gpio', 'virtual']);
  await online(h.b, ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.5']);
  const ls = sketch(h.b, ['ls', ...brokerArgs()]);
  assert.is(await ls.exited(), 0, ls.stdout() + ls.stderr());
  const lines = ls.stdout().split('\n');
  assert.match(lines[0]!, /^NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS\s+UPTIME\s+CONNECTIONS\s+VIA$/);
  const row = (name: string) => lines.find((l) => l.startsWith(`${name} `))?.split(/\s+/);
  const iopin = row('iopin');
  assert.ok(iopin, ls.stdout());
  assert.is(iopin![1], 'iopin');
  assert.is(iopin![2], h.addressOf(h.a), 'the address its presence advertises');
  assert.is(iopin![iopin!.length - 1], 'broker');
  assert.is(row('thermometer')?.at(-1), 'mdns+broker', ls.stdout());

  const json = sketch(h.b, ['ls', '--json', ...brokerArgs()]);
  assert.is(await json.exited(), 0, json.stderr());
  const list = JSON.parse(json.stdout()) as Array<{ name: string; kind: string; via: string; streams: string[] }>;
  assert.equal(
    list.map((s) => [s.name, s.kind, s.via]),
    [
      ['thermometer', 'thermometer', 'mdns+broker'],
      ['iopin', 'iopin', 'broker'],
    ],
  );

  // --watch: the broker's sketches in every frame too (one JSON array per frame when piped)
  const watch = sketch(h.b, ['ls', '--watch', '--json', '--interval', '0.5', ...brokerArgs()]);
  await watch.waitFor(/"name":"iopin"[^\n]*"via":"broker"/);
  await watch.stop('SIGTERM');
  assert.is(watch.child.exitCode, 0, watch.stderr());
});

hostsTest('sketch send iopin 1 --broker from host B gets the acknowledgement (also with --no-mdns); an unknown name fails in one line', async (h) => {
  await online(h.a, ['run', 'iopin', '--gpio', 'virtual']);
  for (const extra of [[], ['--no-mdns']]) {
    const send = sketch(h.b, ['send', 'iopin', '1', '2', ...extra, ...brokerArgs()]);
    assert.is(await send.exited(), 0, send.stderr());
    assert.match(send.stdout(), /^\[[01],[01],[01]\]\n\[[01],[01],[01]\]\n$/);
    assert.is(send.stderr(), '');
  }
  // a loop without @reactive answers nothing: --timeout holds through the broker too
  await online(h.a, ['run', 'test/fixtures/sketches/unacknowledged.ts', '--name', 'silent']);
  const silent = sketch(h.b, ['send', 'silent', 'x', '--timeout', '1', ...brokerArgs()]);
  assert.is(await silent.exited(), 1);
  assert.equal(sketchLines(silent.stderr()).length, 1, silent.stderr());
  assert.match(silent.stderr(), /^sketch: no acknowledgement from "silent" within 1 s/);

  const missing = sketch(h.b, ['send', 'nobody-here', '1', '--discover-timeout', '1', ...brokerArgs()]);
  assert.is(await missing.exited(), 1);
  assert.is(missing.stdout(), '');
  assert.equal(sketchLines(missing.stderr()).length, 1, missing.stderr());
  assert.match(missing.stderr(), /^sketch: no sketch named "nobody-here" answered over mDNS or is online on the broker at mqtt:\/\/\S+ within 1 s/);
});

hostsTest('sketch send with a wrong password, or to a broker nobody answers on, fails with one line and exit 1', async (h) => {
  const wrong = sketch(h.b, ['send', 'iopin', '1', ...brokerArgs()], { ...ENV, SKETCH_BROKER_PASSWORD: 'wrong' });
  assert.is(await wrong.exited(), 1);
  assert.equal(sketchLines(wrong.stderr()), [wrong.stderr().trimEnd()], 'one line');
  assert.match(wrong.stderr(), /refused the connection .*check --broker-user and SKETCH_BROKER_PASSWORD/);

  const nobody = sketch(h.b, ['send', 'iopin', '1', '--discover-timeout', '1', '--broker', `mqtt://${h.brokerAddress}:1`], { SKETCH_BROKER_PASSWORD: '' });
  assert.is(await nobody.exited(), 1);
  assert.equal(sketchLines(nobody.stderr()), [nobody.stderr().trimEnd()], 'one line');
  assert.match(nobody.stderr(), /^sketch: cannot reach the broker at mqtt:\/\/\S+:1: ECONNREFUSED/, nobody.stderr());
});

hostsTest('sketch run iopin with a wrong password: one line, exit 1, no stack', async (h) => {
  const iopin = sketch(h.a, ['run', 'iopin', '--gpio', 'virtual', ...brokerArgs()], { ...ENV, SKETCH_BROKER_PASSWORD: 'wrong' });
  assert.is(await iopin.exited(), 1);
  assert.equal(sketchLines(iopin.stderr()).length, 1, iopin.stderr());
  assert.match(iopin.stderr(), /^sketch: the broker at mqtt:\/\/\S+ refused the connection .*SKETCH_BROKER_PASSWORD/m);
  assert.not.match(iopin.stderr(), /\n\s+at /, 'no stack');
});

hostsTest("SIGKILL of the iopin: its retained $state turns offline within 1.5 × --broker-keepalive, and a clock started after fails in one line, exit 1", async (h) => {
  const keepalive = 2;
  const iopin = await online(h.a, ['run', 'iopin', '--gpio', 'virtual', '--broker-keepalive', String(keepalive)]);
  const state = mosquittoSub(h.b, 'sketchnet/iopin/$state');
  await state.waitFor(/^sketchnet\/iopin\/\$state online$/m);
  iopin.child.kill('SIGKILL');
  await state.waitFor(/^sketchnet\/iopin\/\$state offline$/m, 1.5 * keepalive * 1000);
  // retained: a subscriber that comes later is told at once
  const later = mosquittoSub(h.b, 'sketchnet/iopin/$state', ['-C', '1', '-W', '5']);
  assert.is(await later.exited(), 0, later.stderr());
  assert.is(later.stdout(), 'sketchnet/iopin/$state offline\n');

  const clock = sketch(h.b, ['run', 'clock', '--tacks', '1', '--discover-timeout', '1', ...brokerArgs()]);
  assert.is(await clock.exited(), 1);
  assert.equal(sketchLines(clock.stderr()).length, 1, clock.stderr());
  assert.match(clock.stderr(), /^sketch: no sketch named "iopin" answered over mDNS or is online on the broker at \S+ within 1 s/m);
  assert.not.match(clock.stderr(), /\n\s+at /, 'no stack');
});

hostsTest("mosquitto_sub on sketchnet/+/readings receives the thermometer's readings as plain JSON", async (h) => {
  await online(h.a, ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.2']);
  const sub = mosquittoSub(h.b, 'sketchnet/+/readings', ['-C', '3', '-W', '10']);
  assert.is(await sub.exited(), 0, sub.stderr());
  const lines = sub.stdout().trimEnd().split('\n');
  assert.is(lines.length, 3);
  for (const line of lines) {
    const [topic, ...rest] = line.split(' ');
    assert.is(topic, 'sketchnet/thermometer/readings');
    const reading = JSON.parse(rest.join(' ')) as { temperature: unknown };
    assert.type(reading.temperature, 'number', line);
  }
});

hostsTest('sketch tap thermometer --broker on host B prints each reading as its data, and exits 0 after --count', async (h) => {
  await online(h.a, ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.2']);
  const tap = sketch(h.b, ['tap', 'thermometer/readings', '--count', '3', ...brokerArgs()]);
  assert.is(await tap.exited(), 0, tap.stderr());
  const lines = tap.stdout().trimEnd().split('\n');
  assert.is(lines.length, 3, tap.stdout());
  for (const line of lines) assert.type((JSON.parse(line) as { temperature: unknown }).temperature, 'number', line);
  assert.match(tap.stderr(), /tapping sketchnet\/thermometer\/readings at mqtt:\/\//);

  const history = sketch(h.b, ['tap', 'thermometer', '--last', '5', ...brokerArgs()]);
  assert.is(await history.exited(), 1);
  assert.match(history.stderr(), /^sketch: --last, --since and --all read a stream's history/);

  // on its own link it is tapped over WebSocket as ever: SEQ TIME DATA, history included
  await online(h.b, ['run', 'thermometer', '--name', 'near', '--sensor', 'simulated', '--interval', '0.2']);
  const near = sketch(h.b, ['tap', 'near', '--last', '2', '--count', '3', ...brokerArgs()]);
  assert.is(await near.exited(), 0, near.stderr());
  const items = near.stdout().trimEnd().split('\n');
  assert.is(items.length, 3, near.stdout());
  for (const line of items) assert.match(line, /^\d+ \d{4}-\d\d-\d\dT\S+Z \{.*"temperature":/, near.stdout());
});

hostsTest('sketch run thermometer --ha-discovery publishes a retained homeassistant/sensor/…/config that passes the HA schema fixture', async (h) => {
  await online(h.a, ['run', 'thermometer', '--sensor', 'simulated', '--ha-discovery']);
  // --retained-only: what the broker holds for a subscriber that comes later, as Home Assistant does
  const retained = mosquittoSub(h.b, 'homeassistant/#', ['-C', '1', '-W', '5', '--retained-only']);
  assert.is(await retained.exited(), 0, retained.stderr());
  const line = retained.stdout().trimEnd();
  const space = line.indexOf(' ');
  const topic = line.slice(0, space);
  const payload = JSON.parse(line.slice(space + 1)) as Record<string, unknown>;
  assert.is(topic, 'homeassistant/sensor/thermometer/temperature/config');
  assert.equal(haConfigProblems(topic, payload), []);
  assert.is(payload.state_topic, 'sketchnet/thermometer/readings');
  assert.is(payload.availability_topic, 'sketchnet/thermometer/$state');
});

test('sketch ls --broker with a broker nobody answers on lists what mDNS found, then one line, exit 1', async () => {
  const r = await runCli(['ls', '--timeout', '0.2', '--broker', 'mqtt://127.0.0.1:1'], { SKETCH_BROKER_PASSWORD: '' });
  assert.is(r.code, 1);
  assert.match(r.stdout, /^(no sketches answered within 3 s|NAME\s+KIND\s.*\sVIA)\n/, 'the listing (of what else runs here, if anything) comes first');
  assert.match(r.stderr, /^sketch: cannot reach the broker at mqtt:\/\/127\.0\.0\.1:1: ECONNREFUSED \(waited 3 s\)\n$/);
});

test('a broker password without a user name is refused before connecting: one line, exit 2', async () => {
  const r = await runCli(['send', 'iopin', '1', '--broker', 'mqtt://127.0.0.1:1'], { SKETCH_BROKER_PASSWORD: 'secret', SKETCH_BROKER_USER: '' });
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.is(r.stderr, 'sketch: SKETCH_BROKER_PASSWORD is set but no user name: give --broker-user NAME (or set SKETCH_BROKER_USER)\n');
});

test.run();
