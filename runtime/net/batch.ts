import type { Writable } from 'node:stream';

/**
 * Write batching for one connection: `hold()` corks the socket until the end of the current
 * turn of the event loop (`setImmediate`), so the frames written meanwhile — a burst of
 * acknowledgements, or pipelined messages — leave in one `writev` system call instead of one
 * each. Callers hold only when more frames are known to follow, so a lone message (one in
 * flight) is never delayed.
 */
export class TurnBatch {
  readonly #socket: Writable;
  #held = false;
  readonly #release = () => {
    this.#held = false;
    this.#socket.uncork();
  };

  constructor(socket: Writable) {
    this.#socket = socket;
  }

  /** Whether the socket is corked for this turn. */
  get held(): boolean {
    return this.#held;
  }

  /** Corks the socket until the end of this event-loop turn (once per turn). */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#socket.cork();
    setImmediate(this.#release);
  }

  /**
   * Corks the socket for the next `turns` event-loop turns (at least this one): for a
   * connection that gets one message per turn (a throttled flooder), so that its replies
   * leave `turns` at a time in one `writev` instead of one system call each. Does nothing
   * while the socket is already held.
   */
  holdTurns(turns: number): void {
    if (this.#held) return;
    this.#held = true;
    this.#socket.cork();
    let left = turns;
    const next = () => (--left > 0 ? setImmediate(next) : this.#release());
    setImmediate(next);
  }
}
