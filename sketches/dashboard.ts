import { errors, MdnsDiscovery, reactive, Sketch, type Discovery, type HttpRoutes, type OptionValues, type SketchConfig } from '../runtime/index.js';
import { Directory } from '../runtime/dashboard/directory.js';
import { DashboardServer } from '../runtime/dashboard/server.js';
import { fetchStatus } from '../runtime/discovery/status.js';
import type { ClientSecurity } from '../runtime/net/client.js';

const options = {
  poll: { type: 'number', min: 0.2, default: 2, describe: 'seconds between two status polls of every sketch (a sketch that does not answer one is shown stale; three in a row, or one after mDNS lost it: down)' },
  browse: { type: 'number', min: 0.2, default: 2, describe: 'seconds between two mDNS browses (each listens 1 s)' },
  points: { type: 'number', integer: true, min: 10, max: 1_000_000, default: 5000, describe: 'points the dashboard keeps per stream (its history when there is no recorder)' },
  pageBuffer: { type: 'number', integer: true, min: 64, default: 1024, describe: 'KiB a page may fall behind on its WebSocket before it is closed with 1013 (it reconnects and reloads)' },
} as const;

/** Path of the pages' WebSocket: a stream of the dashboard's own (`sketchnet.v2`, `?new`). */
export const LIVE_PATH = '/live';

/**
 * The dashboard: one web page listing every sketch on the LAN and plotting every numeric field
 * of every stream live with uPlot, history first (from a recorder when one is found, else the
 * sketch's own). It keeps one subscription per sketch and stream whatever the number of pages;
 * pages read `GET /api/…` and the `/live` stream of this sketch, and send messages to sketches
 * through it (`{"to":NAME,"message":TEXT}` on `/live`, acknowledged with the sketch's reply).
 */
export default class Dashboard extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'a web page plotting every stream of every sketch on the network, live, with history';
  static override readonly options = options;
  static override readonly streams = { [LIVE_PATH]: { history: { items: 1000 }, delivery: 'all' as const } };

  readonly #security: ClientSecurity;
  readonly #discovery: Discovery | false;
  readonly #ownsDiscovery: boolean;
  #directory?: Directory;
  #server?: DashboardServer;

  constructor(config: SketchConfig = {}) {
    const kib = Number((config.options as { pageBuffer?: unknown } | undefined)?.pageBuffer ?? options.pageBuffer.default);
    // One mDNS socket for announcing and browsing: made here (closed by teardown) unless given.
    const discovery = config.discovery ?? new MdnsDiscovery();
    super({ maxBuffered: Number.isFinite(kib) && kib >= 1 ? kib * 1024 : undefined, ...config, discovery });
    this.#security = { key: config.peer?.key, insecureKey: config.peer?.insecureKey, ca: config.peer?.ca };
    this.#ownsDiscovery = config.discovery === undefined;
    this.#discovery = discovery;
  }

  /** The directory of sketches found (after `run()`). */
  get directory(): Directory | undefined {
    return this.#directory;
  }

  /** The page protocol (after `run()`): relays, history. */
  get server(): DashboardServer | undefined {
    return this.#server;
  }

  override setup(o: OptionValues<typeof options>): void {
    const log = (line: string) => this.out(line);
    this.#directory = new Directory({
      browse: async (ms) => (this.#discovery ? this.#discovery.browse(ms) : []),
      status: (found) => fetchStatus(found, this.#security, { warn: log }),
      browseEvery: o.browse * 1000,
      pollEvery: o.poll * 1000,
      skipNames: () => [this.name],
      log,
    });
    this.#server = new DashboardServer({
      directory: this.#directory,
      security: this.#security,
      relayPoints: o.points,
      publish: (value) => this.publish(LIVE_PATH, value),
      log,
    });
  }

  override routes(): HttpRoutes {
    return this.#server!.routes();
  }

  override async main(): Promise<void> {
    this.#directory!.start();
    this.out(`page on http://${this.address!.host === '0.0.0.0' ? '127.0.0.1' : this.address!.host}:${this.address!.port}/`);
    await new Promise<void>((resolve) => this.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  /**
   * A page's request on its WebSocket: `{"to":"buzzer","message":"1"}` sends `message` to that
   * sketch with the dashboard's key and acknowledges with the sketch's reply.
   * @throws SketchError `SKETCH_ERR_BAD_MESSAGE` for anything else, `SKETCH_ERR_PEER_NOT_FOUND`
   *   for a sketch not listed or gone, the peer's errors (`SKETCH_ERR_REMOTE`…).
   */
  @reactive
  override async loop(_channel: string, message: string): Promise<string> {
    let req: { to?: unknown; message?: unknown };
    try {
      req = JSON.parse(message) as typeof req;
    } catch {
      req = {};
    }
    if (!req || typeof req.to !== 'string' || typeof req.message !== 'string') {
      throw errors.BAD_MESSAGE('the dashboard takes {"to":"SKETCH","message":"TEXT"}');
    }
    const card = this.#directory?.get(req.to);
    if (!card || !card.up) throw errors.PEER_NOT_FOUND(req.to, this.options.poll);
    return this.stream(card.url, req.message);
  }

  override async teardown(): Promise<void> {
    this.#directory?.close();
    this.#server?.close();
    if (this.#ownsDiscovery && this.#discovery) await this.#discovery.close().catch(() => {});
  }
}
