/**
 * requestDecompression: decode request bodies sent with a `Content-Encoding` (gzip, deflate,
 * br; zstd where Node has it) as they stream in. The handler reads decoded bytes from `req`
 * as usual (`for await`, `pipe`, `'data'`, `express.json()`), and sees neither the
 * `Content-Encoding` nor the `Content-Length` of the encoded body.
 *
 * - The wire chunks go to an asynchronous zlib decoder (`redirectRequestBody`), whose output
 *   is pushed into `req`: nothing is buffered beyond the streams' own high-water marks, and
 *   backpressure from a slow handler stops reading the socket.
 * - Two limits: the bytes as sent (`maxEncodedSize`) and the bytes decoded
 *   (`maxDecodedSize`, against zip bombs). Past either: 413, the decoder destroyed (its
 *   native memory released), the request stream errored and the connection closed.
 * - A corrupt or truncated body: 400 (or, once the handler answered, the request stream's
 *   error); a coding it does not take: 415 with `Accept-Encoding` (RFC 9110 §15.5.16).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Transform } from 'node:stream'
import type { Middleware, RawHandler } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { defineDefaults, expectArray, expectInteger, withDefaults } from '../../core/options.js'
import { refuseBodyInFlight, refuseUnreadBody } from '../../core/refuse-body.js'
import { type RequestBodyOutlet, redirectRequestBody } from '../../core/request-body.js'
import { isUpgradeRequest } from '../../core/upgrade.js'
import { codingOf, makeDecoder, REQUEST_ENCODINGS, type RequestEncoding, zstdDecodingSupported } from './decoders.js'

export { type RequestEncoding, zstdDecodingSupported } from './decoders.js'

/** Options for {@link requestDecompression}. */
export interface RequestDecompressionOptions {
  /**
   * Codings decoded; a body in any other gets a 415 listing these in `Accept-Encoding`.
   * `'gzip'` takes `x-gzip` too; `'deflate'` takes the zlib format and raw deflate. Narrow it
   * to what your clients send.
   * @default ['gzip', 'deflate', 'br', 'zstd'], without 'zstd' where Node lacks it
   */
  encodings?: readonly RequestEncoding[]
  /**
   * Largest decoded body, in bytes: the limit a zip bomb meets (1 MiB of gzip can inflate
   * to 1 GiB). Raise it on upload routes under `mount()` or `when()`.
   * @default 1_048_576 (1 MiB)
   */
  maxDecodedSize?: number
  /**
   * Largest encoded body, in bytes, as sent. A declared `Content-Length` above it is refused
   * before a byte is read. `bodyLimit()` outside limits every body, encoded or not.
   * @default 1_048_576 (1 MiB)
   */
  maxEncodedSize?: number
}

export const requestDecompressionDefaults = defineDefaults<RequestDecompressionOptions>({
  encodings: Object.freeze<RequestEncoding[]>(
    zstdDecodingSupported ? ['gzip', 'deflate', 'br', 'zstd'] : ['gzip', 'deflate', 'br'],
  ),
  maxDecodedSize: 1_048_576,
  maxEncodedSize: 1_048_576,
})

/** What the factory precomputes, shared by every request. */
interface Settings {
  readonly encodings: ReadonlySet<RequestEncoding>
  readonly acceptEncoding: string
  readonly maxDecodedSize: number
  readonly maxEncodedSize: number
  readonly maxEncodedText: string
}

/**
 * Decode compressed request bodies as they stream in, with limits on the encoded and the
 * decoded size. Mount it inside `bodyLimit()` (which then limits the bytes as sent, of every
 * body) and outside `bodyCapture()` (which then copies decoded bytes).
 * Pitfall: a stacked coding (`Content-Encoding: gzip, br`) is refused with 415, not decoded.
 * @example
 * compose(errorBoundary(), bodyLimit(), requestDecompression({ maxDecodedSize: 10 * 1024 * 1024 }))(api)
 */
