/**
 * Refusing a request whose body is still arriving: answer, then close the connection
 * before Node would drain the rest of the body to reuse it. bodyLimit refuses bodies too
 * large as sent, requestDecompression bodies too large or corrupt once decoded; both need
 * the same careful order (answer, detach the handler's response, error its request stream,
 * close), so it lives here once.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { detachResponse } from './detach-response.js'
import type { HttpError } from './errors.js'
import { sendError } from './send-error.js'

/**
 * Answer `error` before any body byte is read (a declared length over a limit, a coding the
 * server does not take), then close the connection once the answer is out. Give `error` a
 * `Connection: close` header on HTTP/1.
 */
export function refuseUnreadBody(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  sendError(req, res, error)
  closeAfterAnswer(req, res, undefined)
}

/**
 * Refuse a body part of which the handler may be reading: answer `error` if the headers
 * were not sent (and detach the response: the handler's later writes go nowhere), error
 * the request stream with it once the answer is out, and close the connection. Headers
 * already out: cut the connection now; the client sees a broken response, the handler's
 * request stream the error.
 */
export function refuseBodyInFlight(req: IncomingMessage, res: ServerResponse, error: HttpError): void {
  let answered = false
  if (!res.headersSent && !res.writableEnded) {
    try {
      answered = sendError(req, res, error)
    } catch {
      // A response-start listener failed: no answer; the connection is cut below.
    }
  }
  if (answered) {
    // The handler is still reading (and will fail on the stream's error): whatever it
    // writes now must not reach the client or raise.
    detachResponse(res)
    closeAfterAnswer(req, res, error)
  } else {
    cut(req, error, NGHTTP2_CANCEL)
  }
}

/**
 * Error the request stream and close the connection once the answer is handed to the
 * socket. Not before: destroying the request destroys the socket, and the answer is still
 * corked in it until the next tick. Not later: Node would drain the rest of the body
 * (`_dump`) to reuse the connection. A client still sending gets a reset after the answer;
 * it reads the answer if it reads while it sends (curl, browsers and Node's client do).
 * This path runs only on refusals, so its closure costs nothing on accepted requests.
 */
function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, error: HttpError | undefined): void {
  const close = () => cut(req, error, NGHTTP2_NO_ERROR)
  if (res.writableFinished) close()
  else {
    res.once('finish', close)
    res.once('close', close)
  }
}

/** HTTP/2 compatibility requests carry their stream; closing it ends this exchange only. */
type Http2Request = IncomingMessage & { stream?: { readonly closed: boolean; close(code?: number): void } }
const NGHTTP2_NO_ERROR = 0
const NGHTTP2_CANCEL = 8

/** Stop the exchange: HTTP/1 closes the connection, HTTP/2 resets the stream. */
function cut(req: IncomingMessage, error: HttpError | undefined, code: number): void {
  // RFC 9113 §8.1: after a complete answer, RST_STREAM with NO_ERROR tells the client to
  // stop sending; other streams of the connection go on.
  const stream = (req as Http2Request).stream
  if (stream !== undefined && !stream.closed) stream.close(code)
  // An HTTP/1 request emits 'error' only to listeners; an HTTP/2 one always does, which
  // would crash a process whose handler never read the body: so ask first.
  if (!req.destroyed) req.destroy(req.listenerCount('error') > 0 ? error : undefined)
}
