/**
 * Traffic across a reload in place (test/reload.ts, test/watch.ts): a `sketchnet.v2` subscriber
 * on `/handled?new` and a Peer sending `0, 1, 2…` acknowledged, one in flight, every 10 ms.
 */
import WebSocket from 'ws';
import { Peer } from '../../runtime/index.js';
import { SUBPROTOCOL } from '../../runtime/net/protocol.js';
import { sleep } from './net.js';

/** What a {@link traffic} saw. */
export interface Traffic<D> {
  /** Items of `/handled`, in order: seq and data. */
  items: Array<{ seq: number; data: D }>;
  /** The replies, in order (reply i answers message `i`). */
  replies: string[];
  /** Whether the subscriber's connection closed. */
  subscriberClosed(): boolean;
  /** Stops sending and resolves once the last reply came. */
  stop(): Promise<void>;
  /** Closes the Peer and the subscriber. */
  close(): void;
}

/** Starts the subscriber (resolves once it is connected) and the sender against `url` (`ws://HOST:PORT/`). */
export async function traffic<D>(url: string): Promise<Traffic<D>> {
  const items: Array<{ seq: number; data: D }> = [];
  const sub = new WebSocket(`${url}handled?new`, [SUBPROTOCOL]); // envelopes: seq and data
  let closed = false;
  sub.on('close', () => (closed = true));
  sub.on('message', (d) => {
    const f = JSON.parse(d.toString()) as { seq?: number; data?: D };
    if (f.seq !== undefined) items.push({ seq: f.seq, data: f.data! });
  });
  await new Promise((r) => sub.once('open', r));
  const peer = new Peer(url, { retries: 0, log: () => {} });
  const replies: string[] = [];
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending; i++) {
      replies.push(await peer.send(String(i)));
      await sleep(10);
    }
  })();
  return {
    items,
    replies,
    subscriberClosed: () => closed,
    stop: async () => {
      sending = false;
      await sender;
    },
    close: () => {
      sending = false;
      peer.close();
      sub.close();
    },
  };
}
