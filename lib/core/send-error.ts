/**
 * The one error response of the library. Every middleware that refuses a request
 * (400, 401, 403, 413, 429, 431, 503) and the error boundary answer through here, so
 * clients see one shape:
 *
 *     {"status":429,"code":"too_many_requests","message":"Too Many Requests","requestId":"…", …details}
 *
 * as JSON, or as one line of plain text for a client whose `Accept` refuses JSON.
 * The answer goes through `writeHead`, so response-start listeners of every layer run:
 * an error carries the request id, CORS and security headers like any other response.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError } from './errors.js'
import { mediaTypeQuality } from './negotiate.js'
import { refusalState, requestIdState } from './shared-state.js'
import { discardHeldBody } from './transform-body.js'

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly requestId?: string
  readonly [detail: string]: unknown
}

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

/**
 * Answer `req` with `error`. Returns false, sending nothing, when headers were already
 * sent (the caller must then destroy the response instead). Messages of errors that are
 * not to be exposed are replaced by the status phrase.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: HttpError): boolean {
  refusalState.set(req, error)
  if (res.headersSent || res.writableEnded) return false
  const payload = prepareError(req, res, error)
  // A body prefix held back by a transform (compression's threshold) belongs to the
  // replaced representation too.
  discardHeldBody(res)
  res.end(payload)
  return true
}

/**
 * Set the status and headers of the error answer on `res` and return its body, without
 * sending anything: for a response-start listener, which cannot end the response it is
 * starting and puts the body in place of the handler's instead (conditional()'s 412).
 * {@link sendError} is this, then `end`.
 */
export function prepareError(req: IncomingMessage, res: ServerResponse, error: HttpError): string {
  const requestId = requestIdState.tryGet(req)
  const body: ErrorBody = {
    ...error.details,
    status: error.status,
    code: error.code,
    message: error.expose ? error.message : new HttpError(error.status).message,
    ...(requestId === undefined ? {} : { requestId }),
  }
  for (const name of REPRESENTATION_HEADERS) res.removeHeader(name)
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value)
  const asText = prefersText(req.headers.accept)
  const payload = asText
    ? `${body.status} ${body.code}: ${body.message}${requestId ? ` (request ${requestId})` : ''}\n`
    : JSON.stringify(body)
  res.statusCode = error.status
  res.setHeader('content-type', asText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8')
  res.setHeader('content-length', Buffer.byteLength(payload))
  res.setHeader('cache-control', 'no-store')
  res.setHeader('x-content-type-options', 'nosniff')
  return payload
}

/** JSON unless the client accepts plain text and, strictly, prefers it over JSON. */
function prefersText(accept: string | undefined): boolean {
  if (accept === undefined || accept === '*/*') return false
  return mediaTypeQuality(accept, 'text/plain') > mediaTypeQuality(accept, 'application/json')
}
