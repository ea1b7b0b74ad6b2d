/**
 * The test kit's network: every sketch under test is announced in one shared
 * {@link MemoryDiscovery} under a number of its own instead of a TCP port (1, 2, 3…, so
 * `ws://127.0.0.1:N/`), and a connection to that address — a `Peer`'s, made through
 * `PeerOptions.createSocket` — is an in-memory socket pair ({@link MemorySocket}) handed to that
 * sketch's server as an upgrade would be (`SketchServer.serveInMemory`). Every other address (a
 * sketch under test that listens on a real port, any URL) is connected to with ws as usual.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { MemoryDiscovery } from '../discovery/mdns.js';
import { pickSubprotocol } from '../net/protocol.js';
import type { InMemoryRefusal } from '../net/sketch-server.js';
import { MemorySocket, MemoryWire, type Runner } from './memory-socket.js';

/** Takes one in-memory connection (what `SketchServer.serveInMemory` returns). */
export type Accept = (ws: WebSocket, req: IncomingMessage) => InMemoryRefusal | undefined;

interface Endpoint {
  accept: Accept;
  /** Runs the server end's event handlers (the sketch's pin scope). */
  run: Runner;
}

/** A `PeerOptions.createSocket`. */
export type CreateSocket = (url: string, protocols: string[], options: WebSocket.ClientOptions) => WebSocket;

/** See the module comment. */
export class MemoryNetwork {
  /** Where the sketches under test announce themselves and find each other by name. */
  readonly discovery = new MemoryDiscovery();
  readonly #endpoints = new Map<number, Endpoint>();
  #nextPort = 1;
  #nextClient = 1;

  /**
   * Reserves the next in-memory port (1, 2, 3…: below the range a sketch listening on port 0 is
   * given, so never a real sketch's).
   */
  port(): number {
    return this.#nextPort++;
  }

  /** Serves `accept` at `port` until the function returned is called. */
  serve(port: number, accept: Accept, run: Runner): () => void {
    const endpoint = { accept, run };
    this.#endpoints.set(port, endpoint);
    return () => {
      if (this.#endpoints.get(port) === endpoint) this.#endpoints.delete(port);
    };
  }

  /**
   * A `PeerOptions.createSocket` whose sockets run their event handlers through `run` (the
   * sending sketch's pin scope): in memory to an address served here, with ws otherwise.
   */
  createSocket(run: Runner = (fn) => fn()): CreateSocket {
    return (url, protocols, options) => {
      const port = this.#portOf(url);
      if (port === undefined) return new WebSocket(url, protocols, options);
      const client = new MemorySocket(run);
      queueMicrotask(() => this.#connect(client, port, url, protocols, options));
      return client as unknown as WebSocket;
    };
  }

  /** The in-memory port `url` names, if it is one served here. */
  #portOf(url: string): number | undefined {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const port = Number(u.port);
    return (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname === '127.0.0.1' && this.#endpoints.has(port) ? port : undefined;
  }

  /**
   * The handshake: the server end is handed to the endpoint with the upgrade request a ws client
   * would send (path and query, `host`, the subprotocols offered, the headers given: a key, the
   * sender's name); the client end then emits `upgrade` and `open`, or `error` and `close` 1006
   * as ws does for a refused upgrade (`Unexpected server response: 401`) or a port nobody serves
   * any more (`ECONNREFUSED`).
   */
  #connect(client: MemorySocket, port: number, url: string, protocols: string[], options: WebSocket.ClientOptions): void {
    const fail = (err: Error) => {
      client.emitIn('error', err);
      client.close();
    };
    const endpoint = this.#endpoints.get(port);
    if (!endpoint) return fail(Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: 'ECONNREFUSED' }));
    const u = new URL(url);
    const headers: Record<string, string> = { host: u.host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' };
    if (protocols.length) headers['sec-websocket-protocol'] = protocols.join(', ');
    for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const server = new MemorySocket(endpoint.run);
    const req = { method: 'GET', url: `${u.pathname}${u.search}`, headers, socket: new MemoryWire(server, this.#nextClient++) } as unknown as IncomingMessage;
    MemorySocket.join(client, server, pickSubprotocol(new Set(protocols)) || '');
    client.pause(); // what the server sends on accepting (a stream's first items) comes after 'open', as with ws
    const refused = endpoint.run(() => endpoint.accept(server as unknown as WebSocket, req));
    if (refused) {
      server.readyState = MemorySocket.CLOSED;
      client.readyState = MemorySocket.CONNECTING;
      return fail(new Error(`Unexpected server response: ${refused.status}`));
    }
    client.emitIn('upgrade', { statusCode: 101, headers: { upgrade: 'websocket', connection: 'Upgrade' }, socket: new MemoryWire(client, port) });
    client.emitIn('open');
    client.resume();
  }
}
