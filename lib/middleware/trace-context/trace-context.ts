/**
 * W3C Trace Context: continue the caller's trace from a valid `traceparent` (or start a new
 * one), give each request a span id of its own, keep `tracestate` for forwarding, and expose
 * it all in request state (the access log writes the trace and span ids). Outgoing calls
 * carry it on with {@link propagationHeaders}.
 *
 * This is propagation, not a tracer: no span is recorded or exported. It is what lets logs
 * of several services be joined by trace id, and what a tracer downstream continues.
 * @module
 */
import { randomFillSync } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIdentity } from '../../core/client.js'
import { currentRequest } from '../../core/context.js'
import { defineMiddleware } from '../../core/define.js'
import { describeValue } from '../../core/errors.js'
import { singleHeader } from '../../core/headers.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectNumber,
  expectOneOf,
  isToken,
  withDefaults,
} from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import { requestIdState, traceState, type TraceInfo } from '../../core/shared-state.js'
import type { Middleware } from '../../core/types.js'
import { formatTraceparent, parseTraceparent, parseTracestate, TRACESTATE_MAX_LENGTH } from './traceparent.js'

export { formatTraceparent, parseTraceparent, parseTracestate, type Traceparent } from './traceparent.js'

/** Options for {@link traceContext}. */
export interface TraceContextOptions {
  /**
   * When to continue an incoming trace: `true` always (services called by peers that trace),
   * `'proxy'` only when a trusted proxy forwarded the request (`proxyHeaders()`), `false`
   * never (an edge that must not let the internet choose trace ids or force sampling).
   * An untrusted or invalid `traceparent` starts a new trace and drops `tracestate`.
   * @default true
   */
  trustIncoming?: boolean | 'proxy'
  /**
   * Fraction of new traces (started here, not continued) marked sampled, from 0 to 1.
   * Continued traces keep the caller's decision.
   * @default 1
   */
  sampleRate?: number
  /**
   * Send this server's `traceparent` (its own span as parent) on the response, so a client
   * can find the trace of its request. Off by default: it tells clients your trace ids.
   * @default false
   */
  echo?: boolean
  /** Response header for `echo`; `traceresponse` is the name the W3C draft proposes. @default 'traceparent' */
  echoHeader?: string
  /** Longest `tracestate` kept; longer ones are trimmed as the spec recommends. At least 512. @default 512 */
  maxTraceStateLength?: number
  /** Source of `Math.random()`-like numbers in [0, 1) for `sampleRate`; inject in tests. @default Math.random */
  random?: () => number
}

/** Defaults of {@link traceContext}. */
export const traceContextDefaults = defineDefaults<TraceContextOptions>({
  trustIncoming: true,
  sampleRate: 1,
  echo: false,
  echoHeader: 'traceparent',
  maxTraceStateLength: TRACESTATE_MAX_LENGTH,
  random: Math.random,
})

/** The trace of `req`; throws, naming what to mount, when `traceContext()` has not run for it. */
export const getTrace = (req: IncomingMessage): TraceInfo => traceState.get(req)

/** The trace of `req`, or `undefined` when `traceContext()` has not run for it. */
export const tryGetTrace = (req: IncomingMessage): TraceInfo | undefined => traceState.tryGet(req)

/** Options of {@link propagationHeaders}. */
export interface PropagationOptions {
  /** Header carrying the request id to the next service, or false to leave it out. @default 'x-request-id' */
  requestIdHeader?: string | false
}

/**
 * Headers to send on an outgoing call made while serving `req`, so the next service joins
 * this trace with this request's span as its parent, and logs the same request id:
 * `traceparent`, `tracestate` when there is one, and `x-request-id` when `requestId()` ran.
 * Without `req` it serves the current request of `requestContext()`.
 * @example
 * const res = await fetch('http://billing.internal/charge', {
 *   method: 'POST', headers: { ...propagationHeaders(req), 'content-type': 'application/json' }, body,
 * })
 */
