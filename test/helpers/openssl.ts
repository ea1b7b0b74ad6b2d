/**
 * Throw-away certificates made with the openssl command (Debian's openssl), for TLS tests:
 * a CA and server certificates signed by it, or self-signed ones. Returns undefined (the test
 * prints `skipped:`) when openssl is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const hasOpenssl = () => spawnSync('openssl', ['version']).status === 0;

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A CA in a new temporary directory. */
export function makeCa(cn = 'throw-away test CA'): Pem & { dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-openssl-'));
  const certFile = path.join(dir, 'ca.crt');
  const keyFile = path.join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'pipe' });
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/**
 * A server certificate for `names` (DNS names or IPs in its subjectAltName), signed by `ca`, or
 * self-signed when `ca` is undefined; files named after `file` in `dir`.
 */
export function makeCert(dir: string, file: string, names: string[], ca?: Pem): Pem {
  const certFile = path.join(dir, `${file}.crt`);
  const keyFile = path.join(dir, `${file}.key`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const ext = path.join(dir, `${file}.ext`);
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  if (ca) {
    const csr = path.join(dir, `${file}.csr`);
    execFileSync('openssl', ['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0]}`], { stdio: 'pipe' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext], { stdio: 'pipe' });
  } else {
    execFileSync('openssl', ['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`], { stdio: 'pipe' });
  }
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
