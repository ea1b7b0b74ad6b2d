/**
 * WebSocket heartbeats (RFC 6455 §5.5.2–5.5.3): every `intervalMs` each watched socket that
 * answered the previous ping with a pong is pinged again; one that did not is declared dead and
 * handed to `onDead` (which terminates it). A link that went silent without closing — a pulled
 * cable, a Wi-Fi drop, a NAT that forgot the flow — is so found within two intervals. Browsers,
 * ws and python-websockets answer pings by themselves.
 */
import WebSocket from 'ws';

/** Default heartbeat interval, in ms: 5000 (a silent link is found within 10 s). */
export const HEARTBEAT_MS = 5000;

/** Pings a set of WebSockets every interval and reports those that stopped answering (see the module comment). */
export class Heartbeat {
  readonly #alive = new Map<WebSocket, boolean>();
  readonly #timer: NodeJS.Timeout | undefined;

  /**
   * @param intervalMs ping interval; 0 turns heartbeats off.
   * @param onDead called once for a socket that missed a pong; should terminate it.
   */
  constructor(intervalMs: number, onDead: (ws: WebSocket) => void) {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      for (const [ws, alive] of this.#alive) {
        if (ws.readyState !== WebSocket.OPEN) {
          this.#alive.delete(ws);
          continue;
        }
        if (!alive) {
          this.#alive.delete(ws);
          onDead(ws);
          continue;
        }
        this.#alive.set(ws, false);
        ws.ping();
      }
    }, intervalMs);
    this.#timer.unref();
  }

  /** Starts watching `ws` until it closes. */
  watch(ws: WebSocket): void {
    if (!this.#timer) return;
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.has(ws) && this.#alive.set(ws, true));
    ws.once('close', () => this.#alive.delete(ws));
  }

  /** Stops the pings. */
  stop(): void {
    clearInterval(this.#timer);
    this.#alive.clear();
  }
}
