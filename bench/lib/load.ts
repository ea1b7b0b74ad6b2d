/**
 * Closed-loop load with a fixed window: `window` messages are sent at once and every
 * acknowledgement sends the next one, so exactly `window` messages are in flight until the
 * round's time is up; then the round waits for the last acknowledgements. Window 1 is the
 * sequential (one message in flight) round trip.
 */
import { performance } from 'node:perf_hooks';

export interface Round {
  /** Acknowledgements received in the round. */
  acks: number;
  /** From the first send to the last acknowledgement, in ms. */
  ms: number;
  /** This process's CPU time (user + system) during the round, in µs. */
  cpuUs: number;
}

/** Extra time a round may take after its duration before it is declared stalled, in ms. */
const STALL_MS = 10_000;

export class WindowedLoad {
  readonly #send: () => void;
  readonly #window: number;
  #sent = 0;
  #acked = 0;
  #stopAt = 0;
  #max = 0;
  #lastAck = 0;
  #settle?: { resolve: () => void; reject: (err: Error) => void };

  /** `send` sends one message; the client calls {@link ack} once per acknowledgement. */
  constructor(send: () => void, window: number) {
    this.#send = send;
    this.#window = Math.max(1, window);
  }

  ack(): void {
    this.#acked++;
    const now = performance.now();
    this.#lastAck = now;
    if (now < this.#stopAt && this.#sent < this.#max) {
      this.#sent++;
      this.#send();
    } else if (this.#acked >= this.#sent) {
      this.#settle?.resolve();
    }
  }

  fail(err: Error): void {
    this.#settle?.reject(err);
  }

  /** One round: at most `ms` of sending and at most `max` messages. */
  async round(ms: number, max: number): Promise<Round> {
    this.#sent = 0;
    this.#acked = 0;
    this.#max = Math.max(1, max);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    this.#stopAt = t0 + ms;
    let timer: NodeJS.Timeout | undefined;
    const settled = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
      timer = setTimeout(
        () => reject(new Error(`stalled: ${this.#acked} of ${this.#sent} messages acknowledged after ${ms + STALL_MS} ms`)),
        ms + STALL_MS,
      );
    });
    for (let i = 0; i < Math.min(this.#window, this.#max); i++) {
      this.#sent++;
      this.#send();
    }
    try {
      await settled;
    } finally {
      clearTimeout(timer);
      this.#settle = undefined;
    }
    const cpu = process.cpuUsage(cpu0);
    return { acks: this.#acked, ms: this.#lastAck - t0, cpuUs: cpu.user + cpu.system };
  }
}
