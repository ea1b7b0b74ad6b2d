import { errors } from '../errors.js';
import { SERVICE_TYPE } from './protocol.js';

/**
 * Where a peer is, as the user wrote it on the command line, read by {@link parsePeerAddress}:
 * - `{ kind: 'name' }`: an mDNS/DNS-SD instance name, resolved over mDNS (`iopin`).
 * - `{ kind: 'url' }`: a WebSocket URL (`ws://` or `wss://`), connected to directly.
 *
 * `target` is what {@link Peer} and `SketchConfig.to` take: the bare instance name or the URL.
 */
export type PeerAddress =
  | { kind: 'name'; name: string; target: string }
  | { kind: 'url'; url: URL; target: string };

/** Scheme a peer may be given with → the WebSocket scheme used for it. */
const SCHEMES: Readonly<Record<string, 'ws:' | 'wss:'>> = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' };

/** `HOST:PORT[/PATH]` with a DNS name, an IPv4 address or a bracketed IPv6 address. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d+)((?:[/?#]).*)?$/s;

/** A dotted-quad IPv4 address with nothing after it. */
const BARE_IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The domain suffixes of a DNS-SD name that are not part of the instance name: the full
 * service instance name `iopin._sketch._tcp.local` and the host-style `iopin.local` both mean
 * the instance `iopin` (case-insensitive, a trailing dot allowed).
 */
const NAME_SUFFIX = new RegExp(`(?:\\._${SERVICE_TYPE}\\._tcp)?\\.local\\.?$`, 'i');

const FORMS = 'an instance name, HOST:PORT, or a ws://, wss://, http:// or https:// URL';

/**
 * Reads a peer as users write it (`sketch send`, `sketch tap`, `sketch run --to`):
 *
 * | written | means |
 * | --- | --- |
 * | `ws://HOST:PORT/PATH`, `wss://…` | that URL |
 * | `http://HOST:PORT/PATH`, `https://…` | the same URL as `ws://…`, `wss://…` |
 * | `HOST:PORT`, `HOST:PORT/PATH`, `[::1]:PORT` | `ws://HOST:PORT/PATH` |
 * | `iopin.local`, `iopin._sketch._tcp.local` | the instance name `iopin` |
 * | anything else | an instance name, as written |
 *
 * A URL keeps its path and query string. Pure: nothing is resolved or connected.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` (exit 2) for an empty text, another scheme
 *   (`ftp://…`), a malformed URL, a port outside 1–65535, or a bare IPv4 address without a port.
 */
export function parsePeerAddress(text: string): PeerAddress {
  const written = text.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(written)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const ws = SCHEMES[`${scheme}:`];
    if (!ws) throw errors.INVALID_OPTION(`cannot reach a peer at ${written}: ${scheme}:// is not supported; give ${FORMS}`);
    // ws:// and wss:// are kept as written (messages name the peer as the user wrote it).
    return urlAddress(`${ws}${written.slice(scheme.length + 1)}`, written);
  }
  const hostPort = HOST_PORT.exec(written);
  if (hostPort) {
    const port = Number(hostPort[2]);
    if (!(port >= 1 && port <= 65535)) throw errors.INVALID_OPTION(`port ${hostPort[2]} in ${written} is not a TCP port: use 1 to 65535`);
    return urlAddress(`ws://${hostPort[1]}:${port}${hostPort[3] ?? ''}`, written);
  }
  if (BARE_IPV4.test(written)) {
    throw errors.INVALID_OPTION(`${written} is an address without a port: write ${written}:PORT (the port "sketch ls" shows)`);
  }
  const name = written.replace(NAME_SUFFIX, '');
  if (name === '') throw errors.INVALID_OPTION(`no peer named in "${text}": give ${FORMS}`);
  return { kind: 'name', name, target: name };
}

/** `href` checked as a URL with a host; the target keeps `href` as built (no normalising slash added). */
function urlAddress(href: string, written: string): PeerAddress {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw errors.INVALID_OPTION(`not a valid URL: ${written}`);
  }
  if (url.hostname === '') throw errors.INVALID_OPTION(`no host in ${written}: give ${FORMS}`);
  return { kind: 'url', url, target: href };
}
