/**
 * The one error response of the library. Every middleware that refuses a request
 * (400, 401, 403, 408, 413, 429, 431, 503) and the error boundary answer through here, so
 * a stack chooses once what its errors look like. By default, the library's JSON:
 *
 *     {…details,"status":429,"code":"too_many_requests","message":"Too Many Requests","requestId":"…"}
 *
 * or one line of plain text for a client whose `Accept` refuses JSON. An `errorBoundary()`
 * with `format` or `map` puts an {@link ErrorPolicy} in request state, and every refusal of
 * the layers inside it is then mapped and written in that format: the JSON above, RFC 9457
 * `application/problem+json`, or the user's function.
 *
 * The answer goes through `writeHead`, so response-start listeners of every layer run:
 * an error carries the request id, CORS and security headers like any other response,
 * whatever the format.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { defaultMessage, HttpError } from './errors.js'
import { mediaTypeQuality } from './negotiate.js'
import { reportError } from './report.js'
import { originalUrlState, refusalState, requestIdState } from './shared-state.js'
import { defineState } from './state.js'
import { discardHeldBody } from './transform-body.js'

/**
 * The JSON body of every error response in the default format: the error's details first,
 * then `status`, `code`, `message` and `requestId`, so that no detail can replace them.
 */
export interface ErrorBody {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly requestId?: string
  readonly [detail: string]: unknown
}

/** What a custom error format receives: the error as it is to be answered. */
export interface ErrorResponseInfo {
  /** The status already set on `res`. */
  readonly status: number
  /** Machine-readable, e.g. `'too_many_requests'`. */
  readonly code: string
  /** The message safe to show: the status phrase for a 5xx unless the error says `expose`. */
  readonly message: string
  /** The error's details (`retryAfterSeconds`, `limit`, …), possibly empty. */
  readonly details: Readonly<Record<string, unknown>>
  /** The request id, when `requestId()` ran. */
  readonly requestId: string | undefined
  /** The error itself (its `cause` is never for the client). */
  readonly error: HttpError
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

/**
 * Writes an error body. Status and the error's headers (`Retry-After`, `WWW-Authenticate`,
 * …) are already set on `res`, and `Cache-Control: no-store`. Either end `res` yourself, or
 * return the body: a string or bytes (sent as `text/plain` unless you set `Content-Type`) or
 * an object (sent as JSON). Must be synchronous. If it throws, returns a promise, or neither
 * ends the response nor returns a body, the default JSON is sent and the mistake reported.
 */
export type ErrorFormatter = (info: ErrorResponseInfo) => unknown

/** `'json'`: the library's shape; `'problem'`: RFC 9457 problem details; or your function. */
export type ErrorFormat = 'json' | 'problem' | ErrorFormatter

/** How the error boundary around a request wants its errors answered. */
export interface ErrorPolicy {
  readonly format: ErrorFormat
  /** The boundary's `map`, applied to refusals; an `HttpError` it returns replaces the refusal. */
  readonly map: ((error: unknown, req: IncomingMessage) => HttpError | undefined) | undefined
}

/** The error policy of the innermost `errorBoundary()` given `format` or `map`. */
export const errorPolicyState = defineState<ErrorPolicy>('errorPolicy', 'errorBoundary({ format })')

// Headers describing a representation the handler had started to build; an error
// replaces that representation, so they must not describe it.
const REPRESENTATION_HEADERS = [
  'content-length',
  'content-type',
  'content-encoding',
  'content-range',
  'content-disposition',
  'content-language',
  'content-location',
  'etag',
  'last-modified',
  'transfer-encoding',
]

const JSON_TYPE = 'application/json; charset=utf-8'
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'

/**
 * Answer `req` with `error`, in the format of the error boundary around it (the library's
 * JSON without one), after that boundary's `map`. Returns false, sending nothing, when
 * headers were already sent (the caller must then destroy the response instead). Messages
 * of errors that are not to be exposed are replaced by the status phrase.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: HttpError): boolean {
  refusalState.set(req, error)
  if (res.headersSent || res.writableEnded) return false
  const policy = errorPolicyState.tryGet(req)
  if (policy === undefined) return writeError(req, res, error, 'json')
  const answer = policy.map === undefined ? error : mapRefusal(policy.map, error, req)
  return writeError(req, res, answer, policy.format)
}

/**
 * {@link sendError} without the boundary's `map`: for `errorBoundary()`, which has mapped
 * the error it answers already.
 */
export function sendMappedError(req: IncomingMessage, res: ServerResponse, error: HttpError): boolean {
  refusalState.set(req, error)
  if (res.headersSent || res.writableEnded) return false
  return writeError(req, res, error, errorPolicyState.tryGet(req)?.format ?? 'json')
}

/**
 * Set the status and headers of the error answer on `res` and return its body, without
 * sending anything: for a response-start listener, which cannot end the response it is
 * starting and puts the body in place of the handler's instead (conditional()'s 412). The
 * boundary's `map` and format apply as in {@link sendError}, except that a function format
 * cannot run here (it would end the response being started): the library's JSON answers then.
 */
export function prepareError(req: IncomingMessage, res: ServerResponse, error: HttpError): string {
  refusalState.set(req, error)
  const policy = errorPolicyState.tryGet(req)
  const answer = policy?.map === undefined ? error : mapRefusal(policy.map, error, req)
  const format = policy === undefined || typeof policy.format === 'function' ? 'json' : policy.format
  return prepareHead(req, res, answer, format)
}

function writeError(req: IncomingMessage, res: ServerResponse, error: HttpError, format: ErrorFormat): boolean {
  // A body prefix held back by a transform (compression's threshold) belongs to the
  // replaced representation too.
  discardHeldBody(res)
  if (typeof format === 'function') {
    setErrorHead(res, error)
    const info: ErrorResponseInfo = {
      status: error.status,
      code: error.code,
      message: error.expose ? error.message : defaultMessage(error.status),
      details: error.details,
      requestId: requestIdState.tryGet(req),
      error,
      req,
      res,
    }
    if (runFormatter(format, info)) return true
    // The user's function failed before anything went out: the default still answers.
    format = 'json'
  }
  res.end(prepareHead(req, res, error, format))
  return true
}

/** Status, the error's own headers, and what every error answer carries; no representation headers. */
function setErrorHead(res: ServerResponse, error: HttpError): void {
  for (const name of REPRESENTATION_HEADERS) res.removeHeader(name)
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value)
  res.statusCode = error.status
  res.setHeader('cache-control', 'no-store')
  res.setHeader('x-content-type-options', 'nosniff')
}

