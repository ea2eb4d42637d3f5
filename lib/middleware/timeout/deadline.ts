/**
 * timeout's per-request machinery: the deadline record, the timer callbacks that answer or
 * cut the exchange, and the abort signal with its reason. Split from timeout.ts, which keeps
 * the options and the factory.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { detachResponse } from '../../core/detach-response.js'
import type { HttpError } from '../../core/errors.js'
import { reportError } from '../../core/report.js'
import type { ResponseEndInfo } from '../../core/response-end.js'
import { sendError } from '../../core/send-error.js'
import { requestSignalOf } from '../../core/shared-state.js'

/** Timer functions, injectable for tests. Node's `setTimeout(callback, ms, arg)` signature. */
export interface TimeoutTimers {
  setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown
  clearTimeout(handle: unknown): void
}

/** Which limit ended the exchange early; `kind` of a {@link RequestAbortError}. */
export type RequestAbortKind = 'deadline' | 'maxDuration' | 'clientGone' | 'responseError'

/**
 * The reason of an aborted request signal. Named `TimeoutError` for the deadline and the
 * maximum duration, `AbortError` when the client went away or the response failed, as the
 * DOM names the two; `kind` says exactly which.
 */
export class RequestAbortError extends Error {
  readonly code = 'ERR_REQUEST_ABORTED'
  readonly kind: RequestAbortKind
  constructor(kind: RequestAbortKind, message: string) {
    super(message)
    this.name = kind === 'deadline' || kind === 'maxDuration' ? 'TimeoutError' : 'AbortError'
    this.kind = kind
  }
}

/** One request's deadline. One object per request; the timer callbacks get it as their argument. */
export interface Deadline {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly settings: DeadlineSettings
  /** Milliseconds of the first timer (the deadline, or the maximum duration when there is no deadline). */
  readonly first: number
  /** Milliseconds from the first timer to the maximum duration (0: none). */
  readonly second: number
  timer: unknown
  controller: AbortController | undefined
  reason: RequestAbortError | undefined
  /** The deadline of a timeout() inside this one, whose signal the handler holds: aborted with ours. */
  inner: Deadline | undefined
}

/** What every deadline of one `timeout()` shares. */
export interface DeadlineSettings {
  readonly timers: TimeoutTimers
  /** The answer when the server did not answer in time (503 or 504). */
  readonly error: HttpError
  /** The answer when the client did not send its body in time: 408 with `Connection: close` (HTTP/1). */
  readonly stalled: HttpError
  /** The same for HTTP/2, which forbids connection-specific headers (RFC 9113 §8.2.2). */
  readonly stalled2: HttpError
}

/** First timer: the deadline to start the answer. */
export function onDeadline(deadline: Deadline): void {
  deadline.timer = undefined
  const { res, settings } = deadline
  if (res.writableFinished || res.destroyed) return
  if (!res.headersSent && !res.writableEnded) {
    answer(deadline, 'deadline', `the request deadline of ${deadline.first} ms passed`)
    return
  }
  // Already answering: the deadline is met. Only a maximum duration can still cut it.
  if (deadline.second > 0)
    deadline.timer = settings.timers.setTimeout(
      onMaxDuration as (arg: never) => void,
      deadline.second,
      deadline as never,
    )
}

/** Second timer (or the only one): the whole exchange took too long. */
export function onMaxDuration(deadline: Deadline): void {
  deadline.timer = undefined
  const { res } = deadline
  if (res.writableFinished || res.destroyed) return
  if (!res.headersSent && !res.writableEnded) {
    // No deadline was set, so nothing answered yet: answer now, as a deadline would.
    answer(deadline, 'maxDuration', `the maximum duration of ${deadline.first} ms passed before an answer`)
    return
  }
  const reason = new RequestAbortError(
    'maxDuration',
    'the maximum duration of the exchange passed; the connection was closed',
  )
  abort(deadline, reason)
  res.destroy(reason)
}

/**
 * Answer for the handler, detach the response, then abort the signal: a handler reacting
 * to the abort writes into the void. Runs in a timer, so it must never throw.
 *
 * Whose stall it was decides the answer. A request body still arriving is the client's
 * (RFC 9110 §15.5.9: 408, the server closes the connection); otherwise the server did not
 * answer in time (503, or 504 for gateways).
 */