export function requestDecompression(options: RequestDecompressionOptions = {}): Middleware {
  const opts = withDefaults('requestDecompression', requestDecompressionDefaults, options)
  const list = expectArray('requestDecompression', 'encodings', opts.encodings, expectEncoding)
  if (list.length === 0) {
    throw new ConfigError(
      'requestDecompression',
      'encodings',
      'a non-empty array',
      list,
      'To decode nothing, do not mount requestDecompression().',
    )
  }
  const maxDecodedSize = expectInteger(
    'requestDecompression',
    'maxDecodedSize',
    opts.maxDecodedSize,
    0,
    Number.MAX_SAFE_INTEGER,
    'Give bytes, e.g. 10_485_760 for 10 MiB.',
  )
  const maxEncodedSize = expectInteger(
    'requestDecompression',
    'maxEncodedSize',
    opts.maxEncodedSize,
    0,
    Number.MAX_SAFE_INTEGER,
    'Give bytes, e.g. 1_048_576 for 1 MiB.',
  )
  const encodings = new Set(list)
  const settings: Settings = {
    encodings,
    acceptEncoding: REQUEST_ENCODINGS.filter((e) => encodings.has(e)).join(', '),
    maxDecodedSize,
    maxEncodedSize,
    maxEncodedText: String(maxEncodedSize),
  }

  return defineMiddleware(
    {
      name: 'requestDecompression',
      detail: `${settings.acceptEncoding}; ≤ ${maxEncodedSize} bytes sent, ≤ ${maxDecodedSize} decoded`,
    },
    (next) =>
      function requestDecompressionHandler(req, res) {
        // A handshake has no body; the upgraded protocol's bytes are not one.
        if (isUpgradeRequest(req)) return next(req, res)
        const header = req.headers['content-encoding']
        if (header === undefined || !hasBody(req)) return next(req, res)
        const codings = parseCodings(header)
        if (codings.length === 0) return next(req, res) // identity only
        const coding = codings.length === 1 ? codingOf(codings[0]!) : undefined
        if (coding === undefined || !settings.encodings.has(coding)) {
          refuseUnreadBody(req, res, unsupported(req, settings, header, codings.length > 1))
          return
        }
        const declared = req.headers['content-length']
        if (declared !== undefined && isAbove(declared, settings.maxEncodedText)) {
          refuseUnreadBody(req, res, tooLarge(req, 'encoded', settings.maxEncodedSize))
          return
        }
        stripRepresentationHeaders(req)
        return new Decoding(req, res, coding, settings).start(next)
      },
  )
}

function expectEncoding(item: unknown): RequestEncoding {
  if (typeof item !== 'string' || !(REQUEST_ENCODINGS as readonly string[]).includes(item)) {
    throw new ConfigError('requestDecompression', 'encodings', `an array of ${REQUEST_ENCODINGS.join(', ')}`, item)
  }
  if (item === 'zstd' && !zstdDecodingSupported) {
    throw new ConfigError(
      'requestDecompression',
      'encodings',
      'codings this Node can decode',
      item,
      `Node ${process.versions.node} has no zlib.createZstdDecompress (22.15, 23.8 and later have it); leave 'zstd' out, or check zstdDecodingSupported.`,
    )
  }
  return item as RequestEncoding
}

/**
 * One request body being decoded. A class: its methods are the decoder's and the request
 * stream's listeners, bound once per encoded request.
 */
class Decoding {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly coding: RequestEncoding
  readonly settings: Settings
  decoder: Transform | undefined = undefined
  outlet: RequestBodyOutlet | undefined = undefined
  encoded = 0
  decoded = 0
  /** The wire body is complete (the parser pushed its end). */
  wireEnded = false
  /** The request stream is full: the decoder is paused until a reader wants more. */
  waiting = false
  /** Nothing more to decode: the end was pushed, the body refused, or the request closed. */
  over = false
  /** The response ended with the body unread: the rest is counted and dropped, not decoded. */
  discarding = false

  constructor(req: IncomingMessage, res: ServerResponse, coding: RequestEncoding, settings: Settings) {
    this.req = req
    this.res = res
    this.coding = coding
    this.settings = settings
    this.sink = this.sink.bind(this)
    this.onWant = this.onWant.bind(this)
    this.onData = this.onData.bind(this)
    this.onEnd = this.onEnd.bind(this)
    this.onError = this.onError.bind(this)
    this.onDrain = this.onDrain.bind(this)
    this.onResponseDone = this.onResponseDone.bind(this)
    this.onClose = this.onClose.bind(this)
  }

