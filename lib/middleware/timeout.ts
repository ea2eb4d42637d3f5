/**
 * timeout: a deadline per request, and an `AbortSignal` that tells the handler to stop.
 *
 * - When the deadline passes before the headers went out, the client gets one answer, a 503
 *   (or 504) in the library's error shape, optionally with `Retry-After`. The response is
 *   then detached (`detachResponse`): the handler, which Node cannot stop, may go on, but its
 *   later writes go nowhere and raise nothing. connect-timeout crashes here with "headers
 *   already sent"; Hono's and chi's timeouts race the handler without telling it.
 * - The handler is told: `getRequestSignal(req)` aborts at the deadline, at the maximum
 *   duration, or when the client disconnects, with a {@link RequestAbortError} whose `kind`
 *   says which. Pass it to `fetch`, database drivers, `stream.pipeline`.
 * - The deadline is for starting the answer. A response already streaming is left alone,
 *   unless `maxDurationMs` is set: when the whole exchange outlives it, the socket is
 *   destroyed, so a stalled stream or a slow reader cannot hold it forever.
 * - No timer outlives its request: every timer is cleared when the exchange ends, however
 *   it ends (`onResponseEnd`).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware } from '../core/types.js'
import { defineMiddleware } from '../core/define.js'
import { detachResponse } from '../core/detach-response.js'
import { ConfigError, HttpError } from '../core/errors.js'
import { expectBoolean, expectFunction, expectInteger, expectOneOf, withDefaults } from '../core/options.js'
import { compilePathPatterns, normalizePath, type PathPattern } from '../core/path.js'
import { onResponseEnd, type ResponseEndInfo } from '../core/response-end.js'
import { reportError } from '../core/report.js'
import { sendError } from '../core/send-error.js'
import { defineState } from '../core/state.js'

/** A different deadline for some paths (uploads, reports, event streams). */
export interface TimeoutRoute {
  /** Paths this applies to: `'/exact'`, `'/prefix/*'`, anchored RegExps, predicates. */
  readonly paths: readonly PathPattern[]
  /** Deadline for these paths; 0 for none. @default the top-level `ms` */
  readonly ms?: number
  /** Maximum duration for these paths; 0 for none. @default the top-level `maxDurationMs` */
  readonly maxDurationMs?: number
}

/** Timer functions, injectable for tests. Node's `setTimeout(callback, ms, arg)` signature. */
export interface TimeoutTimers {
  setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown
  clearTimeout(handle: unknown): void
}

/** Options for {@link timeout}. */
export interface TimeoutOptions {
  /**
   * Milliseconds the handler has to start its answer (send headers); 0 for no deadline.
   * Set it below the timeouts of the proxies and clients in front of you, so your answer,
   * not theirs, is the one the client sees.
   * @default 30_000
   */
  ms?: number
  /**
   * Milliseconds the whole exchange may last, streaming included, before the socket is
   * destroyed; 0 for no limit. At least `ms`. Set it for streaming endpoints that must not
   * be held open by a stalled producer or a client that reads slowly.
   * @default 0
   */
  maxDurationMs?: number
  /** Per-path deadlines; the first route whose paths match wins, else the top-level values. @default [] */
  perPath?: readonly TimeoutRoute[]
  /** Match `perPath` case-sensitively (only if your router is case-sensitive too). @default false */
  caseSensitive?: boolean
  /** 503 (this server gave up) or 504 (an upstream it waited for did: for gateways). @default 503 */
  status?: 503 | 504
  /** Send `Retry-After` with this many seconds on the timeout answer. @default undefined (no header) */
  retryAfterSeconds?: number
  /** Timer functions; inject fakes in tests. @default Node's setTimeout and clearTimeout */
  timers?: TimeoutTimers
}

const nodeTimers: TimeoutTimers = Object.freeze({
  setTimeout: (callback: (arg: never) => void, ms: number, arg: never) => setTimeout(callback, ms, arg),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
})