function answer(deadline: Deadline, kind: 'deadline' | 'maxDuration', passed: string): void {
  const { req, res, settings } = deadline
  const stalled = clientStalled(req)
  const error = !stalled ? settings.error : req.httpVersionMajor < 2 ? settings.stalled : settings.stalled2
  const reason = new RequestAbortError(
    kind,
    stalled
      ? `${passed} with the request body still incomplete; the client was answered ${error.status} and the connection closed`
      : `${passed}; the client was answered ${error.status}`,
  )
  try {
    if (sendError(req, res, error)) {
      detachResponse(res)
      if (stalled) stopReceiving(req)
    }
  } catch (err) {
    // A response-start listener that throws: no answer can be written, so cut the connection.
    reportError('timeout(): could not send the timeout answer', err, req)
    res.destroy(reason)
  }
  abort(deadline, reason)
}

/** The exchange is over: clear the timer, and tell the handler if the client left. */
export function endDeadline(info: ResponseEndInfo, _res: ServerResponse, deadline: Deadline | undefined): void {
  const d = deadline!
  if (d.timer !== undefined) {
    d.settings.timers.clearTimeout(d.timer)
    d.timer = undefined
  }
  if (info.outcome === 'aborted')
    abort(d, new RequestAbortError('clientGone', 'the client disconnected before the response was complete'))
  else if (info.outcome === 'error')
    abort(d, new RequestAbortError('responseError', `the response failed: ${info.error?.message ?? 'unknown error'}`))
}

/**
 * Whether the client stopped sending a request body it announced: bytes are still to come,
 * and the request stream is not full. A full stream means the server stopped reading (the
 * parser then stops reading the socket), and the wait is the server's, not the client's.
 */
function clientStalled(req: IncomingMessage): boolean {
  if (req.readableLength >= req.readableHighWaterMark) return false
  const stream = (req as Http2Request).stream
  // HTTP/2's compatibility request is `complete` only once read to its end; the stream
  // knows whether the client closed its side (END_STREAM).
  if (stream !== undefined) return !stream.destroyed && stream.state?.remoteClose === 0
  // RFC 9112 §6.3: without either header an HTTP/1 request has no body. (Node sets
  // `complete` only after the 'request' event, so a bodiless request is not complete yet
  // while its handler runs synchronously.)
  const length = req.headers['content-length']
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return false
  return !req.complete
}

/** HTTP/2 compatibility requests carry their stream. */
type Http2Request = IncomingMessage & {
  stream?: {
    readonly destroyed: boolean
    readonly closed: boolean
    readonly state?: { remoteClose?: number }
    close(code?: number): void
  }
}

/**
 * After a 408, stop receiving the rest of the body. HTTP/1: the answer's `Connection: close`
 * makes Node close the connection once it is written. HTTP/2: RST_STREAM with NO_ERROR tells
 * the client to stop sending (RFC 9113 §8.1), and other streams go on. Node sends it only
 * once the answer, already ended, is flushed (its compatibility response emits 'finish'
 * only when the stream closes, so that cannot be waited for here).
 */
function stopReceiving(req: IncomingMessage): void {
  const stream = (req as Http2Request).stream
  if (stream !== undefined && !stream.closed) stream.close(NGHTTP2_NO_ERROR)
}

const NGHTTP2_NO_ERROR = 0

function abort(deadline: Deadline, reason: RequestAbortError): void {
  if (deadline.reason !== undefined) return
  deadline.reason = reason
  deadline.controller?.abort(reason)
  if (deadline.inner !== undefined) abort(deadline.inner, reason)
}

/** Made on first use: most handlers never ask, and an AbortController is not free. */
export const signalOf: (deadline: Deadline) => AbortSignal = requestSignalOf

export function rethrowUnlessAborted(deadline: Deadline, err: unknown): void {
  const reason = deadline.reason
  if (reason !== undefined && (err === reason || (err instanceof Error && err.cause === reason))) return
  throw err
}
