/**
 * bodyLimit: refuse request bodies above a size, without buffering them and without
 * reading more than the limit.
 *
 * - A `Content-Length` above the limit is refused at once: 413, `Connection: close`, the
 *   handler never runs and no body byte is read (the connection is closed as soon as the
 *   answer is out, before Node would drain the body to reuse it).
 * - A body of unknown length (chunked, or HTTP/2 without `content-length`) is counted as it
 *   enters the request stream (`onRequestBody`: nothing is read ahead of the handler). The
 *   chunk that would cross the limit is never delivered. Instead: a 413 if the headers
 *   were not sent, the socket stops being read, the request stream errors with an
 *   `HttpError` 413 (code `content_too_large`) so the handler's `pipeline`/`for await` fails
 *   cleanly, and the connection is closed once the answer is out.
 * - A `Content-Length` within the limit needs no counting: Node's parser delivers exactly
 *   that many bytes and reads anything after them as the next request.
 *
 * For bodies that handlers decompress, {@link decodedSizeLimit} limits the decoded size:
 * 1 MB of gzip can inflate to 1 GB, and a limit on the wire bytes does not see that.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { HttpError } from '../../core/errors.js'
import { defineDefaults, expectInteger, withDefaults } from '../../core/options.js'
import { refuseBodyInFlight, refuseUnreadBody } from '../../core/refuse-body.js'
import { onRequestBody } from '../../core/request-body.js'
import { isUpgradeRequest } from '../../core/upgrade.js'

/** Options for {@link bodyLimit}. */
export interface BodyLimitOptions {
  /**
   * Largest request body accepted, in bytes, as sent (before any decompression). Raise it
   * for upload routes with a second `bodyLimit` under `mount()` or `when()`, not globally.
   * @default 1_048_576 (1 MiB)
   */
  limit?: number
}

export const bodyLimitDefaults = defineDefaults<BodyLimitOptions>({
  limit: 1_048_576,
})

/** Per-request count; one object per counted request, passed to the body listener as context. */
interface Count {
  readonly res: ServerResponse
  readonly limit: number
  readonly error: HttpError
  seen: number
  over: boolean
}

/**
 * Refuse request bodies larger than `limit` bytes with a 413, reading no more than that.
 * Mount it before anything that reads the body, and inside `errorBoundary()`, which
 * answers a handler that fails on the request stream's error (it will not answer twice).
 * @example
 * compose(errorBoundary(), bodyLimit({ limit: 64 * 1024 }))(api)
 */
export function bodyLimit(options: BodyLimitOptions = {}): Middleware {
  const opts = withDefaults('bodyLimit', bodyLimitDefaults, options)
  const limit = expectInteger(
    'bodyLimit',
    'limit',
    opts.limit,
    0,
    Number.MAX_SAFE_INTEGER,
    'Give bytes, e.g. 1_048_576 for 1 MiB.',
  )
  // HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2); its streams close alone.
  const error = tooLarge(limit, true)
  const error2 = tooLarge(limit, false)
  const limitText = String(limit)

  return defineMiddleware(
    {
      name: 'bodyLimit',
      detail: `${limit} bytes`,
      security: true,
    },
    (next) =>
      function bodyLimitHandler(req, res) {
        // After a handshake the socket's bytes are the upgraded protocol's, not a body.
        if (isUpgradeRequest(req)) return next(req, res)
        const declared = req.headers['content-length']
        if (declared !== undefined) {
          // Node's parser has checked it is one decimal number; compare without parsing
          // when the lengths differ, so a 30-digit length cannot lose precision.
          if (declared.length > limitText.length || (declared.length === limitText.length && declared > limitText)) {
            refuseUnreadBody(req, res, req.httpVersionMajor < 2 ? error : error2)
            return
          }
          // Within the limit: the parser delivers exactly that many bytes, never more (and
          // refuses a request carrying Transfer-Encoding too, RFC 9112 §6.3).
          return next(req, res)
        } else if (req.httpVersionMajor < 2 && req.headers['transfer-encoding'] === undefined) {
          // HTTP/1.x with neither header: no body at all (RFC 9112 §6.3).
          return next(req, res)
        }
        const count: Count = {
          res,
          limit,
          error: req.httpVersionMajor < 2 ? error : error2,
          seen: req.readableLength,
          over: false,
        }
        if (count.seen > limit) {
          overflow(req, count)
          return
        }
        onRequestBody(req, countChunk, count)
        res.once('prefinish', keepCounting)
        return next(req, res)
      },
  )
}

/**
 * A Transform that passes bytes through and fails with a 413 `HttpError` once more than
 * `limit` bytes went through it: put it after a decompressor, so a small compressed body
 * cannot inflate without bound (a "zip bomb"). `pipeline` then destroys the decompressor,
 * releasing its native memory, and rejects with the error.
 * @example
 * await pipeline(req, createGunzip(), decodedSizeLimit(10 * 1024 * 1024), sink)
 */
export function decodedSizeLimit(limit: number): Transform {
  expectInteger('decodedSizeLimit', 'limit', limit, 0, Number.MAX_SAFE_INTEGER)
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length
      if (seen > limit)
        done(new HttpError(413, `The decoded request body exceeds the limit of ${limit} bytes`, { details: { limit } }))
      else done(null, chunk)
    },
  })
}

function tooLarge(limit: number, http1: boolean): HttpError {
  return new HttpError(413, `The request body exceeds the limit of ${limit} bytes`, {
    // RFC 9110 §15.5.14: the server may close the connection to stop the client sending.
    headers: http1 ? { connection: 'close' } : {},
    details: { limit },
  })
}

/**
 * The response is complete but the body is not: Node would drain the rest (`_dump`) to
 * reuse the connection, outside any count, however long it is. Reading it here instead
 * sends it through the count, so a flood after a quick answer is cut at the limit too.
 */
function keepCounting(this: ServerResponse): void {
  const req = this.req
  if (!req.complete && req.listenerCount('data') === 0 && req.listenerCount('readable') === 0) req.resume()
}

function countChunk(chunk: Buffer, req: IncomingMessage, count: Count | undefined): boolean {
  const c = count!
  if (c.over) return false
  c.seen += chunk.length
  if (c.seen <= c.limit) return true
  overflow(req, c)
  // Refused: the chunk is dropped and the parser stops reading the socket.
  return false
}

function overflow(req: IncomingMessage, count: Count): void {
  count.over = true
  refuseBodyInFlight(req, count.res, count.error)
}