export const timeoutDefaults: Readonly<Required<Omit<TimeoutOptions, 'retryAfterSeconds'>>> = Object.freeze({
  ms: 30_000,
  maxDurationMs: 0,
  perPath: Object.freeze([]) as readonly TimeoutRoute[],
  caseSensitive: false,
  status: 503,
  timers: nodeTimers,
})

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
interface Deadline {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly settings: Settings
  /** Milliseconds of the first timer (the deadline, or the maximum duration when there is no deadline). */
  readonly first: number
  /** Milliseconds from the first timer to the maximum duration (0: none). */
  readonly second: number
  timer: unknown
  controller: AbortController | undefined
  reason: RequestAbortError | undefined
}

interface Plan {
  readonly ms: number
  readonly maxDurationMs: number
}

interface Settings {
  readonly timers: TimeoutTimers
  readonly error: HttpError
}

const deadlineState = defineState<Deadline>('requestSignal', 'timeout()')

/**
 * The request's abort signal. It aborts at the deadline, at the maximum duration, or when
 * the client disconnects, with a {@link RequestAbortError}. Throws without `timeout()`.
 * @example
 * const rows = await fetch(upstream, { signal: getRequestSignal(req) })
 */
export function getRequestSignal(req: IncomingMessage): AbortSignal {
  const deadline = deadlineState.tryGet(req)
  if (deadline === undefined) throw new Error('getRequestSignal(): no signal on this request; mount timeout() before this handler.')
  return signalOf(deadline)
}

/** The request's abort signal, or undefined when `timeout()` is not mounted. */
export function tryGetRequestSignal(req: IncomingMessage): AbortSignal | undefined {
  const deadline = deadlineState.tryGet(req)
  return deadline === undefined ? undefined : signalOf(deadline)
}

/**
 * Give every request a deadline to start its answer, and a signal that aborts when it
 * passes or the client leaves. Pitfall: Node cannot stop a handler; pass the signal on,
 * or the work goes on after the client got its 503.
 * @example
 * compose(errorBoundary(), timeout({ ms: 5_000, perPath: [{ paths: ['/reports/*'], ms: 60_000 }] }))(router)
 */