  start(next: RawHandler): unknown {
    const req = this.req
    // Bytes pushed before this layer ran (an outer layer awaited) are still encoded: take
    // them out of the stream and decode them first.
    const buffered = req.readableLength
    const early = buffered > 0 ? (req.read(buffered) as Buffer | null) : null
    if (early !== null && (req as unknown as { _readableState: { ended: boolean } })._readableState.ended) {
      // The whole body was here already: the stream has ended and takes no more pushes.
      return this.decodeWhole(early, next)
    }
    this.outlet = redirectRequestBody(req, this.sink, this.onWant)
    if (early !== null) this.sink(early)
    this.res.once('prefinish', this.onResponseDone)
    req.once('close', this.onClose)
    return next(req, this.res)
  }

  /** A wire chunk (null: the end), after the listeners of outer layers. */
  sink(chunk: Buffer | null): boolean {
    if (chunk === null) {
      this.wireEnded = true
      if (this.discarding || (this.decoder === undefined && !this.over)) this.end()
      else if (this.decoder !== undefined && !this.over) this.decoder.end()
      return true
    }
    if (this.over && !this.discarding) return false
    this.encoded += chunk.length
    if (this.encoded > this.settings.maxEncodedSize) {
      this.fail(tooLarge(this.req, 'encoded', this.settings.maxEncodedSize))
      return false
    }
    if (this.discarding || chunk.length === 0) return true
    this.decoder ??= this.open(chunk[0]!)
    return this.decoder.write(chunk)
  }

  open(first: number): Transform {
    const decoder = makeDecoder(this.coding, first)
    decoder.on('data', this.onData)
    decoder.on('end', this.onEnd)
    decoder.on('error', this.onError)
    decoder.on('drain', this.onDrain)
    return decoder
  }

  onData(chunk: Buffer): void {
    if (this.over) return
    this.decoded += chunk.length
    if (this.decoded > this.settings.maxDecodedSize) {
      this.fail(tooLarge(this.req, 'decoded', this.settings.maxDecodedSize))
      return
    }
    if (!this.outlet!.push(chunk)) {
      this.waiting = true
      this.decoder!.pause()
    }
  }

  /** A reader of the request wants more. */
  onWant(): void {
    if (this.waiting) {
      this.waiting = false
      this.decoder?.resume()
    }
  }

  /**
   * The decoder took in what it held back. A decoder that produced nothing from it (a long
   * gzip header) would otherwise wait for a read that never comes: ask the socket for more.
   */
  onDrain(): void {
    if (!this.over && !this.waiting) this.outlet!.pull()
  }

  onEnd(): void {
    if (!this.over) this.end()
  }

  onError(error: Error): void {
    if (!this.over) this.fail(invalid(this.req, this.coding, error))
  }

  /**
   * The response is complete and nobody reads the body: Node would drain it (`_dump`) to
   * reuse the connection. Decoding it only to drop it would be wasted work (and, for a bomb,
   * much of it): drop the decoder, count the rest as sent, end the stream with the wire.
   */
  onResponseDone(): void {
    const req = this.req
    if (this.over || req.listenerCount('data') > 0 || req.listenerCount('readable') > 0) return
    this.discarding = true
    this.release()
    if (this.wireEnded) this.end()
    if (!req.complete) req.resume()
  }

  /** The request closed (client abort, or the exchange is over): release the decoder. */
  onClose(): void {
    this.over = true
    this.release()
  }

  end(): void {
    this.over = true
    this.outlet!.push(null)
  }

  fail(error: HttpError): void {
    this.over = true
    this.discarding = false
    this.release()
    refuseBodyInFlight(this.req, this.res, error)
  }

  release(): void {
    const decoder = this.decoder
    if (decoder !== undefined && !decoder.destroyed) decoder.destroy()
  }

