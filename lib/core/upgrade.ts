/**
 * `handleUpgrades`: the websocket scope. `server.on('upgrade')` never reaches the request
 * handler, so without this no layer of a stack (auth, origin checks, rate limits, request
 * ids, access logs) sees a WebSocket handshake. Here the handshake goes through the same
 * stack as a request, with a real `ServerResponse` bound to the upgrade's socket:
 *
 * - A layer that refuses answers as it always does (`sendError`): Node writes that answer
 *   on the socket with `Connection: close`, response-start listeners of every layer add
 *   their headers (request id, security headers), and the socket is closed once it is out.
 * - The innermost handler is the user's upgrade handler (e.g. `ws`'s `handleUpgrade`),
 *   called with the same `req`, so claims, session, request id and client identity read as
 *   in a route. The first write it makes on the socket is its answer head (ws writes the
 *   `101 Switching Protocols` head, or a 400, in one write): that head is not passed to the
 *   socket as is, but parsed and written through the response, so the headers the layers set
 *   (`x-request-id`, the session's `set-cookie`, …) go into the 101, and response-end
 *   listeners (the access log, metrics, load shedding's in-flight count) see the handshake end
 *   with its real status.
 * - An accepted connection is recorded with `trackUpgraded`, with a `goAway` that sends a
 *   WebSocket close frame 1001 (going away), for graceful shutdown.
 *
 * Layers ask {@link isUpgradeRequest} to tell a handshake from a request: those that make no
 * sense on one (compression, body limits, body capture, timeouts, conditional requests) pass
 * it through untouched.
 * @module
 */
import { type IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { ConfigError, HttpError } from './errors.js'
import { defineDefaults, expectFunction, withDefaults } from './options.js'
import { reportError } from './report.js'
import { sendError } from './send-error.js'
import { defineState } from './state.js'
import type { Middleware, RawHandler } from './types.js'
import { trackUpgraded } from './upgraded.js'

/**
 * The innermost handler of an upgrade: Node's `'upgrade'` arguments, plus the handshake's
 * response, through which it may still refuse with an ordinary answer (`sendError(req, res,
 * new HttpError(404))`). It takes the socket over by writing its answer head on it in one
 * write, as `ws`'s `handleUpgrade` does.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, res: ServerResponse) => unknown

/** Options of {@link handleUpgrades}. */
export interface HandleUpgradesOptions {
  /**
   * Says goodbye to an accepted connection when the server shuts down gracefully. Give it when
   * your WebSocket library should close in its own way (`ws.close(1001)`, found through `req`).
   * @default writes a WebSocket close frame with status 1001 (going away), then ends the socket
   */
  goAway?: (socket: Duplex, req: IncomingMessage) => void
}

/** Defaults of {@link handleUpgrades}: `goAway` unset means the WebSocket close frame 1001. */
export const handleUpgradesDefaults = defineDefaults<HandleUpgradesOptions, 'goAway'>({ goAway: undefined })

/** What `server.on('upgrade')` calls. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** One handshake's context. A class, not a literal (see listener-node.ts). */
export class UpgradeExchange {
  readonly server: object
  readonly socket: Duplex
  readonly head: Buffer
  readonly res: ServerResponse

  constructor(server: object, socket: Duplex, head: Buffer, res: ServerResponse) {
    this.server = server
    this.socket = socket
    this.head = head
    this.res = res
  }
}

/** Set on the request of a handshake by {@link handleUpgrades}. */
export const upgradeState = defineState<UpgradeExchange>('upgrade', 'handleUpgrades()')

/** Whether `req` is a WebSocket (or other upgrade) handshake going through a stack by {@link handleUpgrades}. */
export const isUpgradeRequest = (req: IncomingMessage): boolean => upgradeState.has(req)

// RFC 6455 §5.5.1: FIN + close opcode, payload length 2, status 1001 (going away); frames
// from a server are never masked (§5.1).
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])

/** The default goodbye: a WebSocket close frame 1001, then the end of the socket. */
export function webSocketGoAway(socket: Duplex): void {
  if (!socket.destroyed && socket.writable) socket.end(GOING_AWAY)
}

