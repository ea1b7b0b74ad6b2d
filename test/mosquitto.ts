import { existsSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { threeHosts } from './helpers/hosts.js';
import { startMosquitto, type Mosquitto, type MosquittoOptions } from './helpers/mosquitto.js';
import { hasOpenssl, makeCa, makeCert } from './helpers/openssl.js';

/** A broker, or undefined after printing why it was skipped. */
async function broker(what: string, options: MosquittoOptions = {}): Promise<Mosquitto | undefined> {
  const b = await startMosquitto(options);
  if ('skip' in b) {
    console.log(`  skipped: ${what}: ${b.skip}`);
    return undefined;
  }
  return b;
}

const connect = (url: string, options: IClientOptions = {}) =>
  mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options });

/** The next message on `topic` (subscribing first), as text. */
async function nextMessage(client: MqttClient, topic: string): Promise<{ payload: string; retain: boolean }> {
  const got = new Promise<{ payload: string; retain: boolean }>((resolve) => {
    const on = (t: string, payload: Buffer, packet: { retain?: boolean }) => {
      if (t !== topic) return;
      client.removeListener('message', on);
      resolve({ payload: payload.toString(), retain: !!packet.retain });
    };
    client.on('message', on);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return got;
}

test('an anonymous broker on a free loopback port carries a message from publisher to subscriber', async () => {
  const b = await broker('mosquitto');
  if (!b) return;
  try {
    assert.match(b.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const sub = await connect(b.url);
    const pub = await connect(b.url);
    const got = nextMessage(sub, 'sketchnet/t/readings');
    await pub.publishAsync('sketchnet/t/readings', '21.5', { qos: 1 });
    assert.equal(await got, { payload: '21.5', retain: false });
    await sub.endAsync();
    await pub.endAsync();
    assert.ok(b.logs().some((l) => / running$/.test(l)), b.logs().join('\n'));
  } finally {
    await b.stop();
  }
  assert.not.ok(existsSync(b.dir), 'stop() removes the temporary directory');
});

test('with users, a wrong password is refused and the ACL confines each user to its topics', async () => {
  const b = await broker('mosquitto with a password file', {
    users: { clock: 'tick-tock', iopin: 'pin-secret' },
    acl: 'user clock\ntopic readwrite sketchnet/#\n\nuser iopin\ntopic read sketchnet/#\n',
  });
  if (!b) return;
  try {
    const refused = await connect(b.url, { username: 'clock', password: 'wrong' }).then(
      (c) => (c.end(true), undefined),
      (e: Error & { code?: number }) => e,
    );
    assert.ok(refused, 'a wrong password must not connect');
    // mosquitto 2.0.11 answers 135 "Not authorized"; MQTT 5 also allows 134 "Bad User Name or Password"
    assert.ok([134, 135].includes(refused!.code!), `CONNACK reason code 134 or 135, got ${refused!.code}: ${refused!.message}`);
    const anonymous = await connect(b.url).then((c) => (c.end(true), undefined), (e: Error & { code?: number }) => e);
    assert.ok(anonymous, 'anonymous clients are refused once there are users');

    const clock = await connect(b.url, { username: 'clock', password: 'tick-tock' });
    const iopin = await connect(b.url, { username: 'iopin', password: 'pin-secret' });
    // iopin may read sketchnet/# but not write it: its message never arrives
    const got = nextMessage(clock, 'sketchnet/acl/test');
    await new Promise((r) => setTimeout(r, 50));
    const denied = await iopin.publishAsync('sketchnet/acl/test', 'from iopin', { qos: 1 }).then(() => undefined, (e: Error & { code?: number }) => e);
    assert.is(denied?.code, 135, `PUBACK reason code 135 "Not authorized": ${denied?.message}`);
    await clock.publishAsync('sketchnet/acl/test', 'from clock', { qos: 1 });
    assert.equal(await got, { payload: 'from clock', retain: false });
    await clock.endAsync();
    await iopin.endAsync();
  } finally {
    await b.stop();
  }
});

test('with persistence a retained message survives restart(); without it, it is gone', async () => {
  for (const persistence of [true, false]) {
    const b = await broker('mosquitto restart', { persistence });
    if (!b) return;
    try {
      const pub = await connect(b.url);
      await pub.publishAsync('sketchnet/t/$state', 'online', { qos: 1, retain: true });
      await pub.endAsync();
      const port = b.port;
      await b.restart();
      assert.is(b.port, port);
      const sub = await connect(b.url);
      if (persistence) {
        assert.equal(await nextMessage(sub, 'sketchnet/t/$state'), { payload: 'online', retain: true });
      } else {
        // a marker published after subscribing arrives first: nothing retained was waiting
        const first = nextMessage(sub, 'sketchnet/t/$state');
        await new Promise((r) => setTimeout(r, 50));
        await sub.publishAsync('sketchnet/t/$state', 'marker', { qos: 1 });
        assert.equal(await first, { payload: 'marker', retain: false });
      }
      await sub.endAsync();
    } finally {
      await b.stop();
    }
  }
});

test('with persistence a QoS 1 message queued for an offline session is delivered after restart()', async () => {
  const b = await broker('mosquitto sessions', { persistence: true });
  if (!b) return;
  try {
    const session = { clientId: `session-${process.pid}`, clean: false, properties: { sessionExpiryInterval: 300 } };
    const sub = await connect(b.url, session);
    await sub.subscribeAsync('sketchnet/q/in', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(b.url);
    await pub.publishAsync('sketchnet/q/in', 'while away', { qos: 1 });
    await pub.endAsync();
    await b.restart();
    const got = new Promise<string>((resolve, reject) => {
      const again = mqtt.connect(b.url, { protocolVersion: 5, reconnectPeriod: 0, ...session });
      const timer = setTimeout(() => (again.end(true), reject(new Error(`nothing delivered to the session after restart: ${b.logs().slice(-5).join(' / ')}`))), 5000);
      again.on('message', (_t, payload) => {
        clearTimeout(timer);
        again.end(true);
        resolve(payload.toString());
      });
    });
    assert.is(await got, 'while away');
  } finally {
    await b.stop();
  }
});

test('kill() ends the broker with SIGKILL and its clients see the connection drop', async () => {
  const b = await broker('mosquitto kill');
  if (!b) return;
  const client = await connect(b.url);
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  const pid = b.pid!;
  await b.kill();
  await closed;
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  client.end(true);
});

test('a TLS listener serves mqtts:// with the given certificate', async () => {
  if (!hasOpenssl()) return console.log('  skipped: mqtts: openssl is not installed');
  const ca = makeCa();
  const cert = makeCert(ca.dir, 'broker', ['localhost', '127.0.0.1'], ca);
  const b = await broker('mosquitto over TLS', { tls: { cert: cert.certFile, key: cert.keyFile } });
  if (!b) return;
  try {
    assert.match(b.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const client = await connect(b.url, { ca: ca.cert });
    const got = nextMessage(client, 'sketchnet/tls/x');
    await client.publishAsync('sketchnet/tls/x', 'secret', { qos: 1 });
    assert.equal(await got, { payload: 'secret', retain: false });
    await client.endAsync();
    const untrusted = await connect(b.url, { rejectUnauthorized: true }).then((c) => (c.end(true), undefined), (e: Error) => e);
    assert.ok(untrusted, 'a client that does not trust the CA is refused');
  } finally {
    await b.stop();
  }
});

test('in the broker namespace of three hosts, host A publishes and host B receives through it', async () => {
  const hosts = threeHosts();
  if (!hosts.ok) return console.log(`  skipped: broker between hosts: ${hosts.reason}`);
  try {
    const b = await broker('mosquitto between hosts', { netns: hosts.broker, host: '0.0.0.0', users: { a: 'pa', b: 'pb' } });
    if (!b) return;
    try {
      const pub = hosts.execSync(hosts.a, ['mosquitto_pub', '-V', 'mqttv5', '-h', hosts.brokerAddress, '-p', String(b.port), '-u', 'a', '-P', 'pa', '-q', '1', '-r', '-t', 'sketchnet/a/$state', '-m', 'online'], { timeout: 10_000 });
      assert.is(pub.status, 0, pub.stderr + b.logs().slice(-5).join('\n'));
      const sub = hosts.execSync(hosts.b, ['mosquitto_sub', '-V', 'mqttv5', '-h', hosts.brokerAddress, '-p', String(b.port), '-u', 'b', '-P', 'pb', '-C', '1', '-W', '5', '-t', 'sketchnet/+/$state'], { timeout: 10_000 });
      assert.is(sub.status, 0, sub.stderr);
      assert.is(sub.stdout.trim(), 'online');
      // execSync blocked this process: let the broker's log lines in
      const seen = () => b.logs().some((l) => l.includes(`from ${hosts.addressOf(hosts.b)}`));
      for (let i = 0; i < 100 && !seen(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(seen(), `the broker saw B connect from B's own address: ${b.logs().join('\n')}`);
    } finally {
      await b.stop();
    }
  } finally {
    hosts.close();
  }
});

test('startMosquitto reports a missing binary as a reason to skip, not an error', async () => {
  const b = await startMosquitto({ bin: '/nonexistent/mosquitto' });
  assert.ok('skip' in b);
  assert.match((b as { skip: string }).skip, /not installed/);
});

test.run();
