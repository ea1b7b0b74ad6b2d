/**
 * TLS for sketches: a sketch serves `wss://` with a certificate and key (`--tls-cert`,
 * `--tls-key`) and says so in its TXT record (`tls=1`); clients verify the certificate against
 * the system CAs or the network's own CA (`--ca`, made by `sketch ca init`) before they send
 * anything — the defence against an impostor announcing a sketch's name over mDNS, which
 * RFC 6762 §21 cannot give. When the peer was found by name, the certificate must be for that
 * name (`NAME` or `NAME.local` in its subjectAltName), whatever address it was found at.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { errors, type SketchError } from '../errors.js';

/** A server's certificate chain and private key, PEM. */
export interface TlsIdentity {
  cert: string | Buffer;
  key: string | Buffer;
}

async function read(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw errors.TLS_FILE(file, `cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Reads a certificate (chain) and its private key, PEM, and checks that they belong together.
 * @throws SketchError `SKETCH_ERR_TLS_FILE`: a file unreadable, not a PEM certificate or key, or a
 *   key that is not the certificate's.
 */
export async function loadTlsIdentity(certFile: string, keyFile: string): Promise<TlsIdentity> {
  const cert = await read(certFile, 'certificate');
  const key = await read(keyFile, 'private key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw errors.TLS_FILE(certFile, 'not a PEM certificate');
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw errors.TLS_FILE(keyFile, 'not a PEM private key');
  }
  if (!x509.checkPrivateKey(privateKey)) throw errors.TLS_FILE(keyFile, `this key is not the one of ${certFile}`);
  return { cert, key };
}

/**
 * Reads the CA certificate(s) a client trusts (`--ca FILE`, PEM; several may be concatenated).
 * @throws SketchError `SKETCH_ERR_TLS_FILE` when unreadable or holding no certificate.
 */
export async function loadCa(file: string): Promise<Buffer> {
  const pem = await read(file, 'CA certificate');
  try {
    new X509Certificate(pem);
  } catch {
    throw errors.TLS_FILE(file, 'not a PEM certificate');
  }
  return pem;
}

/**
 * A `checkServerIdentity` for a peer found by instance name: the certificate must name
 * `NAME.local` or `NAME` (the address it was found at says nothing). Returns an Error to refuse.
 */
export function identityFor(name: string): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const local = tls.checkServerIdentity(`${name}.local`, cert);
    if (!local) return undefined;
    return tls.checkServerIdentity(name, cert) ? local : undefined;
  };
}

/**
 * The TLS options a client connects to `url` with: the CA to trust (`ca`, else the system CAs)
 * and, for a peer found by instance name, the check that its certificate is for that name
 * ({@link identityFor}); none for `ws://`/`http://`. Pass them to `tls.connect()` (ws and
 * `https.get` pass them through).
 * @param peer how to name the peer in an error.
 * @throws SketchError `SKETCH_ERR_TLS_VERIFY` when `ca` is given but `url` is not TLS: a CA means
 *   TLS is required, so nothing is sent to an impostor that simply announces no TLS.
 */
export function clientTlsOptions(url: string | URL, peer: string, ca: string | Buffer | undefined, name?: string): tls.ConnectionOptions {
  const secure = /^(wss|https):/i.test(String(url));
  if (ca !== undefined && !secure) throw errors.TLS_VERIFY(peer, String(url), 'it does not serve TLS, but a CA was given (--ca)');
  if (!secure) return {};
  return { ...(ca !== undefined ? { ca } : {}), ...(name ? { checkServerIdentity: identityFor(name) } : {}) };
}

/** OpenSSL's and Node's codes for a certificate that failed verification. */
const VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** When `err` is a failed certificate verification, the `SKETCH_ERR_TLS_VERIFY` error to report; else undefined. */
export function verifyError(target: string, url: string, err: unknown): SketchError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !VERIFY_CODES.has(code)) return undefined;
  const reason = (err as Error).message
    .split('\n', 1)[0]!
    .replace(/^Hostname\/IP does not match certificate's altnames: /, '')
    .replace(/; if the root CA is installed locally, try running Node\.js with --use-system-ca$/, ''); // Node ≥ 24's hint: not ours to give
  return errors.TLS_VERIFY(target, url, `${reason} (${code})`, err);
}