  /** Decode a body that had arrived whole before this layer ran, then put it back. */
  decodeWhole(bytes: Buffer, next: RawHandler): Promise<unknown> | undefined {
    const { req, res, settings } = this
    if (bytes.length > settings.maxEncodedSize) {
      refuseUnreadBody(req, res, tooLarge(req, 'encoded', settings.maxEncodedSize))
      return undefined
    }
    return new Promise<unknown>((resolve, reject) => {
      const decoder = makeDecoder(this.coding, bytes[0]!)
      const parts: Buffer[] = []
      let size = 0
      const refuse = (error: HttpError) => {
        decoder.destroy()
        refuseUnreadBody(req, res, error)
        resolve(undefined)
      }
      decoder.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > settings.maxDecodedSize) refuse(tooLarge(req, 'decoded', settings.maxDecodedSize))
        else parts.push(chunk)
      })
      decoder.on('error', (error) => refuse(invalid(req, this.coding, error)))
      decoder.on('end', () => {
        if (size > settings.maxDecodedSize) return
        if (size > 0) req.unshift(Buffer.concat(parts, size))
        try {
          resolve(next(req, res))
        } catch (error) {
          reject(error)
        }
      })
      decoder.end(bytes)
    })
  }
}

/** Content-Encoding tokens in the order applied, lower-cased, without `identity` (RFC 9110 §8.4). */
function parseCodings(header: string): string[] {
  const codings: string[] = []
  for (const part of header.split(',')) {
    const token = part.trim().toLowerCase()
    if (token !== '' && token !== 'identity') codings.push(token)
  }
  return codings
}

/** Whether the request may carry a body: HTTP/1.x says so in its headers (RFC 9112 §6.3). */
function hasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor >= 2) return true
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

/** `declared > limit` for a decimal `declared` (checked by Node's parser), without parsing it. */
function isAbove(declared: string, limit: string): boolean {
  return declared.length > limit.length || (declared.length === limit.length && declared > limit)
}

/**
 * The handler gets the decoded representation: its length is unknown, so `Content-Length`
 * and `Content-Encoding` go, and an HTTP/1 request says `Transfer-Encoding: chunked` so that
 * body readers that look for a body (body-parser's `hasBody`) still find one.
 */
function stripRepresentationHeaders(req: IncomingMessage): void {
  const headers = req.headers
  delete headers['content-encoding']
  delete headers['content-length']
  const chunked = req.httpVersionMajor < 2 && headers['transfer-encoding'] === undefined
  if (chunked) headers['transfer-encoding'] = 'chunked'
  const raw = req.rawHeaders
  let kept = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (name === 'content-encoding' || name === 'content-length') continue
    raw[kept++] = raw[i]!
    raw[kept++] = raw[i + 1]!
  }
  raw.length = kept
  if (chunked) raw.push('Transfer-Encoding', 'chunked')
}

// Refusals: HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2); its streams close alone.
const closing = (req: IncomingMessage): Record<string, string> =>
  req.httpVersionMajor < 2 ? { connection: 'close' } : {}

function tooLarge(req: IncomingMessage, which: 'encoded' | 'decoded', limit: number): HttpError {
  const message =
    which === 'decoded'
      ? `The decoded request body exceeds the limit of ${limit} bytes`
      : `The request body exceeds the limit of ${limit} bytes`
  // RFC 9110 §15.5.14: the server may close the connection to stop the client sending.
  return new HttpError(413, message, { headers: closing(req), details: { limit } })
}

function invalid(req: IncomingMessage, coding: RequestEncoding, cause: Error): HttpError {
  return new HttpError(400, `The request body is not valid ${coding} data`, {
    code: 'content_encoding_invalid',
    headers: closing(req),
    cause,
  })
}

function unsupported(req: IncomingMessage, settings: Settings, header: string, stacked: boolean): HttpError {
  const message = stacked
    ? `Content-Encoding "${header}" stacks codings; send the body in one of: ${settings.acceptEncoding}`
    : `Content-Encoding "${header}" is not supported; send the body in one of: ${settings.acceptEncoding}`
  // RFC 9110 §15.5.16 and §12.5.3: a 415 for a content coding lists the codings taken.
  return new HttpError(415, message, {
    headers: { ...closing(req), 'accept-encoding': settings.acceptEncoding },
    details: { accepted: settings.acceptEncoding.split(', ') },
  })
}
