/**
 * errorBoundary: turn every failure inside it into the right ending for the client.
 *
 * - Sync throws and async rejections of inner layers and the handler (`compose` delivers
 *   both as rejections), and `'error'` events on the response (a write after `end()`, which
 *   would otherwise crash the process), are caught.
 * - Before the headers went out: one error response through `sendError`, in the stack's
 *   format (`format`: the library's JSON by default, RFC 9457 problem details, or the user's
 *   function; plain text for clients that prefer it), with the status of an `HttpError`, of an
 *   error carrying a numeric `status`/`statusCode` (http-errors, body parsers), or of a user
 *   `map(err)`; anything else is a 500 whose message and stack are never shown unless
 *   `development` is on. The response is then detached, so the failed handler's later writes
 *   go nowhere.
 * - After the headers went out: the response cannot be fixed, and ending it normally would
 *   hand the client a truncated body that looks complete. The socket is destroyed instead, so
 *   the client sees a broken response (a missing last chunk, a short Content-Length).
 * - A response the handler already completed stays as it is; the error is only reported.
 *
 * Every failure is reported through `onError` (with the request id). The boundary never
 * sends twice and never throws.
 *
 * The refusals of the layers inside it (a 429, a 401, a 413) are not failures: those layers
 * answer through `sendError` themselves. With `format` or `map` set, the boundary leaves an
 * error policy in request state, and `sendError` applies both to them too: `map` can change a
 * refusal's status and body, and every error the stack writes has the one chosen format.
 *
 * A client that leaves makes the handler fail too (a request stream that errors with
 * `aborted`, a `pipeline` into the response that closes early). That is not a server
 * error: when the connection is gone before the response completed and the error is one a
 * lost connection causes, the report says 499 (`client_closed_request`, as access logs
 * do) with action `none`, and the default reporter stays silent, so clients cannot fill
 * the logs by hanging up.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { detachResponse } from '../../core/detach-response.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { defineDefaults, expectBoolean, expectFunction, withDefaults } from '../../core/options.js'
import { reportError } from '../../core/report.js'
import { type ErrorFormat, type ErrorPolicy, errorPolicyState, sendMappedError } from '../../core/send-error.js'
import { originalUrlState, recordHandlerFailure, requestIdState } from '../../core/shared-state.js'
import { isThenable } from '../../core/thenable.js'

/**
 * What the boundary did about an error: `answered` with an error response, `destroyed` the
 * connection (headers were already sent), or `none` (the response was already complete,
 * or the connection already gone).
 */
export type ErrorAction = 'answered' | 'destroyed' | 'none'

