/**
 * Access log: one JSON line per exchange, written when the exchange is over (the core's
 * `onResponseEnd`), never when the handler returns. Aborted exchanges are logged as such
 * (status 499, outcome `aborted`), not as the 200 the handler had set; a handler that threw
 * is logged with its error; the line carries the request id, trace id and user of the
 * request, read from the state the other layers set.
 *
 * One request is always one parseable line of bounded size: every string is truncated and
 * control characters are escaped; writes never block or throw into the request.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex, Writable } from 'node:stream'
import type { ClientErrorLog, ClientErrorRecord } from '../../core/client-errors.js'
import { clientIp, socketIp, warnIfForwardedIgnored } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import {
  defineDefaults,
  expectArray,
  expectBoolean,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectNumber,
  expectOneOf,
  withDefaults,
} from '../../core/options.js'
import { arrivalTime, monotonicNow } from '../../core/clock.js'
import { loggerState } from '../../core/report.js'
import { upgradeState } from '../../core/upgrade.js'
import {
  onResponseEnd,
  onResponseEndContextFree,
  type ResponseEndInfo,
  type ResponseOutcome,
} from '../../core/response-end.js'
import { onRequestBody } from '../../core/request-body.js'
import { originalUrlState, requestIdState, traceState, userIdState } from '../../core/shared-state.js'
import type { Middleware } from '../../core/types.js'
import {
  entryLine,
  isoTime,
  optional,
  pickHeaders,
  round,
  stripQuery,
  truncate,
  type AccessLogEntry,
} from './format.js'
import { LineSink, type AccessLogSinkFunction } from './sink.js'

export { ACCESS_LOG_MAX_HEADERS, type AccessLogEntry } from './format.js'
export type { AccessLogSinkFunction } from './sink.js'

/** Options for {@link accessLog}. */
export interface AccessLogOptions {
  /**
   * Where lines go: a Writable (each line written with a trailing newline) or a function
   * called with the line and its object. Use a file stream or your logger's function in
   * production: on Linux, `process.stdout` writes to pipes synchronously.
   * @default process.stdout
   */
  sink?: Writable | AccessLogSinkFunction<AccessLogEntry>
  /**
   * The query string: `'drop'` it, `'redact'` its values (names stay), or `'keep'` it.
   * Queries carry tokens, emails and search terms, so keep it only when you know they do not.
   * @default 'drop'
   */
  query?: 'drop' | 'redact' | 'keep'
  /**
   * Fraction of `info` lines (finished, status below 400) written, from 0 to 1. Warnings and
   * errors are always written. Lower it on high-traffic services.
   * @default 1
   */
  sampleRate?: number
  /** Log request headers: all (up to 64), or only those named. @default false */
  requestHeaders?: boolean | readonly string[]
  /** Log response headers: all (up to 64), or only those named. @default false */
  responseHeaders?: boolean | readonly string[]
  /**
   * Headers whose logged value is replaced by `[redacted]`. Replaces the default list, so
   * repeat its entries when adding your own (`x-api-key`).
   * @default ['authorization', 'cookie', 'set-cookie', 'proxy-authorization']
   */
  redactHeaders?: readonly string[]
  /** Longest logged string (path, user agent, header value, error…); longer ones end in `…`. @default 1024 */
  maxFieldLength?: number
  /** Lines queued while a Writable sink applies backpressure; more are dropped and counted. @default 1000 */
  maxBufferedLines?: number
  /** Wall clock for `time`, ms since the epoch. Inject in tests. @default Date.now */
  now?: () => number
  /** Numbers in [0, 1) for `sampleRate`. Inject in tests. @default Math.random */
  random?: () => number
  /**
   * Also write a line when a WebSocket connection accepted through `handleUpgrades()` closes
   * (`upgrade: 'closed'`, the connection's duration and bytes), besides the handshake's line.
   * Turn it on to see how long connections lived; it is one more line per connection.
   * @default false
   */
  upgradeClose?: boolean
}

/**
 * What accessLog() returns: the middleware, which also writes a line for each request Node
 * refused before any handler ran, when given to `answerClientErrors(server, { log })`.
 */
export interface AccessLogMiddleware extends Middleware, ClientErrorLog {}