export function propagationHeaders(
  req: IncomingMessage = currentRequest(),
  options: PropagationOptions = {},
): Record<string, string> {
  const idHeader = options.requestIdHeader ?? 'x-request-id'
  if (idHeader !== false && (typeof idHeader !== 'string' || !isToken(idHeader))) {
    throw new TypeError(
      `propagationHeaders(): "requestIdHeader" must be a header name or false; received ${describeValue(idHeader)}.`,
    )
  }
  const headers: Record<string, string> = {}
  const trace = traceState.tryGet(req)
  if (trace !== undefined) {
    headers.traceparent = formatTraceparent(trace.traceId, trace.spanId, trace.sampled ? 1 : 0)
    if (trace.traceState !== undefined) headers.tracestate = trace.traceState
  }
  const id = requestIdState.tryGet(req)
  if (idHeader !== false && id !== undefined) headers[idHeader.toLowerCase()] = id
  return headers
}

/**
 * Read or start a W3C trace for every request; read it with {@link getTrace}, forward it with
 * {@link propagationHeaders}.
 * @example
 * const app = compose(requestId(), traceContext({ echo: true }), accessLog())(router)
 */
export function traceContext(options: TraceContextOptions = {}): Middleware {
  const opts = withDefaults('traceContext', traceContextDefaults, options)
  const trust = expectOneOf('traceContext', 'trustIncoming', opts.trustIncoming, [true, false, 'proxy'])
  const sampleRate = expectNumber('traceContext', 'sampleRate', opts.sampleRate, 0, 1)
  const echo = expectBoolean('traceContext', 'echo', opts.echo)
  const echoHeader = expectHeaderName('traceContext', 'echoHeader', opts.echoHeader)
  const maxStateLength = expectInteger(
    'traceContext',
    'maxTraceStateLength',
    opts.maxTraceStateLength,
    TRACESTATE_MAX_LENGTH,
    8192,
    'The spec asks every vendor to propagate at least 512 characters.',
  )
  const random = expectFunction<() => number>('traceContext', 'random', opts.random)
  const ids = idSource()

  const echoTrace = (res: ServerResponse, trace: TraceInfo): void => {
    res.setHeader(echoHeader, formatTraceparent(trace.traceId, trace.spanId, trace.sampled ? 1 : 0))
  }

  const trustMode = trust === 'proxy' ? 'proxy' : trust ? 'always' : 'never'
  return defineMiddleware(
    {
      name: 'traceContext',
      detail: `trust ${trustMode}, sample ${sampleRate}${echo ? `, echo ${echoHeader}` : ''}`,
      // Only 'trust proxy' reads the client identity, so only it must sit inside proxyHeaders.
      variant: `trust ${trustMode}`,
    },
    (next) =>
      function traceContextHandler(req, res) {
        let trace = traceState.tryGet(req)
        // A second traceContext() (a mounted sub-app) stays in the span the first one opened.
        if (trace === undefined) {
          const parent =
            trust === true || (trust === 'proxy' && clientIdentity(req).viaTrustedProxy)
              ? parseTraceparent(singleHeader(req, 'traceparent'))
              : undefined
          trace =
            parent === undefined
              ? {
                  traceId: ids.traceId(),
                  spanId: ids.spanId(),
                  parentSpanId: undefined,
                  sampled: sampleRate === 1 || random() < sampleRate,
                  traceState: undefined,
                }
              : // §3.3.1: tracestate is read only along with a valid traceparent.
                {
                  traceId: parent.traceId,
                  spanId: ids.spanId(),
                  parentSpanId: parent.parentId,
                  sampled: parent.sampled,
                  traceState: parseTracestate(joinedHeader(req, 'tracestate'), maxStateLength),
                }
          traceState.set(req, trace)
        }
        if (echo) onResponseStart(res, echoTrace, trace)
        return next(req, res)
      },
  )
}

/** A header's lines joined with `,` as RFC 9110 §5.3 combines them (Node joins most with ', '). */
function joinedHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(',') : value
}

const POOL_SIZE = 4096

/**
 * Random trace and span ids from a pool refilled 4 KiB at a time: one `randomFillSync` per
 * ~170 requests instead of one per id. §3.2.2.3/§3.2.2.4: all-zero ids are invalid, so such
 * a draw is made again.
 */
function idSource(): { traceId(): string; spanId(): string } {
  const pool = Buffer.allocUnsafe(POOL_SIZE)
  let offset = POOL_SIZE
  const draw = (bytes: number): string => {
    for (;;) {
      if (offset + bytes > POOL_SIZE) {
        randomFillSync(pool)
        offset = 0
      }
      const start = offset
      offset += bytes
      for (let i = start; i < offset; i++) if (pool[i] !== 0) return pool.toString('hex', start, offset)
    }
  }
  return { traceId: () => draw(16), spanId: () => draw(8) }
}
