import type WebSocket from 'ws';

/**
 * The part of ws's private `Receiver` this module touches. ws 8.14+ reads
 * `_allowSynchronousEvents` before emitting each message (lib/receiver.js `dataMessage`), so
 * changing it on a live connection takes effect at the next frame. This reaches into ws's
 * internals: package.json pins ws to the exact version (8.23.0) and test/throttle.ts checks
 * the behaviour relied on, so an upgrade that changes it fails the suite instead of silently
 * removing the flood defence.
 */
interface ReceiverInternals {
  _allowSynchronousEvents?: unknown;
}

/** Whether {@link throttle} can work on `ws` (a connection of the pinned ws version). */
export function canThrottle(ws: WebSocket): boolean {
  const receiver = (ws as unknown as { _receiver?: ReceiverInternals })._receiver;
  return typeof receiver?._allowSynchronousEvents === 'boolean';
}

/**
 * Makes a connection deliver at most one message per event-loop turn, as ws does with
 * `allowSynchronousEvents: false`, instead of every frame of a 64 KiB read at once (about
 * 9 000 tiny frames in one synchronous burst). Used on a connection that has flooded its
 * queue, so that it gets its turn like the others; well-behaved connections keep ws's faster
 * default. Returns false (and changes nothing) when the receiver does not have the field.
 */
export function throttle(ws: WebSocket): boolean {
  if (!canThrottle(ws)) return false;
  (ws as unknown as { _receiver: ReceiverInternals })._receiver._allowSynchronousEvents = false;
  return true;
}