/** What `onError` learns about one failure. */
export interface ErrorReport {
  /** The value thrown or rejected with, or emitted with `'error'`. */
  readonly error: unknown
  /**
   * The status answered, or that would have been answered had the headers not been sent;
   * 499 when the failure is the client having left (nothing is answered then).
   */
  readonly status: number
  /** The error as answered: status, code, exposed message (`client_closed_request` for a 499). */
  readonly httpError: HttpError
  /** The request id, when `requestId()` ran before the failure. */
  readonly requestId: string | undefined
  readonly action: ErrorAction
  /** `handler`: thrown or rejected inside; `response`: an `'error'` event on the response. */
  readonly source: 'handler' | 'response'
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

/** Options for {@link errorBoundary}. */
export interface ErrorBoundaryOptions {
  /**
   * Map an error to the answer: return an `HttpError`, or `undefined` for the default
   * (the error's own status if it is an `HttpError` or carries `status`, else 500). Use it
   * for errors of libraries you do not control (a database's unique-violation → 409), and to
   * reshape the refusals of the layers inside (it receives their `HttpError`, e.g. code
   * `too_many_requests`; the refusal's headers stay unless the new error sets them). If it
   * throws or returns anything else, the default applies and the mistake is reported.
   */
  map?: (error: unknown, req: IncomingMessage) => HttpError | undefined
  /**
   * The body of every error answered inside this boundary, refusals of inner layers
   * included: `'json'` (the library's shape), `'problem'` (RFC 9457
   * `application/problem+json`), or a function that writes or returns the body (see
   * `ErrorFormatter`). Choose it once, here; a function that fails falls back to `'json'`.
   * @default 'json'
   */
  format?: ErrorFormat
  /**
   * Called once per failure with an {@link ErrorReport}, for logs and error trackers. Its own
   * errors (and rejections) are reported as process warnings, never thrown.
   * @default reports 5xx answers and destroyed connections through `reportError` (a process
   * warning, rate-limited); neither 4xx nor client aborts (499)
   */
  onError?: (report: ErrorReport) => unknown
  /**
   * Show the message, error name and stack of 5xx errors in the response body. For local
   * development only: stacks tell an attacker what runs where.
   * @default false
   */
  development?: boolean
}

/** Reports what a server operator must see: 5xx answers and connections cut mid-response. */
function reportServerErrors(report: ErrorReport): void {
  if (report.status < 500 && report.action !== 'destroyed') return
  const target = originalUrlState.tryGet(report.req) ?? report.req.url ?? ''
  const path = target.split('?', 1)[0]
  const id = report.requestId === undefined ? '' : `, request ${report.requestId}`
  reportError(
    `errorBoundary(): ${report.req.method} ${path} failed (${report.status}, ${report.action}${id})`,
    report.error,
    report.req,
  )
}

export const errorBoundaryDefaults = defineDefaults<ErrorBoundaryOptions, 'map'>({
  map: undefined,
  format: 'json',
  onError: reportServerErrors,
  development: false,
})

interface Settings {
  readonly map: ErrorBoundaryOptions['map']
  /** What `sendError` is told. */
  readonly policy: ErrorPolicy
  /** Whether the policy differs from what `sendError` does with none (the library's JSON, no map). */
  readonly tells: boolean
  /** Whether `format` was left out, so that an outer boundary's applies. */
  readonly inheritFormat: boolean
  readonly onError: (report: ErrorReport) => unknown
  readonly development: boolean
}

/** What a client abort is reported as: nginx's 499, which access logs use too. */
const CLIENT_CLOSED = new HttpError(499, 'Client Closed Request', { code: 'client_closed_request' })

/**
 * Catch every failure inside this layer and answer it once, in the library's error shape.
 * List it first in `compose`, so errors of every other layer (CORS, auth, limits,
 * compression) are answered, with their headers.
 * @example
 * const app = compose(errorBoundary({ onError: (r) => logger.error(r.error, { requestId: r.requestId }) }), requestId(), cors())(router)
 */
export function errorBoundary(options: ErrorBoundaryOptions = {}): Middleware {
  const opts = withDefaults('errorBoundary', errorBoundaryDefaults, options)
  const map =
    opts.map === undefined
      ? undefined
      : expectFunction<NonNullable<ErrorPolicy['map']>>('errorBoundary', 'map', opts.map)
  const format = expectFormat(opts.format)
  const settings: Settings = {
    map,
    policy: Object.freeze({ format, map }),
    tells: options.format !== undefined || map !== undefined,
    inheritFormat: options.format === undefined,
    onError: expectFunction('errorBoundary', 'onError', opts.onError),
    development: expectBoolean(
      'errorBoundary',
      'development',
      opts.development,
      "Pass a boolean, e.g. development: process.env.NODE_ENV === 'development'; it sends error details to clients, so never turn it on in production.",
    ),
  }
  // One listener per middleware, not per request: the response is `this`.
  function onResponseError(this: ServerResponse, err: unknown): void {
    handleError(settings, this.req, this, err, 'response')
  }

  return defineMiddleware(
    {
      name: 'errorBoundary',
      detail: describe(settings, format),
    },
    (next) =>
      function errorBoundaryHandler(req, res) {
        res.on('error', onResponseError)
        if (settings.tells || errorPolicyState.has(req)) setPolicy(settings, req)
        let result: unknown
        try {
          result = next(req, res)
        } catch (err) {
          handleError(settings, req, res, err, 'handler')
          return
        }
        // Not an async function: a stack that answers synchronously then costs no promise
        // and no microtask per request; only a pending answer gets a rejection handler.
        if (isThenable(result)) {
          return result.then(undefined, (err: unknown) => {
            handleError(settings, req, res, err, 'handler')
          })
        }
      },
  )
}

function expectFormat(value: unknown): ErrorFormat {
  if (value === 'json' || value === 'problem' || typeof value === 'function') return value as ErrorFormat
  throw new ConfigError(
    'errorBoundary',
    'format',
    '"json", "problem" or a function',
    value,
    "Use 'problem' for RFC 9457 application/problem+json, or (info) => body to write your own.",
  )
}

function describe(settings: Settings, format: ErrorFormat): string | undefined {
  const parts = [
    format === 'json' ? '' : `format: ${typeof format === 'function' ? 'custom' : format}`,
    settings.development ? 'development: 5xx details shown' : '',
  ].filter(Boolean)
  return parts.length === 0 ? undefined : parts.join('; ')
}

/**
 * Tell `sendError` how errors inside this boundary are answered. The innermost boundary
 * answers, so its `map` (or none) applies to refusals as to exceptions; only its format,
 * when it was given none, is the outer boundary's: a stack chooses the format once.
 */
function setPolicy(settings: Settings, req: IncomingMessage): void {
  const outer = errorPolicyState.tryGet(req)
  if (outer === undefined || !settings.inheritFormat || outer.format === settings.policy.format) {
    errorPolicyState.set(req, settings.policy)
  } else {
    errorPolicyState.set(req, { format: outer.format, map: settings.map })
  }
}

function handleError(
  settings: Settings,
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  source: ErrorReport['source'],
): void {
  try {
    // For end-of-exchange code outside this boundary (hooks' teardown): the request failed.
    if (source === 'handler') recordHandlerFailure(req, err)
    if (isClientAbort(req, res, err)) {
      // Nothing to answer, nobody to answer; and not the server's failure.
      notify(settings, {
        error: err,
        status: 499,
        httpError: CLIENT_CLOSED,
        requestId: requestIdState.tryGet(req),
        action: 'none',
        source,
        req,
        res,
      })
      return
    }
    const httpError = toHttpError(settings, err, req)
    let action: ErrorAction = 'none'
    if (!res.headersSent && !res.writableEnded && !res.destroyed) {
      action = answer(req, res, httpError, err)
    } else if (res.headersSent && !res.writableEnded && !res.destroyed) {
      // Too late to answer: a clean end would pass a truncated body off as complete.
      res.destroy(asError(err))
      action = 'destroyed'
    }
    notify(settings, {
      error: err,
      status: httpError.status,
      httpError,
      requestId: requestIdState.tryGet(req),
      action,
      source,
      req,
      res,
    })
  } catch (failure) {
    reportError('errorBoundary(): failed while handling an error', failure, req)
  }
}

function answer(req: IncomingMessage, res: ServerResponse, httpError: HttpError, err: unknown): ErrorAction {
  try {
    if (sendMappedError(req, res, httpError)) {
      detachResponse(res)
      return 'answered'
    }
  } catch (failure) {
    // A response-start listener that throws a second time, an invalid header: the answer
    // cannot be written, so the connection is cut rather than left hanging.
    reportError('errorBoundary(): could not send the error response', failure, req)
  }
  res.destroy(asError(err))
  return 'destroyed'
}

function toHttpError(settings: Settings, err: unknown, req: IncomingMessage): HttpError {
  let mapped: HttpError | undefined
  if (settings.map) {
    try {
      const result = settings.map(err, req)
      if (result instanceof HttpError) mapped = result
      else if (result !== undefined)
        reportError(
          'errorBoundary(): map() must return an HttpError or undefined',
          new TypeError(`map() returned ${typeof result}`),
          req,
        )
    } catch (failure) {
      reportError('errorBoundary(): map() threw', failure, req)
    }
  }
  const httpError =
    mapped ??
    (err instanceof HttpError ? err : (fromStatusCarrier(err) ?? new HttpError(500, undefined, { cause: err })))
  if (!settings.development || httpError.status < 500) return httpError
  const e = err instanceof Error ? err : undefined
  return new HttpError(httpError.status, e?.message ?? String(err), {
    code: httpError.code,
    expose: true,
    headers: httpError.headers,
    details: {
      ...httpError.details,
      error: e?.name ?? typeof err,
      stack: e?.stack?.split('\n').map((line) => line.trim()) ?? [],
    },
    cause: err,
  })
}

/**
 * Errors of http-errors, body parsers and many frameworks carry `status` (or `statusCode`)
 * and `expose`; honour the status, and show the message only when `expose` is true.
 */
function fromStatusCarrier(err: unknown): HttpError | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const carrier = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown }
  const status = typeof carrier.status === 'number' ? carrier.status : carrier.statusCode
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) return undefined
  return new HttpError(status, typeof carrier.message === 'string' ? carrier.message : undefined, {
    expose: carrier.expose === true,
    cause: err,
  })
}