/** {@link setErrorHead}, then the body in `format` (or plain text for a client that prefers it), its type and length. */
function prepareHead(req: IncomingMessage, res: ServerResponse, error: HttpError, format: 'json' | 'problem'): string {
  setErrorHead(res, error)
  const requestId = requestIdState.tryGet(req)
  const message = error.expose ? error.message : defaultMessage(error.status)
  let payload: string
  let type: string
  if (prefersText(req.headers.accept, format === 'problem')) {
    payload = `${error.status} ${error.code}: ${message}${requestId ? ` (request ${requestId})` : ''}\n`
    type = TEXT_TYPE
  } else if (format === 'problem') {
    payload = JSON.stringify(problemBody(req, error, message, requestId))
    type = PROBLEM_TYPE
  } else {
    const body: ErrorBody = {
      ...error.details,
      status: error.status,
      code: error.code,
      message,
      ...(requestId === undefined ? {} : { requestId }),
    }
    payload = JSON.stringify(body)
    type = JSON_TYPE
  }
  res.setHeader('content-type', type)
  res.setHeader('content-length', Buffer.byteLength(payload))
  return payload
}

/**
 * RFC 9457 §3.1 members, then the library's as extension members (§3.2). `type` is
 * `about:blank`, so `title` is the status phrase (§4.2.1); `instance` is the path the
 * client asked for, without its query (query strings carry tokens).
 */