/** Defaults of {@link accessLog}; `sink` defaults to `process.stdout`, read at construction. */
export const accessLogDefaults = defineDefaults<AccessLogOptions, 'sink'>({
  sink: undefined,
  query: 'drop',
  sampleRate: 1,
  requestHeaders: false,
  responseHeaders: false,
  redactHeaders: Object.freeze(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']),
  maxFieldLength: 1024,
  maxBufferedLines: 1000,
  now: Date.now,
  random: Math.random,
  upgradeClose: false,
})

/**
 * What the handler captures per request for the end listener. Per-request records are
 * classes, not literals: see core/listener-node.ts.
 */
class Exchange {
  readonly method: string
  /** Captured at request time: a later `mount` or router may rewrite `req.url`. */
  readonly url: string
  /** Request body bytes received so far. */
  bytesIn = 0
  error: unknown = undefined

  constructor(method: string, url: string) {
    this.method = method
    this.url = url
  }
}

/**
 * One line's fields, declared in the order they are written (JSON keeps it); absent ones
 * stay undefined and are left out. A class for the same reason as Exchange.
 */
class Entry implements AccessLogEntry {
  time = ''
  level: AccessLogEntry['level'] = 'info'
  method = ''
  path = ''
  status = 0
  outcome: ResponseOutcome = 'finished'
  durationMs = 0
  ttfbMs: number | undefined = undefined
  bytesOut: number | undefined = undefined
  bytesIn = 0
  clientIp = ''
  requestId: string | undefined = undefined
  traceId: string | undefined = undefined
  spanId: string | undefined = undefined
  userId: string | undefined = undefined
  userAgent: string | undefined = undefined
  referer: string | undefined = undefined
  error: string | undefined = undefined
  requestHeaders: Record<string, string> | undefined = undefined
  responseHeaders: Record<string, string> | undefined = undefined
  droppedLines: number | undefined = undefined
  upgrade: AccessLogEntry['upgrade'] = undefined
}

type HeaderSelection = true | false | ReadonlySet<string>

/**
 * Log every exchange as one JSON line when it is over.
 * Mount it inside `proxyHeaders()`, `requestId()` and `traceContext()` (it logs what they
 * set) and inside `errorBoundary()` (it sees the error on its way out, and the boundary's
 * 500 at the end), but outside every layer that can answer on its own (rate limits, auth,
 * CORS preflights, timeouts), or their answers go unlogged.
 * @example
 * const app = compose(errorBoundary(), requestId(), accessLog({ sink: createWriteStream('access.log', { flags: 'a' }) }))(router)
 */
export function accessLog(options: AccessLogOptions = {}): AccessLogMiddleware {
  const opts = withDefaults('accessLog', accessLogDefaults, options)
  const sinkTarget = opts.sink === undefined ? process.stdout : opts.sink
  if (typeof sinkTarget !== 'function' && !isWritable(sinkTarget)) {
    throw new ConfigError(
      'accessLog',
      'sink',
      'a Writable stream or a function (line, entry) => void',
      sinkTarget,
      'For a file use fs.createWriteStream(path, { flags: "a" }).',
    )
  }
  const query = expectOneOf('accessLog', 'query', opts.query, ['drop', 'redact', 'keep'])
  const sampleRate = expectNumber('accessLog', 'sampleRate', opts.sampleRate, 0, 1)
  const requestHeaders = headerSelection('requestHeaders', opts.requestHeaders)
  const responseHeaders = headerSelection('responseHeaders', opts.responseHeaders)
  const redact = new Set(
    expectArray('accessLog', 'redactHeaders', opts.redactHeaders, (name, i) =>
      expectHeaderName('accessLog', `redactHeaders[${i}]`, name),
    ),
  )
  const maxField = expectInteger('accessLog', 'maxFieldLength', opts.maxFieldLength, 16, 65536)
  const maxBuffered = expectInteger('accessLog', 'maxBufferedLines', opts.maxBufferedLines, 0, 1_000_000)
  const now = expectFunction<() => number>('accessLog', 'now', opts.now)
  const random = expectFunction<() => number>('accessLog', 'random', opts.random)
  const upgradeClose = expectBoolean('accessLog', 'upgradeClose', opts.upgradeClose)
  const sink = new LineSink<AccessLogEntry>(sinkTarget, maxBuffered)
  // A stream sink takes only the formatted line, so one entry, refilled for each line, serves
  // every request; a function sink is handed the entry and may keep it, so it gets its own.
  const scratch = typeof sinkTarget === 'function' ? undefined : new Entry()
  // A function sink is the user's code, and may log through a context-aware logger: it runs in
  // the request's async context. A stream sink runs none, so its lines skip that cost.
  const onExchangeEnd = typeof sinkTarget === 'function' ? onResponseEnd : onResponseEndContextFree

  const writeLine = (info: ResponseEndInfo, res: ServerResponse, exchange: Exchange): void => {
    const upgrade = upgradeState.tryGet(res.req)
    if (upgrade !== undefined && upgradeClose && info.status === 101 && info.outcome === 'finished') {
      // Registered before sampling decides on the handshake's line: the close line is its own.
      const socket = upgrade.socket as UpgradeSocket
      const bytesAtAccept = socket.bytesWritten ?? 0
      socket.once('close', () => writeCloseLine(res.req, exchange, socket, info.durationMs, bytesAtAccept))
    }
    const failed = info.outcome === 'error'
    // 499 (nginx's "client closed request"): the client left first, whatever status was set.
    const status = info.outcome === 'aborted' ? 499 : failed && !info.headersSent ? 500 : info.status
    const level = failed || status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info'
    if (level === 'info' && sampleRate < 1 && !(random() < sampleRate)) return
    if (sink.saturated) {
      sink.drop()
      return
    }
    const req = res.req
    const trace = traceState.tryGet(req)
    const error = exchange.error ?? info.error
    const entry = scratch ?? new Entry()
    entry.time = isoTime(now() - info.durationMs)
    entry.level = level
    entry.method = truncate(exchange.method, maxField)
    entry.path = truncate(query === 'keep' ? exchange.url : stripQuery(exchange.url, query), maxField)
    entry.status = status
    entry.outcome = info.outcome
    entry.durationMs = round(info.durationMs)
    entry.ttfbMs = info.headersMs === undefined ? undefined : round(info.headersMs)
    entry.bytesOut = info.bytesWritten
    entry.bytesIn = exchange.bytesIn
    entry.clientIp = clientIp(req)
    warnIfForwardedIgnored(req, 'accessLog')
    entry.requestId = requestIdState.tryGet(req)
    entry.traceId = trace?.traceId
    entry.spanId = trace?.spanId
    entry.userId = optional(userIdState.tryGet(req), maxField)
    entry.userAgent = optional(req.headers['user-agent'], maxField)
    entry.referer = optional(req.headers.referer, maxField)
    entry.error =
      error === undefined || error === null
        ? undefined
        : truncate(error instanceof Error ? error.message || error.name : String(error), maxField)
    entry.requestHeaders =
      requestHeaders === false ? undefined : pickHeaders(req.headers, requestHeaders, redact, maxField)
    entry.responseHeaders =
      responseHeaders === false ? undefined : pickHeaders(res.getHeaders(), responseHeaders, redact, maxField)
    // Every field is assigned, so a refilled scratch entry keeps nothing of the line before.
    entry.upgrade = upgrade === undefined ? undefined : 'handshake'
    const dropped = sink.takeDropped()
    entry.droppedLines = dropped > 0 ? dropped : undefined
    sink.write(entryLine(entry), entry, dropped, loggerState.tryGet(req))
  }

  // An upgraded connection closed (option upgradeClose): its lifetime, on a line of its own.
  const writeCloseLine = (
    req: IncomingMessage,
    exchange: Exchange,
    socket: UpgradeSocket,
    handshakeMs: number,
    bytesAtAccept: number,
  ): void => {
    if (sink.saturated) {
      sink.drop()
      return
    }
    const durationMs = monotonicNow() - arrivalTime(req)
    const entry = new Entry()
    entry.time = isoTime(now() - durationMs)
    entry.method = truncate(exchange.method, maxField)
    entry.path = truncate(query === 'keep' ? exchange.url : stripQuery(exchange.url, query), maxField)
    entry.status = 101
    entry.durationMs = round(durationMs)
    entry.ttfbMs = round(handshakeMs)
    // The upgraded protocol's bytes, after the 101.
    entry.bytesOut = (socket.bytesWritten ?? bytesAtAccept) - bytesAtAccept
    entry.bytesIn = socket.bytesRead ?? 0
    entry.clientIp = clientIp(req)
    entry.requestId = requestIdState.tryGet(req)
    const trace = traceState.tryGet(req)
    entry.traceId = trace?.traceId
    entry.spanId = trace?.spanId
    entry.userId = optional(userIdState.tryGet(req), maxField)
    entry.userAgent = optional(req.headers['user-agent'], maxField)
    entry.upgrade = 'closed'
    const dropped = sink.takeDropped()
    if (dropped > 0) entry.droppedLines = dropped
    sink.write(entryLine(entry), entry, dropped, loggerState.tryGet(req))
  }

  // A request Node refused before any handler (answerClientErrors): one line, as for an exchange.
  const logClientError = (record: ClientErrorRecord): void => {
    if (sink.saturated) {
      sink.drop()
      return
    }
    const entry = new Entry()
    entry.time = isoTime(record.time)
    entry.level = record.status >= 500 ? 'error' : 'warn'
    entry.method = truncate(record.method, maxField)
    entry.path = truncate(query === 'keep' ? record.path : stripQuery(record.path, query), maxField)
    entry.status = record.status
    entry.outcome = record.answered ? 'finished' : 'aborted'
    entry.durationMs = 0
    entry.bytesOut = record.bytesOut
    entry.clientIp = record.clientIp
    entry.error = record.error
    const dropped = sink.takeDropped()
    if (dropped > 0) entry.droppedLines = dropped
    sink.write(entryLine(entry), entry, dropped)
  }

  const middleware = defineMiddleware(
    {
      name: 'accessLog',
      detail: `query ${query}${sampleRate < 1 ? `, sample ${sampleRate}` : ''}`,
    },
    (next) =>
      function accessLogHandler(req, res) {
        // A mount() outside this layer has already rewritten req.url; it kept the original.
        const exchange = new Exchange(req.method ?? '', originalUrlState.tryGet(req) ?? req.url ?? '')
        countBodyBytes(req, exchange)
        // Pin the peer address now (cached on the connection): once a client has gone, its
        // socket can no longer say who it was, and the line would name nobody.
        socketIp(req.socket)
        onExchangeEnd(res, writeLine, exchange)
        let result: unknown
        try {
          result = next(req, res)
        } catch (err) {
          exchange.error = err
          throw err
        }
        // Errors travel outward as rejections: note the message on the way to the error boundary,
        // whose 500 this line then reports.
        if (result instanceof Promise)
          return result.catch((err: unknown) => {
            exchange.error = err
            throw err
          })
        return result
      },
  )
  return Object.assign(middleware, { logClientError })
}

/**
 * Count the body without reading it: a 'data' listener would switch the request to flowing
 * mode and take the body from the handler. The core's `onRequestBody` sees each chunk as
 * the parser pushes it into the request, read or not. Requests that cannot have a body
 * (RFC 9112 §6.3: neither Content-Length nor Transfer-Encoding) register nothing.
 */
function countBodyBytes(req: IncomingMessage, exchange: Exchange): void {
  const length = req.headers['content-length']
  if (
    req.httpVersionMajor < 2 &&
    req.headers['transfer-encoding'] === undefined &&
    (length === undefined || length === '0')
  )
    return
  // Chunks pushed before this layer ran (an outer layer awaited something) are buffered.
  exchange.bytesIn = req.readableLength
  onRequestBody(req, countChunk, exchange)
}

function countChunk(chunk: Buffer, _req: IncomingMessage, exchange: Exchange): void {
  exchange.bytesIn += chunk.length
}

function headerSelection(option: string, value: unknown): HeaderSelection {
  if (typeof value === 'boolean') return value
  if (!Array.isArray(value))
    throw new ConfigError('accessLog', option, 'true, false or an array of header names', value)
  return new Set(
    expectArray('accessLog', option, value, (name, i) => expectHeaderName('accessLog', `${option}[${i}]`, name)),
  )
}

/** The socket of an upgrade: a net.Socket usually, any Duplex at the least. */
type UpgradeSocket = Duplex & { bytesWritten?: number; bytesRead?: number }

function isWritable(value: unknown): value is Writable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Writable).write === 'function' &&
    typeof (value as Writable).once === 'function'
  )
}