export function timeout(options: TimeoutOptions = {}): Middleware {
  const opts = withDefaults('timeout', timeoutDefaults as TimeoutOptions, options, ['retryAfterSeconds'])
  const base = plan('ms', 'maxDurationMs', opts.ms, opts.maxDurationMs)
  const caseSensitive = expectBoolean('timeout', 'caseSensitive', opts.caseSensitive)
  if (!Array.isArray(opts.perPath)) throw new ConfigError('timeout', 'perPath', 'an array of { paths, ms?, maxDurationMs? }', opts.perPath)
  const routes = opts.perPath.map((route: TimeoutRoute, i) => {
    if (typeof route !== 'object' || route === null) throw new ConfigError('timeout', `perPath[${i}]`, 'an object { paths, ms?, maxDurationMs? }', route)
    const unknown = Object.keys(route).find((key) => !['paths', 'ms', 'maxDurationMs'].includes(key))
    if (unknown !== undefined) throw new ConfigError('timeout', `perPath[${i}].${unknown}`, 'one of paths, ms, maxDurationMs', route[unknown as keyof TimeoutRoute])
    return {
      matches: compilePathPatterns('timeout', `perPath[${i}].paths`, route.paths, { caseSensitive }),
      plan: plan(`perPath[${i}].ms`, `perPath[${i}].maxDurationMs`, route.ms ?? base.ms, route.maxDurationMs ?? base.maxDurationMs),
    }
  })
  const status = expectOneOf('timeout', 'status', opts.status, [503, 504] as const)
  const retryAfter = opts.retryAfterSeconds === undefined ? undefined
    : expectInteger('timeout', 'retryAfterSeconds', opts.retryAfterSeconds, 0, 86_400 * 365)
  const timers = opts.timers
  if (typeof timers !== 'object' || timers === null) throw new ConfigError('timeout', 'timers', 'an object { setTimeout, clearTimeout }', timers)
  expectFunction('timeout', 'timers.setTimeout', timers.setTimeout)
  expectFunction('timeout', 'timers.clearTimeout', timers.clearTimeout)
  const settings: Settings = {
    timers,
    // One error for every timeout: the answer does not depend on the request.
    error: new HttpError(status, status === 504 ? 'The server did not get an answer in time' : 'The server did not answer in time', {
      code: 'timeout',
      expose: true,
      headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
    }),
  }

  const detail = [`${base.ms > 0 ? `${base.ms} ms` : 'no deadline'}`, base.maxDurationMs > 0 ? `max ${base.maxDurationMs} ms` : '',
    routes.length > 0 ? `${routes.length} per-path` : '', `${status}`].filter(Boolean).join(', ')

  return defineMiddleware({
    name: 'timeout',
    detail,
    inside: [{ name: 'errorBoundary', reason: 'a handler that fails after the deadline must be reported, and its rejection must not be answered twice' }],
  }, (next) => function timeoutHandler(req, res) {
    let chosen = base
    if (routes.length > 0) {
      const path = normalizePath(req.url)
      // A path that cannot be normalised gets the top-level deadline.
      if (path !== undefined) for (const route of routes) if (route.matches(path)) { chosen = route.plan; break }
    }
    const first = chosen.ms > 0 ? chosen.ms : chosen.maxDurationMs
    const deadline: Deadline = {
      req, res, settings, first,
      second: chosen.ms > 0 && chosen.maxDurationMs > 0 ? chosen.maxDurationMs - chosen.ms : 0,
      timer: undefined,
      controller: undefined,
      reason: undefined,
    }
    deadlineState.set(req, deadline)
    onResponseEnd(res, endDeadline, deadline)
    if (first > 0) {
      deadline.timer = timers.setTimeout(chosen.ms > 0 ? onDeadline as (arg: never) => void : onMaxDuration as (arg: never) => void, first, deadline as never)
    }
    const result = next(req, res)
    // The handler's rejection with our own abort reason is the signal working, not a failure.
    if (isThenable(result)) return Promise.resolve(result).catch((err: unknown) => rethrowUnlessAborted(deadline, err))
    return result
  })
}

/** Validate a deadline and a maximum duration given together. */
function plan(msName: string, maxName: string, ms: unknown, maxDurationMs: unknown): Plan {
  const a = expectInteger('timeout', msName, ms, 0, 2_147_483_647, 'Use 0 for no deadline.')
  const b = expectInteger('timeout', maxName, maxDurationMs, 0, 2_147_483_647, 'Use 0 for no maximum.')
  if (b > 0 && a > b) {
    throw new ConfigError('timeout', maxName, `0 or at least ${msName} (${a})`, b, 'The maximum duration covers the whole exchange, the deadline only its start.')
  }
  return { ms: a, maxDurationMs: b }
}

/** First timer: the deadline to start the answer. */
function onDeadline(deadline: Deadline): void {
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
function onMaxDuration(deadline: Deadline): void {
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
function endDeadline(info: ResponseEndInfo, _res: ServerResponse, deadline: Deadline | undefined): void {
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
}

function signalOf(deadline: Deadline): AbortSignal {
  // Made on first use: most handlers never ask, and an AbortController is not free.
  if (deadline.controller === undefined) {
    deadline.controller = new AbortController()
    if (deadline.reason !== undefined) deadline.controller.abort(deadline.reason)
  }
  return deadline.controller.signal
}

function rethrowUnlessAborted(deadline: Deadline, err: unknown): void {
  const reason = deadline.reason
  if (reason !== undefined && (err === reason || (err instanceof Error && err.cause === reason))) return
  throw err
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
