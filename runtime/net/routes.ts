/**
 * Plain HTTP routes a sketch serves besides its status (`GET /.well-known/sketch`): the
 * dashboard's page and API, the recorder's `/history`. A sketch lists them by path in
 * `Sketch.routes()`; the server looks a request's path up here, so sketch.ts only calls in.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Right } from '../security/keys.js';
import { oneLine } from '../errors.js';

/** One HTTP route. */
export interface HttpRoute {
  /**
   * Answered without a key (files a browser needs before it can ask its user for one: the
   * dashboard's page). Default false: the request passes the sketch's gate first (Origin → 403,
   * key → 401), like the status.
   */
  open?: boolean;
  /**
   * Answers the request. `right` is the key's right (`write` when the sketch has no keys),
   * `undefined` for an `open` route. A throw or rejection is answered `500` with its one line.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, right: Right | undefined): void | Promise<void>;
}

/** Routes by exact request path (without the query string), e.g. `{ '/': page, '/api/history': history }`. */
export type HttpRoutes = Readonly<Record<string, HttpRoute>>;

/** The route for a request URL's path, if any (the query string is ignored; a path that does not decode has none). */
export function findRoute(routes: HttpRoutes | undefined, url: string | undefined): HttpRoute | undefined {
  if (!routes) return undefined;
  const q = (url ?? '/').indexOf('?');
  const path = q === -1 ? (url ?? '/') : url!.slice(0, q);
  return Object.hasOwn(routes, path) ? routes[path] : undefined;
}

/** Runs `route`, answering `500` with one line when it throws or rejects (`log` gets the line too). */
export function answerRoute(
  route: HttpRoute,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  right: Right | undefined,
  log: (line: string) => void,
): void {
  const fail = (err: unknown) => {
    const line = `${req.method ?? 'GET'} ${(req.url ?? '/').slice(0, 100)} failed: ${oneLine(err)}`;
    log(line);
    if (res.headersSent) return void res.destroy();
    sendText(res, 500, line);
  };
  try {
    const done = route.handle(req, res, right);
    if (done) done.catch(fail);
  } catch (err) {
    fail(err);
  }
}

/** Answers `status` with one line of `text/plain` (a refusal or an error: one line, no stack). */
export function sendText(res: http.ServerResponse, status: number, line: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${line}\n`);
}

/** Answers `200 application/json` with `value`. */
export function sendJson(res: http.ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

/** Answers a refused upgrade on the raw socket (no WebSocket exists yet) with one line, and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, line: string): void {
  const body = `${line}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