function notify(settings: Settings, report: ErrorReport): void {
  try {
    const result = settings.onError(report)
    if (isThenable(result)) {
      result.then(undefined, (failure: unknown) =>
        reportError('errorBoundary(): onError rejected', failure, report.req),
      )
    }
  } catch (failure) {
    reportError('errorBoundary(): onError threw', failure, report.req)
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))

/**
 * Whether the failure is the client leaving: the connection closed before the response
 * completed (not destroyed with an error by the server), and the error is one a lost
 * connection causes. A bug that throws after the client left is still a bug: its error is
 * not of that kind, and it is reported as one.
 */
function isClientAbort(req: IncomingMessage, res: ServerResponse, err: unknown): boolean {
  if (res.writableFinished || res.errored) return false
  // HTTP/2's compatibility request says whether its stream was reset; an HTTP/1 request's
  // connection is its socket (also for a pipelined response still queued, which Node never
  // closes).
  const gone = 'stream' in req ? req.aborted : req.socket?.destroyed === true
  return gone && isConnectionLoss(err, 0)
}

// Errors of a peer that went away: a reset or closed socket, a stream cut before its end
// (`pipeline`'s premature close), a write to a destroyed stream, a cancelled HTTP/2 stream.
const CONNECTION_LOSS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_INVALID_STREAM',
])

/** A connection-loss error, or an `AbortError` (a signal aborted because the client left), itself or as a cause. */
function isConnectionLoss(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, name, cause } = err as { code?: unknown; name?: unknown; cause?: unknown }
  if ((typeof code === 'string' && CONNECTION_LOSS.has(code)) || name === 'AbortError') return true
  return depth < 3 && isConnectionLoss(cause, depth + 1)
}
