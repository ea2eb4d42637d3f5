/**
 * timeout: a deadline per request, and an `AbortSignal` that tells the handler to stop.
 *
 * - When the deadline passes before the headers went out, the client gets one answer, a 503
 *   (or 504) in the library's error shape, optionally with `Retry-After`; or, when the request
 *   body is still arriving (the client stalled, not the server), a 408 with `Connection:
 *   close`, and the connection is closed once it is out. The response is
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
import type { IncomingMessage } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectOneOf,
  expectPlainObject,
  withDefaults,
  withNestedDefaults,
} from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import { onResponseEnd } from '../../core/response-end.js'
import { defineState } from '../../core/state.js'
import { requestAbortState, requestSignalOf } from '../../core/shared-state.js'
import { isThenable } from '../../core/thenable.js'
import { isUpgradeRequest } from '../../core/upgrade.js'
import {
  endDeadline,
  onDeadline,
  onMaxDuration,
  rethrowUnlessAborted,
  signalOf,
  type Deadline,
  type DeadlineSettings,
  type TimeoutTimers,
} from './deadline.js'

export { RequestAbortError, type RequestAbortKind, type TimeoutTimers } from './deadline.js'

/** A different deadline for some paths (uploads, reports, event streams). */
export interface TimeoutRoute {
  /** Paths this applies to: `'/exact'`, `'/prefix/*'`, anchored RegExps, predicates. */
  readonly paths: readonly PathPattern[]
  /** Deadline for these paths; 0 for none. @default the top-level `ms` */
  readonly ms?: number
  /** Maximum duration for these paths; 0 for none. @default the top-level `maxDurationMs` */
  readonly maxDurationMs?: number
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
  /**
   * Per-path deadlines; the first route whose paths match `matchablePath(req.url)` wins, else
   * the top-level values (always for an ambiguous target).
   * @default []
   */
  perPath?: readonly TimeoutRoute[]
  /** Match `perPath` case-sensitively (only if your router is case-sensitive too). @default false */
  caseSensitive?: boolean
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * gives them the top-level deadline; `'refuse'` answers them 400 `ambiguous_path`.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
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

export const timeoutDefaults = defineDefaults<TimeoutOptions, 'retryAfterSeconds'>({
  ms: 30_000,
  maxDurationMs: 0,
  perPath: Object.freeze([]) as readonly TimeoutRoute[],
  caseSensitive: false,
  ambiguousPaths: 'fail-closed',
  status: 503,
  retryAfterSeconds: undefined,
  timers: nodeTimers,
})

interface Plan {
  readonly ms: number
  readonly maxDurationMs: number
}

const deadlineState = defineState<Deadline>('requestSignal', 'timeout()')

/**
 * The request's abort signal. It aborts at the deadline, at the maximum duration, or when
 * the client disconnects, with a {@link RequestAbortError}; under `lifespan()`, also when the
 * drain deadline of a shutdown passes (a `ShutdownAbortError`). Without `timeout()`, the
 * lifespan's signal, which aborts only then. Throws when neither is mounted.
 * @example
 * const rows = await fetch(upstream, { signal: getRequestSignal(req) })
 */
export function getRequestSignal(req: IncomingMessage): AbortSignal {
  const signal = tryGetRequestSignal(req)
  if (signal === undefined)
    throw new Error('getRequestSignal(): no signal on this request; mount timeout() before this handler.')
  return signal
}

/** The request's abort signal, or undefined when neither `timeout()` nor `lifespan()` is mounted. */
export function tryGetRequestSignal(req: IncomingMessage): AbortSignal | undefined {
  const deadline = deadlineState.tryGet(req)
  if (deadline !== undefined) return signalOf(deadline)
  // lifespan() keeps a source of its own in the core's shared key; timeout() would have replaced it.
  const source = requestAbortState.tryGet(req)
  return source === undefined ? undefined : requestSignalOf(source)
}

/**
 * Give every request a deadline to start its answer, and a signal that aborts when it
 * passes or the client leaves. Pitfall: Node cannot stop a handler; pass the signal on,
 * or the work goes on after the client got its 503.
 * @example
 * compose(errorBoundary(), timeout({ ms: 5_000, perPath: [{ paths: ['/reports/*'], ms: 60_000 }] }))(router)
 */
export function timeout(options: TimeoutOptions = {}): Middleware {
  const opts = withDefaults('timeout', timeoutDefaults, options)
  const base = plan('ms', 'maxDurationMs', opts.ms, opts.maxDurationMs)
  const caseSensitive = expectBoolean('timeout', 'caseSensitive', opts.caseSensitive)
  const refuseAmbiguous = expectAmbiguousPaths('timeout', opts.ambiguousPaths)
  if (!Array.isArray(opts.perPath))
    throw new ConfigError('timeout', 'perPath', 'an array of { paths, ms?, maxDurationMs? }', opts.perPath)
  // A route's deadlines default to the top-level ones.
  const routeDefaults = defineDefaults<TimeoutRoute, 'paths'>({
    paths: undefined,
    ms: base.ms,
    maxDurationMs: base.maxDurationMs,
  })
  const routes = opts.perPath.map((entry: TimeoutRoute, i) => {
    const path = `perPath[${i}]`
    const expected = 'an object { paths, ms?, maxDurationMs? }'
    expectPlainObject('timeout', path, entry, expected)
    const route = withNestedDefaults('timeout', path, routeDefaults, entry, expected)
    return {
      // A missing list is refused there, as any non-array is.
      matches: compilePathPatterns('timeout', `${path}.paths`, route.paths!, { caseSensitive }),
      plan: plan(`${path}.ms`, `${path}.maxDurationMs`, route.ms, route.maxDurationMs),
    }
  })
  const status = expectOneOf('timeout', 'status', opts.status, [503, 504] as const)
  const retryAfter =
    opts.retryAfterSeconds === undefined
      ? undefined
      : expectInteger('timeout', 'retryAfterSeconds', opts.retryAfterSeconds, 0, 86_400 * 365)
  const timers = opts.timers
  if (typeof timers !== 'object' || timers === null)
    throw new ConfigError('timeout', 'timers', 'an object { setTimeout, clearTimeout }', timers)
  expectFunction('timeout', 'timers.setTimeout', timers.setTimeout)
  expectFunction('timeout', 'timers.clearTimeout', timers.clearTimeout)
  const settings: DeadlineSettings = {
    timers,
    // One error for every timeout: the answer does not depend on the request.
    error: new HttpError(
      status,
      status === 504 ? 'The server did not get an answer in time' : 'The server did not answer in time',
      {
        code: 'timeout',
        expose: true,
        headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
      },
    ),
    // The deadline passed while the request body was still arriving: the client's stall.
    stalled: requestTimeout(true),
    stalled2: requestTimeout(false),
  }

  const detail = [
    `${base.ms > 0 ? `${base.ms} ms` : 'no deadline'}`,
    base.maxDurationMs > 0 ? `max ${base.maxDurationMs} ms` : '',
    routes.length > 0 ? `${routes.length} per-path` : '',
    `${status}`,
  ]
    .filter(Boolean)
    .join(', ')

  return defineMiddleware(
    {
      name: 'timeout',
      detail,
    },
    (next) =>
      function timeoutHandler(req, res) {
        // A handshake is answered at once, and an upgraded connection lives as long as it likes:
        // no deadline, no signal (tryGetRequestSignal(req) is undefined).
        if (isUpgradeRequest(req)) return next(req, res)
        let chosen = base
        if (routes.length > 0 || refuseAmbiguous) {
          const path = matchablePath(req.url)
          if (path === undefined && refuseAmbiguous) return void sendError(req, res, AMBIGUOUS_PATH_ERROR)
          // An ambiguous target, or one that cannot be normalised, gets the top-level deadline.
          if (path !== undefined)
            for (const route of routes)
              if (route.matches(path)) {
                chosen = route.plan
                break
              }
        }
        const first = chosen.ms > 0 ? chosen.ms : chosen.maxDurationMs
        const deadline: Deadline = {
          req,
          res,
          settings,
          first,
          second: chosen.ms > 0 && chosen.maxDurationMs > 0 ? chosen.maxDurationMs - chosen.ms : 0,
          timer: undefined,
          controller: undefined,
          reason: undefined,
          inner: undefined,
        }
        // A timeout() inside another: the handler holds this one's signal, so the outer
        // deadline must abort it too; the earlier of the two wins.
        const outer = deadlineState.tryGet(req)
        if (outer !== undefined) {
          outer.inner = deadline
          deadline.reason = outer.reason
        }
        deadlineState.set(req, deadline)
        // Layers further in that wait (rateLimit's slow-down) read the signal through the core.
        requestAbortState.set(req, deadline)
        onResponseEnd(res, endDeadline, deadline)
        if (first > 0) {
          deadline.timer = timers.setTimeout(
            chosen.ms > 0 ? (onDeadline as (arg: never) => void) : (onMaxDuration as (arg: never) => void),
            first,
            deadline as never,
          )
        }
        const result = next(req, res)
        // The handler's rejection with our own abort reason is the signal working, not a failure.
        if (isThenable(result))
          return Promise.resolve(result).catch((err: unknown) => rethrowUnlessAborted(deadline, err))
        return result
      },
  )
}

/**
 * RFC 9110 §15.5.9: 408, and the connection is closed. HTTP/2 forbids connection-specific
 * headers (RFC 9113 §8.2.2); its stream is reset instead.
 */
function requestTimeout(http1: boolean): HttpError {
  return new HttpError(408, 'The request body did not arrive in time', {
    code: 'request_timeout',
    expose: true,
    headers: http1 ? { connection: 'close' } : {},
  })
}

/** Validate a deadline and a maximum duration given together. */
function plan(msName: string, maxName: string, ms: unknown, maxDurationMs: unknown): Plan {
  const a = expectInteger('timeout', msName, ms, 0, 2_147_483_647, 'Use 0 for no deadline.')
  const b = expectInteger('timeout', maxName, maxDurationMs, 0, 2_147_483_647, 'Use 0 for no maximum.')
  if (b > 0 && a > b) {
    throw new ConfigError(
      'timeout',
      maxName,
      `0 or at least ${msName} (${a})`,
      b,
      'The maximum duration covers the whole exchange, the deadline only its start.',
    )
  }
  return { ms: a, maxDurationMs: b }
}
