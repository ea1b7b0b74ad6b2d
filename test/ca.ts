import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { loadTlsIdentity, Peer, reactive, Sketch, SketchError, type FoundSketch } from '../runtime/index.js';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { initCa, issueCert } from '../runtime/security/ca.js';
import { runCli } from './helpers/net.js';
import { hasOpenssl } from './helpers/openssl.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'sketch-ca-'));
  dirs.push(d);
  return d;
};
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const failure = (p: Promise<unknown>) => p.then(() => assert.unreachable('expected a failure'), (e: unknown) => e as SketchError);

test('ca init makes a CA certificate and a private key only the owner can read; it never overwrites one', async () => {
  const dir = path.join(tmp(), 'ca');
  const files = await initCa(dir);
  const cert = new X509Certificate(readFileSync(files.cert));
  assert.ok(cert.ca, 'a CA certificate');
  assert.is(cert.subject, 'CN=sketchnet CA');
  assert.is(statSync(files.key).mode & 0o777, 0o600);
  const again = await failure(initCa(dir));
  assert.is(again.code, 'SKETCH_ERR_CA');
  assert.match(again.message, /already holds a CA \(ca\.crt, ca\.key\): it is never overwritten/);
});

test('ca issue NAME signs a certificate for NAME and NAME.local (and --host) that openssl verifies and a sketch serves', async () => {
  const dir = tmp();
  await initCa(dir);
  const out = await issueCert(dir, 'iopin', { hosts: ['127.0.0.1', 'pi.example'] });
  assert.is(statSync(out.key).mode & 0o777, 0o600);
  const id = await loadTlsIdentity(out.cert, out.key);
  const cert = new X509Certificate(id.cert);
  assert.is(cert.subjectAltName, 'DNS:iopin, DNS:iopin.local, IP Address:127.0.0.1, DNS:pi.example');
  assert.ok(cert.checkIssued(new X509Certificate(readFileSync(path.join(dir, 'ca.crt')))));
  if (hasOpenssl()) {
    const v = execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), out.cert], { encoding: 'utf8' });
    assert.match(v, /: OK/);
  } else console.log('skipped: openssl verify because openssl is not installed');

  class Echo extends Sketch {
    @reactive override async loop(_c: string, m: string) {
      return m;
    }
  }
  const registry = new Map<string, FoundSketch>();
  const s = new Echo({ name: 'iopin', discovery: new MemoryDiscovery(registry), tls: id, log: () => {} });
  await s.run({ host: '127.0.0.1' });
  await s.announced;
  try {
    const peer = new Peer('iopin', { discovery: new MemoryDiscovery(registry), ca: readFileSync(path.join(dir, 'ca.crt')) });
    assert.is(await peer.send('over verified TLS'), 'over verified TLS');
    await peer.close();
  } finally {
    await s.close();
  }
});

test('ca issue without a CA, or with a name or host that cannot be in a certificate, is one clear error', async () => {
  const empty = tmp();
  const none = await failure(issueCert(empty, 'iopin'));
  assert.is(none.code, 'SKETCH_ERR_CA');
  assert.is(none.message, `no CA in ${empty}: create one with "sketch ca init --dir ${empty}"`);
  const dir = tmp();
  await initCa(dir);
  for (const [name, hosts, message] of [
    ['iopin (2)', [], /^"iopin \(2\)" cannot be a certificate name: use letters, digits and "-"/],
    ['-x', [], /cannot be a certificate name/],
    ['iopin', ['bad host!'], /^--host "bad host!" is neither a DNS name nor an IP address$/],
  ] as const) {
    const e = await failure(issueCert(dir, name, { hosts }));
    assert.is(e.code, 'SKETCH_ERR_CA');
    assert.match(e.message, message);
  }
});

test('CLI: sketch ca init, then ca issue NAME, print where the files are and how to use them; errors are one line', async () => {
  const dir = path.join(tmp(), 'net');
  const init = await runCli(['ca', 'init', '--dir', dir]);
  assert.is(init.code, 0, init.stderr);
  assert.match(init.stdout, new RegExp(`^CA created: ${dir}/ca\\.crt \\(give it to clients: --ca ${dir}/ca\\.crt\\)`));
  const issue = await runCli(['ca', 'issue', 'buzzer', '--dir', dir]);
  assert.is(issue.code, 0, issue.stderr);
  assert.match(issue.stdout, new RegExp(`serve with: sketch run KIND --name buzzer --tls-cert ${dir}/buzzer\\.crt --tls-key ${dir}/buzzer\\.key`));
  const again = await runCli(['ca', 'init', '--dir', dir]);
  assert.is(again.code, 1);
  assert.is(again.stderr.split('\n').filter(Boolean).length, 1);
  const noName = await runCli(['ca', 'issue', '--dir', dir]);
  assert.is(noName.code, 2);
  assert.match(noName.stderr, /^sketch: name the sketch: sketch ca issue NAME/);
});

test.run();