function problemBody(req: IncomingMessage, error: HttpError, detail: string, requestId: string | undefined) {
  const target = originalUrlState.tryGet(req) ?? req.url ?? '/'
  const query = target.indexOf('?')
  return {
    type: 'about:blank',
    title: defaultMessage(error.status),
    status: error.status,
    detail,
    instance: query === -1 ? target : target.slice(0, query),
    code: error.code,
    ...(requestId === undefined ? {} : { requestId }),
    ...(Object.keys(error.details).length === 0 ? {} : { details: error.details }),
  }
}

/**
 * Run the user's format. True when the exchange is answered (or, once the function has sent
 * headers, ended or cut); false when nothing went out and the default must answer.
 */
function runFormatter(format: ErrorFormatter, info: ErrorResponseInfo): boolean {
  const { res } = info
  let body: unknown
  try {
    body = format(info)
  } catch (failure) {
    reportError('sendError(): the error format threw', failure)
    if (!res.headersSent && !res.writableEnded) return false
    // Half a body is out: ending it would pass it off as complete.
    if (!res.writableEnded) res.destroy(failure instanceof Error ? failure : new Error(String(failure)))
    return true
  }
  if (res.writableEnded) return true
  if (typeof body === 'object' && body !== null && typeof (body as { then?: unknown }).then === 'function') {
    ;(body as Promise<unknown>).then(undefined, () => undefined)
    return fallBack(res, 'returned a promise; it must be synchronous')
  }
  if (body === undefined || body === null) return fallBack(res, 'neither ended the response nor returned a body')
  const bytes = typeof body === 'string' || body instanceof Uint8Array
  let payload: string | Uint8Array | undefined
  try {
    payload = bytes ? (body as string | Uint8Array) : (JSON.stringify(body) as string | undefined)
  } catch (failure) {
    reportError('sendError(): the body the error format returned is not JSON', failure)
    return fallBack(res, undefined)
  }
  if (payload === undefined) return fallBack(res, `returned ${typeof body}, not a body`)
  if (!res.headersSent) {
    if (!res.hasHeader('content-type')) res.setHeader('content-type', bytes ? TEXT_TYPE : JSON_TYPE)
    res.setHeader('content-length', Buffer.byteLength(payload))
  }
  res.end(payload)
  return true
}

/** A format that left the response unanswered: the default answers, or, once headers are out, the body ends. */
function fallBack(res: ServerResponse, mistake: string | undefined): boolean {
  if (mistake !== undefined) {
    reportError('sendError(): the error format failed', new TypeError(`the error format ${mistake}`))
  }
  if (!res.headersSent) return false
  res.end()
  return true
}

/**
 * The boundary's `map` over a refusal. The refusal's own headers (`Retry-After`,
 * `WWW-Authenticate`) stay on a replacement unless it sets the same ones; a `map` that throws
 * or returns junk leaves the refusal as it was, and is reported.
 */
function mapRefusal(map: NonNullable<ErrorPolicy['map']>, error: HttpError, req: IncomingMessage): HttpError {
  let mapped: unknown
  try {
    mapped = map(error, req)
  } catch (failure) {
    reportError('errorBoundary(): map() threw', failure)
    return error
  }
  if (mapped === undefined || mapped === error) return error
  if (!(mapped instanceof HttpError)) {
    reportError(
      'errorBoundary(): map() must return an HttpError or undefined',
      new TypeError(`map() returned ${typeof mapped}`),
    )
    return error
  }
  if (Object.keys(error.headers).length === 0) return mapped
  return new HttpError(mapped.status, mapped.message, {
    code: mapped.code,
    expose: mapped.expose,
    headers: { ...error.headers, ...mapped.headers },
    details: mapped.details,
    cause: mapped.cause ?? error,
  })
}

/**
 * JSON unless the client accepts plain text and, strictly, prefers it over JSON (and, for
 * problem details, over `application/problem+json`).
 */
function prefersText(accept: string | undefined, problem: boolean): boolean {
  if (accept === undefined || accept === '*/*') return false
  const text = mediaTypeQuality(accept, 'text/plain')
  if (text === 0) return false
  const json = mediaTypeQuality(accept, 'application/json')
  return text > (problem ? Math.max(json, mediaTypeQuality(accept, 'application/problem+json')) : json)
}
