/**
 * timeout's per-request machinery: the deadline record, the timer callbacks that answer or
 * cut the exchange, and the abort signal with its reason. Split from timeout.ts, which keeps
 * the options and the factory.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { detachResponse } from '../core/detach-response.js'
import type { HttpError } from '../core/errors.js'
import { reportError } from '../core/report.js'
import type { ResponseEndInfo } from '../core/response-end.js'
import { sendError } from '../core/send-error.js'

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
  readonly error: HttpError
}

/** First timer: the deadline to start the answer. */
export function onDeadline(deadline: Deadline): void {
  deadline.timer = undefined
  const { res, settings } = deadline
  if (res.writableFinished || res.destroyed) return
  if (!res.headersSent && !res.writableEnded) {
    answer(deadline, new RequestAbortError('deadline', `the request deadline of ${deadline.first} ms passed; the client was answered ${settings.error.status}`))
    return
  }
  // Already answering: the deadline is met. Only a maximum duration can still cut it.
  if (deadline.second > 0) deadline.timer = settings.timers.setTimeout(onMaxDuration as (arg: never) => void, deadline.second, deadline as never)
}

/** Second timer (or the only one): the whole exchange took too long. */
export function onMaxDuration(deadline: Deadline): void {
  deadline.timer = undefined
  const { res } = deadline
  if (res.writableFinished || res.destroyed) return
  if (!res.headersSent && !res.writableEnded) {
    // No deadline was set, so nothing answered yet: answer now, as a deadline would.
    answer(deadline, new RequestAbortError('maxDuration', `the maximum duration of ${deadline.first} ms passed before an answer; the client was answered ${deadline.settings.error.status}`))
    return
  }
  const reason = new RequestAbortError('maxDuration', 'the maximum duration of the exchange passed; the connection was closed')
  abort(deadline, reason)
  res.destroy(reason)
}

/**
 * Answer for the handler, detach the response, then abort the signal: a handler reacting
 * to the abort writes into the void. Runs in a timer, so it must never throw.
 */
function answer(deadline: Deadline, reason: RequestAbortError): void {
  const { req, res, settings } = deadline
  try {
    if (sendError(req, res, settings.error)) detachResponse(res)
  } catch (err) {
    // A response-start listener that throws: no answer can be written, so cut the connection.
    reportError('timeout(): could not send the timeout answer', err)
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
  if (info.outcome === 'aborted') abort(d, new RequestAbortError('clientGone', 'the client disconnected before the response was complete'))
  else if (info.outcome === 'error') abort(d, new RequestAbortError('responseError', `the response failed: ${info.error?.message ?? 'unknown error'}`))
}

function abort(deadline: Deadline, reason: RequestAbortError): void {
  if (deadline.reason !== undefined) return
  deadline.reason = reason
  deadline.controller?.abort(reason)
  if (deadline.inner !== undefined) abort(deadline.inner, reason)
}

export function signalOf(deadline: Deadline): AbortSignal {
  // Made on first use: most handlers never ask, and an AbortController is not free.
  if (deadline.controller === undefined) {
    deadline.controller = new AbortController()
    if (deadline.reason !== undefined) deadline.controller.abort(deadline.reason)
  }
  return deadline.controller.signal
}

export function rethrowUnlessAborted(deadline: Deadline, err: unknown): void {
  const reason = deadline.reason
  if (reason !== undefined && (err === reason || (err instanceof Error && err.cause === reason))) return
  throw err
}
