/**
 * WebSocket heartbeats (RFC 6455 §5.5.2–5.5.3): every `intervalMs` each watched socket that
 * answered the previous ping with a pong is pinged again; one that did not is declared dead and
 * handed to `onDead` (which terminates it). A link that went silent without closing — a pulled
 * cable, a Wi-Fi drop, a NAT that forgot the flow — is so found within two intervals. Browsers,
 * ws and python-websockets answer pings by themselves.
 *
 * The sockets are pinged in {@link HEARTBEAT_SLICES} groups spread over the interval, not all at
 * once: a thousand subscribers pinged in one timer callback answer with a thousand pongs
 * together, and the `publish()` that falls among them reaches its last subscriber that much
 * later. Each socket is still pinged once per interval.
 */
import WebSocket from 'ws';

/** Default heartbeat interval, in ms: 5000 (a silent link is found within 10 s). */
export const HEARTBEAT_MS = 5000;

/** Groups the sockets are pinged in, one group every `intervalMs / HEARTBEAT_SLICES`: 8. */
export const HEARTBEAT_SLICES = 8;

/** Pings a set of WebSockets every interval and reports those that stopped answering (see the module comment). */
export class Heartbeat {
  /** Per slice: each watched socket and whether it answered its last ping. */
  readonly #slices: Array<Map<WebSocket, boolean>> = Array.from({ length: HEARTBEAT_SLICES }, () => new Map());
  readonly #timer: NodeJS.Timeout | undefined;
  /** The slice the next tick pings. */
  #tick = 0;
  /** The slice the next watched socket joins. */
  #next = 0;

  /**
   * @param intervalMs ping interval; 0 turns heartbeats off.
   * @param onDead called once for a socket that missed a pong; should terminate it.
   */
  constructor(intervalMs: number, onDead: (ws: WebSocket) => void) {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      const alive = this.#slices[this.#tick]!;
      this.#tick = (this.#tick + 1) % HEARTBEAT_SLICES;
      for (const [ws, answered] of alive) {
        if (ws.readyState !== WebSocket.OPEN) {
          alive.delete(ws);
          continue;
        }
        if (!answered) {
          alive.delete(ws);
          onDead(ws);
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    }, intervalMs / HEARTBEAT_SLICES);
    this.#timer.unref();
  }

  /** Starts watching `ws` until it closes. */
  watch(ws: WebSocket): void {
    if (!this.#timer) return;
    const alive = this.#slices[this.#next]!;
    this.#next = (this.#next + 1) % HEARTBEAT_SLICES;
    alive.set(ws, true);
    ws.on('pong', () => alive.has(ws) && alive.set(ws, true));
    ws.once('close', () => alive.delete(ws));
  }

  /** Stops the pings. */
  stop(): void {
    clearInterval(this.#timer);
    for (const alive of this.#slices) alive.clear();
  }
}
