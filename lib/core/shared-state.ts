/**
 * Request state that several middleware share: written by one, read by others (the
 * request id by the access log and error responses, the user by logs and per-user
 * limits). Middleware never import each other, so these keys live in the core.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { HttpError } from './errors.js'
import { defineState } from './state.js'

/** The request's id, set by `requestId()`. */
export const requestIdState = defineState<string>('requestId', 'requestId()')

/** W3C trace context of the request, set by `traceContext()`. */
export interface TraceInfo {
  /** 32 lower-case hex digits, never all zero. */
  readonly traceId: string
  /** This server's span for the request: 16 lower-case hex digits. */
  readonly spanId: string
  /** The caller's span, when the request carried a valid `traceparent`. */
  readonly parentSpanId: string | undefined
  /** The sampled flag. */
  readonly sampled: boolean
  /** The `tracestate` to forward, if any. */
  readonly traceState: string | undefined
}

/** The request's trace context, set by `traceContext()`. */
export const traceState = defineState<TraceInfo>('trace', 'traceContext()')

/** Who the request acts for, set by identity middleware (jwtAuth, apiKey, session). */
export const userIdState = defineState<string>('userId', 'an identity middleware (jwtAuth(), apiKey() or session())')

/**
 * Who `req` acts for, whichever identity layer said so (jwtAuth's `sub`, apiKey's id, the
 * session's `userIdKey` field); throws, naming what to mount, when none did.
 */
export const getUserId = (req: IncomingMessage): string => userIdState.get(req)

/** Who `req` acts for, or `undefined` when no identity layer set it (anonymous, or none mounted). */
export const tryGetUserId = (req: IncomingMessage): string | undefined => userIdState.tryGet(req)

/**
 * The request target as the server received it, set by `mount()` before it strips its
 * prefix from `req.url` (the outermost mount wins). Layers that report the URL after a
 * mount (access logs, error reports) read `originalUrlState.tryGet(req) ?? req.url`.
 */
export const originalUrlState = defineState<string>('originalUrl', 'mount()')

/** The target `req` arrived with, before a `mount()` stripped its prefix; throws, naming what to mount, outside any mount. */
export const getOriginalUrl = (req: IncomingMessage): string => originalUrlState.get(req)

/**
 * The target `req` arrived with, or `undefined` when no `mount()` rewrote `req.url` (which is
 * then the original): `tryGetOriginalUrl(req) ?? req.url` is the URL the client sent, anywhere.
 */
export const tryGetOriginalUrl = (req: IncomingMessage): string | undefined => originalUrlState.tryGet(req)

/**
 * The prefixes `req` was mounted under, joined (`'/api/v2'`), set by `mount()`. Read by
 * `mount`'s accessors and by layers that label a request by where it was routed (metrics).
 */
export const mountPathState = defineState<string>('mountPath', 'mount()')

/**
 * Set by `cors()` on a preflight it validated and then passed on (`preflightContinue`).
 * Authenticating layers (jwtAuth, apiKey) let exactly these through without credentials:
 * a browser sends none on a preflight, and cors() has checked its origin, method and
 * headers. Nothing else makes a request a preflight to them: an `OPTIONS` that merely
 * looks like one (cors() not mounted, or not answering it) must authenticate.
 */
export const corsPreflightState = defineState<true>('corsPreflight', 'cors()')

/**
 * What `timeout()` keeps per request, as far as other layers may use it: the request's
 * abort signal, made on first use (an AbortController is not free), and the reason once
 * aborted. A layer that waits before calling the handler (rateLimit's slow-down) stops
 * waiting when the signal aborts, without importing timeout(). Read it with
 * {@link requestSignalOf}.
 */
export interface RequestAbortSource {
  controller: AbortController | undefined
  reason: Error | undefined
}

/** The request's abort source, set by `timeout()`. */
export const requestAbortState = defineState<RequestAbortSource>('requestAbort', 'timeout()')

/** The abort signal of `source`, made on first use (aborted at once if its reason is already set). */
export function requestSignalOf(source: RequestAbortSource): AbortSignal {
  if (source.controller === undefined) {
    source.controller = new AbortController()
    if (source.reason !== undefined) source.controller.abort(source.reason)
  }
  return source.controller.signal
}

/**
 * A request's session as layers other than session() reach it: csrf()'s token lives in a
 * session field. session() sets it; its own accessors give the full `Session` type.
 */
export interface SessionFields {
  /** True when the request brought no live session: this one was created for it. */
  readonly isNew: boolean
  /** The value of field `key`. */
  get(key: string): unknown
  /** Set field `key` (saved with the response). */
  set(key: string, value: unknown): void
}

/** The request's session, set by `session()`. */
export const sessionState = defineState<SessionFields>('session', 'session()')

/**
 * The `HttpError` that `sendError()` was last asked to answer `req` with: a layer's refusal
 * (as the layer made it, before an error boundary's `map`) or the boundary's answer. For
 * layers that count refusals by reason once the exchange is over.
 */
export const refusalState = defineState<HttpError>('refusal', 'sendError()')
/** The error a request's handler (or an inner layer) raised; a class, so a thrown `undefined` is still a failure. */
export class HandlerFailure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

/**
 * Set by the layers that see a handler's throw or rejection pass by (`hooks()` when it has
 * teardowns, `errorBoundary()` when it answers one), so that end-of-exchange code learns the
 * request failed whichever layer answered: an error boundary inside the reader swallows the
 * error before it gets there.
 */
export const handlerFailureState = defineState<HandlerFailure>('handlerFailure', 'errorBoundary() or hooks()')

/** Record that `req`'s handler failed with `error`; the first record (the innermost layer's) stays. */
export function recordHandlerFailure(req: IncomingMessage, error: unknown): void {
  if (!handlerFailureState.has(req)) handlerFailureState.set(req, new HandlerFailure(error))
}
