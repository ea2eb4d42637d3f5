/**
 * Node's own refusals in the library's shape. A request the parser refuses (a malformed
 * request line, a head over `maxHeaderSize`, a head or request too slow) never reaches a
 * handler: Node answers it on its `'clientError'` path with a fixed plain response, which
 * skips the JSON error shape and the access log. `answerClientErrors(server)` takes that path
 * over: the same statuses, the library's JSON body, one log record per refusal, and nothing
 * ever written to a socket that can no longer take it.
 * @module
 */
import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import { ConfigError, HttpError } from './errors.js'

/** What one refused connection looked like, for a log: the access log's `logClientError` takes it. */
export interface ClientErrorRecord {
  /** When Node reported the error (wall clock, ms since the epoch). */
  readonly time: number
  /** The status answered (400, 408, 413, 431), or 499 when the connection was only closed. */
  readonly status: number
  /** The library's error code: `bad_request`, `request_timeout`, `content_too_large`, `request_header_fields_too_large`. */
  readonly code: string
  /** Whether an answer was written (`true`) or the socket was only destroyed. */
  readonly answered: boolean
  /** Node's error code (`HPE_HEADER_OVERFLOW`, `HPE_INVALID_METHOD`, `ERR_HTTP_REQUEST_TIMEOUT`, …). */
  readonly error: string
  /** The peer's address, as the socket reports it (no proxy can vouch for a request never parsed). */
  readonly clientIp: string
  /** The method and target of the request line, when its start could be read; else ''. */
  readonly method: string
  readonly path: string
  /** Bytes of the answer written, 0 when none was. */
  readonly bytesOut: number
}

/** Anything that logs client errors: `accessLog()` is one. */
export interface ClientErrorLog {
  logClientError(record: ClientErrorRecord): void
}

/** Options of {@link answerClientErrors}. */
export interface AnswerClientErrorsOptions {
  /** Where each refusal is recorded: an `accessLog()` (or several). @default [] */
  log?: ClientErrorLog | readonly ClientErrorLog[]
}

// Node's parser codes to the status it would answer (lib/_http_server.js), in the library's terms.
function refusalFor(code: string): HttpError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError(431, undefined, { code: 'request_header_fields_too_large' })
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new HttpError(413, undefined, { code: 'content_too_large' })
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError(408, undefined, { code: 'request_timeout' })
    default:
      return new HttpError(400, undefined, { code: 'bad_request' })
  }
}

/** The request line's method and target, if the packet starts with a plausible one. */
function requestLine(packet: Buffer | undefined): { method: string; path: string } {
  if (packet === undefined) return { method: '', path: '' }
  const head = packet.subarray(0, 2048).toString('latin1')
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}) ([\x21-\x7e]{1,512})/.exec(head)
  return match === null ? { method: '', path: '' } : { method: match[1]!, path: match[2]! }
}

/**
 * Answer the requests Node refuses before any handler runs in the library's JSON shape, with
 * `Connection: close`, and record each with `log` (an `accessLog()`), instead of Node's fixed
 * plain answers. A connection reset, or a socket that can no longer be written, is only
 * destroyed (and recorded as 499). Call it once per server; the statuses are Node's own.
 * @example
 * const log = accessLog()
 * const server = createServer(compose(errorBoundary(), requestId(), log)(handler))
 * answerClientErrors(server, { log })
 */
export function answerClientErrors(server: HttpServer | HttpsServer, options: AnswerClientErrorsOptions = {}): void {
  if (server === null || typeof server !== 'object' || typeof (server as HttpServer).on !== 'function') {
    throw new ConfigError(
      'answerClientErrors',
      'server',
      'an http or https Server',
      server,
      'Pass the server from http.createServer() (for Express: the one app.listen() returns).',
    )
  }
  const given = options.log === undefined ? [] : Array.isArray(options.log) ? options.log : [options.log]
  const logs = (given as readonly unknown[]).map((log, i) => {
    if (log === null || log === undefined || typeof (log as ClientErrorLog).logClientError !== 'function') {
      throw new ConfigError(
        'answerClientErrors',
        Array.isArray(options.log) ? `log[${i}]` : 'log',
        'an accessLog() or an object with logClientError(record)',
        log,
        'Pass the accessLog() of your stack.',
      )
    }
    return log as ClientErrorLog
  })

  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    const code = typeof err.code === 'string' ? err.code : 'UNKNOWN'
    const { method, path } = requestLine(err.rawPacket)
    const peer = (socket as Duplex & { remoteAddress?: string }).remoteAddress ?? ''
    let refusal = refusalFor(code)
    let bytesOut = 0
    // A reset peer or a socket already ending takes no answer: writing would fail (EPIPE) or
    // go nowhere. Node itself writes nothing on ECONNRESET.
    const answerable = code !== 'ECONNRESET' && socket.writable && !socket.writableEnded && !socket.destroyed
    if (answerable) {
      const body = JSON.stringify({ status: refusal.status, code: refusal.code, message: refusal.message })
      const head =
        `HTTP/1.1 ${refusal.status} ${refusal.message}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        'X-Content-Type-Options: nosniff\r\n' +
        'Connection: close\r\n\r\n'
      const answer = head + body
      bytesOut = Buffer.byteLength(answer, 'latin1')
      socket.end(answer, 'latin1')
      // A peer that never reads must not hold the socket: Node's own path destroys it too.
      socket.once('finish', () => socket.destroy())
    } else {
      socket.destroy()
      refusal = new HttpError(499 as never, 'Client Closed Request', { code: 'client_closed_request' })
    }
    if (logs.length === 0) return
    const record: ClientErrorRecord = {
      time: Date.now(),
      status: refusal.status,
      code: refusal.code,
      answered: answerable,
      error: code,
      clientIp: peer,
      method,
      path,
      bytesOut,
    }
    for (const log of logs) {
      try {
        log.logClientError(record)
      } catch {
        // A log must never turn a refused connection into a crash; the access log reports its own sink failures.
      }
    }
  })
}