/**
 * Run `stack` for every upgrade request of `server`, then `onUpgrade` for the handshakes it
 * lets through. Returns the listener it added, for `server.off('upgrade', listener)`.
 * @example
 * const wss = new WebSocketServer({ noServer: true })
 * handleUpgrades(server, compose(requestId(), cors({ origins }), jwtAuth({ secret, cookie: 'token' })), (req, socket, head) =>
 *   wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
 */
export function handleUpgrades(
  server: { on(event: 'upgrade', listener: UpgradeListener): unknown },
  stack: Middleware,
  onUpgrade: UpgradeHandler,
  options?: HandleUpgradesOptions,
): UpgradeListener {
  const opts = withDefaults('handleUpgrades', handleUpgradesDefaults, options)
  if (typeof server !== 'object' || server === null || typeof server.on !== 'function') {
    throw new ConfigError(
      'handleUpgrades',
      'server',
      "an http.Server (or https/Express/Koa's; Fastify's is fastify.server)",
      server,
      'Pass the server that listens: the one http.createServer() or app.listen() returned.',
    )
  }
  if (typeof stack !== 'function') {
    throw new ConfigError('handleUpgrades', 'stack', 'a middleware, e.g. compose(...)', stack)
  }
  const upgrade = expectFunction<UpgradeHandler>('handleUpgrades', 'onUpgrade', onUpgrade)
  const goAway =
    opts.goAway === undefined
      ? webSocketGoAway
      : expectFunction<NonNullable<HandleUpgradesOptions['goAway']>>('handleUpgrades', 'goAway', opts.goAway)

  const inner: RawHandler = function upgradeHandler(req, res) {
    const exchange = upgradeState.get(req)
    interceptAnswerHead(exchange)
    return upgrade(req, exchange.socket, exchange.head, res)
  }
  const handler = stack(inner)

  const listener: UpgradeListener = function upgradeListener(req, socket, head) {
    // Node took its own listeners off the socket before handing it over: an ECONNRESET
    // now, with none, would crash the process.
    socket.on('error', destroyOnError)
    const res = new ServerResponse(req)
    // A refusal closes the connection, so say so (`Connection: close`).
    res.shouldKeepAlive = false
    // As Node does for a request (parserOnIncoming): the response writes on the socket, and
    // emits 'close' when the socket closes.
    res.assignSocket(socket as Socket)
    const exchange = new UpgradeExchange(server, socket, head, res)
    upgradeState.set(req, exchange)
    res.on('finish', onAnswered)
    let result: unknown
    try {
      result = handler(req, res)
    } catch (err) {
      result = Promise.reject(err)
    }
    if (result instanceof Promise) result.catch((err: unknown) => fail(req, exchange, err))

    function onAnswered(): void {
      if (res.statusCode === 101) accept(req, exchange, goAway)
      else closeAfterRefusal(exchange)
    }
  }
  server.on('upgrade', listener)
  return listener
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

/**
 * A layer or the upgrade handler threw: answer 500 through the response while nothing went
 * out (an error boundary usually has already), else cut the connection. Never a crash, never
 * a socket left hanging.
 */
function fail(req: IncomingMessage, exchange: UpgradeExchange, err: unknown): void {
  reportError('handleUpgrades(): the handshake failed', err, req)
  const { res, socket } = exchange
  if (!res.headersSent && !res.writableEnded && !socket.destroyed) {
    if (sendError(req, res, new HttpError(500, undefined, { cause: err }))) return
  }
  socket.destroy()
}

/** After a refusal is out: close the connection, as Node does after a `Connection: close` answer. */
function closeAfterRefusal(exchange: UpgradeExchange): void {
  // The response keeps its socket until the socket closes, which emits its 'close'.
  const socket = exchange.socket as Duplex & { destroySoon?: () => void }
  if (typeof socket.destroySoon === 'function') socket.destroySoon()
  else socket.end()
}

/**
 * The 101 is out: the socket now belongs to the upgrade handler. Give it back from the
 * response and end the exchange as Node ends a finished response (resOnFinish: detach, then
 * 'close' on the next tick), so response-end listeners run now, with status 101, and not
 * when the connection closes.
 */
function accept(
  req: IncomingMessage,
  exchange: UpgradeExchange,
  goAway: (socket: Duplex, req: IncomingMessage) => void,
) {
  const { res, socket } = exchange
  res.detachSocket(socket as Socket)
  process.nextTick(emitClose, res)
  if (socket.destroyed) return
  trackUpgraded(exchange.server, { socket, goAway: () => goAway(socket, req) })
}

function emitClose(res: ServerResponse): void {
  const closing = res as ServerResponse & { _closed?: boolean }
  if (closing._closed) return
  res.destroyed = true
  closing._closed = true
  res.emit('close')
}

type Write = Duplex['write']
type End = Duplex['end']
const EXCHANGE = Symbol('http-onion.upgradeExchange')
type ExchangeSlot = Duplex & { [EXCHANGE]?: UpgradeExchange }

/**
 * Catch the inner handler's first `write` or `end` on the socket: its answer head (ws writes
 * a 101 and ends with a refusal). Parsed, it goes out through the response instead, so the
 * layers' response-start listeners run and add their headers, and response-end listeners see
 * the answer. A first call that is not a whole HTTP/1.x head, or comes after the response
 * itself wrote (a `sendError` of the handler's), passes through untouched.
 */
function interceptAnswerHead(exchange: UpgradeExchange): void {
  const socket = exchange.socket as ExchangeSlot
  socket[EXCHANGE] = exchange
  // Instance properties, removed on the first call: the socket's own methods are untouched.
  socket.write = writeAnswerHead as Write
  socket.end = endWithAnswerHead as End
}

/** Take the interception off `socket`; the exchange, if the answer may still go through the response. */
function release(socket: ExchangeSlot): UpgradeExchange | undefined {
  const exchange = socket[EXCHANGE]!
  socket[EXCHANGE] = undefined
  // Deleted, not reassigned: the prototype's methods are used again, as if never touched.
  delete (socket as { write?: Write }).write
  delete (socket as { end?: End }).end
  const { res } = exchange
  return res.headersSent || res.writableEnded ? undefined : exchange
}

function writeAnswerHead(this: ExchangeSlot, chunk: unknown, ...rest: unknown[]): boolean {
  const exchange = release(this)
  const head = exchange === undefined ? undefined : parseAnswer(chunk)
  if (head === undefined) return (this.write as (...args: unknown[]) => boolean)(chunk, ...rest)
  answer(this, exchange!.res, head, rest)
  return true
}

function endWithAnswerHead(this: ExchangeSlot, chunk?: unknown, ...rest: unknown[]): Duplex {
  const exchange = release(this)
  const head = exchange === undefined || typeof chunk === 'function' ? undefined : parseAnswer(chunk)
  if (head === undefined) return (this.end as (...args: unknown[]) => Duplex)(chunk, ...rest)
  // A refusal (ws ends with it): the response's finish closes the socket.
  answer(this, exchange!.res, head, rest)
  return this
}

/** Write `head` through `res`: the layers' response-start listeners run, and Node frames it. */
function answer(socket: Duplex, res: ServerResponse, head: AnswerHead, rest: unknown[]): void {
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase()
    if (lower === 'date') continue
    if (res.hasHeader(lower)) res.appendHeader(lower, value)
    else res.setHeader(lower, value)
  }
  res.statusCode = head.status
  res.statusMessage = head.reason
  const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined
  try {
    // The implicit head of end(): response-start listeners run, and Node frames the body
    // (ws's refusals carry their Content-Length; a 101 has none).
    res.end(head.body, callback)
  } catch (err) {
    // A response-start listener threw: the answer cannot go out as the layers want it.
    reportError('handleUpgrades(): a response-start listener failed on the handshake', err, res.req)
    socket.destroy()
  }
}

interface AnswerHead {
  status: number
  reason: string
  headers: Array<[string, string]>
  body: Buffer
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?$/
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/

/** A whole answer head (status line, header lines, blank line) and the body after it; undefined otherwise. */
function parseAnswer(chunk: unknown): AnswerHead | undefined {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.isBuffer(chunk) ? chunk : undefined
  if (bytes === undefined) return undefined
  const end = bytes.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const lines = bytes.toString('latin1', 0, end).split('\r\n')
  const status = STATUS_LINE.exec(lines[0]!)
  if (status === null) return undefined
  const headers: Array<[string, string]> = []
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i]!)
    if (header === null) return undefined
    headers.push([header[1]!, header[2]!])
  }
  return { status: Number(status[1]), reason: status[2] ?? '', headers, body: bytes.subarray(end + 4) }
}
