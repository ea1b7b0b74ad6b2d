/**
 * A private certificate authority for one network of sketches (`sketch ca init`) and the
 * certificates it issues to each sketch (`sketch ca issue NAME`): ECDSA P-256 keys from Node's
 * Web Crypto, X.509 built by `@peculiar/x509` (RFC 5280; no hand-written ASN.1). A sketch's
 * certificate names it as `NAME` and `NAME.local` (subjectAltName, RFC 5280 §4.2.1.6), which is
 * what clients that found it by name over mDNS check.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { errors } from '../errors.js';

/** Validity of a new CA certificate, in days: 3650 (10 years). */
export const CA_DAYS = 3650;
/** Validity of a new sketch certificate, in days: 825 (the CA/Browser Forum's old ceiling). */
export const CERT_DAYS = 825;

/** Where `sketch ca` keeps its files: `$XDG_CONFIG_HOME/sketchnet/ca`, else `~/.config/sketchnet/ca`. */
export function defaultCaDir(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'sketchnet', 'ca');
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** @peculiar/x509 needs the Reflect metadata polyfill loaded first; both only when a certificate is made. */
async function x509Lib() {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(globalThis.crypto);
  return x509;
}

const serial = () => randomBytes(16).toString('hex').replace(/^[89a-f]/, '7'); // positive, 128 bits
const until = (days: number) => new Date(Date.now() + days * 86_400_000);

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Files of a CA directory. */
export interface CaFiles {
  dir: string;
  cert: string;
  key: string;
}

/** `ca.crt` and `ca.key` in `dir`. */
export function caFiles(dir: string): CaFiles {
  return { dir, cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
}

/**
 * Creates a CA in `dir`: `ca.crt` (mode 0644, give it to every client: `--ca`) and `ca.key`
 * (mode 0600, keep it on the machine that issues certificates).
 * @throws SketchError `SKETCH_ERR_CA` when `dir` already holds a CA (never overwritten).
 */
export async function initCa(dir: string, options: { name?: string; days?: number } = {}): Promise<CaFiles> {
  const files = caFiles(dir);
  if (existsSync(files.key) || existsSync(files.cert)) {
    throw errors.CA(`${dir} already holds a CA (ca.crt, ca.key): it is never overwritten; use --dir for another`);
  }
  const x509 = await x509Lib();
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${(options.name ?? 'sketchnet CA').replace(/[,=+<>#;"\\]/g, ' ')}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: until(options.days ?? CA_DAYS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeSecret(files.key, x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
  await writeFile(files.cert, cert.toString('pem'));
  return files;
}

/** A sketch instance name usable as a DNS label: letters, digits and `-`, 1–63 characters. */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Issues a certificate for the sketch `name`, signed by the CA in `dir`: `NAME.crt` and
 * `NAME.key` (0600) in `dir`. Its subjectAltName holds `NAME`, `NAME.local` and each of `hosts`
 * (DNS names or IP addresses, for clients that connect by URL).
 * @throws SketchError `SKETCH_ERR_CA` when there is no CA in `dir`, or `name` / a host is not
 *   usable in a certificate.
 */
export async function issueCert(
  dir: string,
  name: string,
  options: { hosts?: readonly string[]; days?: number } = {},
): Promise<{ cert: string; key: string }> {
  if (!NAME.test(name)) throw errors.CA(`"${name}" cannot be a certificate name: use letters, digits and "-" (a DNS label), as in --name`);
  const files = caFiles(dir);
  let caPem: string;
  let caKeyPem: string;
  try {
    [caPem, caKeyPem] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  } catch {
    throw errors.CA(`no CA in ${dir}: create one with "sketch ca init${dir === defaultCaDir() ? '' : ` --dir ${dir}`}"`);
  }
  const x509 = await x509Lib();
  const ca = new x509.X509Certificate(caPem);
  const caKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(caKeyPem), ALG, false, ['sign']);
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const names: Array<{ type: 'dns' | 'ip'; value: string }> = [
    { type: 'dns', value: name },
    { type: 'dns', value: `${name}.local` },
  ];
  for (const host of options.hosts ?? []) {
    if (isIP(host)) names.push({ type: 'ip', value: host });
    else if (/^[A-Za-z0-9.-]+$/.test(host)) names.push({ type: 'dns', value: host });
    else throw errors.CA(`--host ${JSON.stringify(host)} is neither a DNS name nor an IP address`);
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: until(options.days ?? CERT_DAYS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const out = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await writeSecret(out.key, x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
  await writeFile(out.cert, cert.toString('pem'));
  return out;
}
