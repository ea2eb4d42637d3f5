/**
 * bodyCapture: keep a copy of the first bytes of a request body, so an access log or an
 * error report can show what the client sent, while the handler reads the whole body
 * untouched and at its own pace.
 *
 * The body-caching middleware of many frameworks read the whole body into memory before
 * the handler runs: a memory bomb, and a stream the handler can no longer read. Here the
 * bytes are copied as they enter the request stream (`onRequestBody`), which reads nothing
 * itself, never pauses or resumes it, and never holds more than `maxBytes`. Bytes Node
 * buffered before it ran (an earlier layer awaited) are copied from the request's buffer
 * without being read (`bufferedBody`). Bodies whose
 * content type is not in `contentTypes` (multipart uploads, binaries, anything encoded)
 * are not copied at all.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import { defineDefaults, expectArray, expectFunction, expectInteger, withDefaults } from '../../core/options.js'
import { bufferedBody, onRequestBody } from '../../core/request-body.js'
import { defineState } from '../../core/state.js'
import { isUpgradeRequest } from '../../core/upgrade.js'

/** Options for {@link bodyCapture}. */
export interface BodyCaptureOptions {
  /** Bytes copied at most per request; the rest is counted, not kept. @default 2048 */
  maxBytes?: number
  /**
   * Media types whose bodies are copied: `'type/subtype'`, `'type/*'`, `'type/*+suffix'`
   * (e.g. `'application/*+json'`). Bodies of other types, without a type, or with a
   * `Content-Encoding` are skipped: a copy of bytes nobody can read helps nobody.
   * @default JSON, form-urlencoded, XML, GraphQL and text types
   */
  contentTypes?: readonly string[]
  /**
   * Rewrites the copy before anyone reads it: mask passwords, tokens, card numbers. Called
   * on a read when the copy changed since the previous read (so once, for reads after the
   * exchange ended), with the bytes kept, possibly cut mid-way.
   * @default undefined (kept as sent)
   */
  redact?: (bytes: Buffer, req: IncomingMessage) => Buffer | string
}

export const bodyCaptureDefaults = defineDefaults<BodyCaptureOptions, 'redact'>({
  maxBytes: 2048,
  contentTypes: Object.freeze([
    'application/json',
    'application/*+json',
    'application/x-www-form-urlencoded',
    'application/xml',
    'application/*+xml',
    'application/graphql',
    'text/*',
  ]),
  redact: undefined,
})

/** What was captured of one request body. */
export interface CapturedBody {
  /** The first bytes of the body (at most `maxBytes`), after `redact`. Empty when skipped. */
  readonly bytes: Buffer
  /** Body bytes that entered the request stream so far, kept or not. */
  readonly seenBytes: number
  /** Whether the body went on beyond `bytes`. */
  readonly truncated: boolean
  /**
   * Why nothing was copied (`'content-type'`, `'content-encoding'`, or `'buffered before capture'`
   * when bytes buffered before it ran cannot be given back as bytes: a layer called
   * `req.setEncoding`), or undefined.
   */
  readonly skipped: string | undefined
  /** `bytes` as UTF-8 text (a cut multi-byte character becomes U+FFFD). */
  text(): string
}

interface Capture {
  readonly req: IncomingMessage
  readonly maxBytes: number
  readonly redact: BodyCaptureOptions['redact']
  readonly skipped: string | undefined
  buffer: Buffer | undefined
  kept: number
  seen: number
  /** The snapshot given out last, reused while nothing changed. */
  snapshot: CapturedBody | undefined
}

const captureState = defineState<Capture>('capturedBody', 'bodyCapture()')

/** The captured body of `req`; throws without `bodyCapture()`. Complete once the exchange has ended. */
export function getCapturedBody(req: IncomingMessage): CapturedBody {
  return snapshot(captureState.get(req))
}

/** The captured body of `req`, or undefined without `bodyCapture()`. */
export function tryGetCapturedBody(req: IncomingMessage): CapturedBody | undefined {
  const capture = captureState.tryGet(req)
  return capture === undefined ? undefined : snapshot(capture)
}

/**
 * Copy up to `maxBytes` of each request body aside, for logs and error reports.
 * Pitfall: bodies carry secrets (a login form is `application/x-www-form-urlencoded`);
 * give a `redact` function before you log them.
 * @example
 * compose(errorBoundary({ onError: (r) => log(r.error, tryGetCapturedBody(r.req)?.text()) }), bodyCapture())(api)
 */
export function bodyCapture(options: BodyCaptureOptions = {}): Middleware {
  const opts = withDefaults('bodyCapture', bodyCaptureDefaults, options)
  const maxBytes = expectInteger('bodyCapture', 'maxBytes', opts.maxBytes, 1, 1 << 30)
  const matchers = expectArray('bodyCapture', 'contentTypes', opts.contentTypes, (item) => compileMediaRange(item))
  const redact =
    opts.redact === undefined
      ? undefined
      : expectFunction<NonNullable<BodyCaptureOptions['redact']>>('bodyCapture', 'redact', opts.redact)

  return defineMiddleware(
    {
      name: 'bodyCapture',
      detail: `${maxBytes} bytes of ${matchers.length} content types${redact ? ', redacted' : ''}`,
    },
    (next) =>
      function bodyCaptureHandler(req, res) {
        // A handshake has no body; the upgraded protocol's bytes are not one.
        if (isUpgradeRequest(req)) return next(req, res)
        let skipped = hasBody(req) ? skipReason(req, matchers) : undefined
        // Pushed while an earlier layer awaited: copied from the request's buffer, not read.
        const early = skipped === undefined ? bufferedBody(req) : EMPTY_LIST
        if (early === undefined) skipped = 'buffered before capture'
        const capture: Capture = {
          req,
          maxBytes,
          redact,
          skipped,
          buffer: undefined,
          kept: 0,
          seen: skipped === undefined ? 0 : req.readableLength,
          snapshot: undefined,
        }
        captureState.set(req, capture)
        if (skipped === undefined) {
          for (const chunk of early!) copyChunk(chunk, req, capture)
          onRequestBody(req, copyChunk, capture)
        }
        return next(req, res)
      },
  )
}

/** Whether the request may carry a body: HTTP/1.x says so in its headers (RFC 9112 §6.3). */
function hasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor >= 2) return true
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

function skipReason(req: IncomingMessage, matchers: ReadonlyArray<(type: string) => boolean>): string | undefined {
  const encoding = req.headers['content-encoding']
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return 'content-encoding'
  const type = req.headers['content-type']
  const essence = type === undefined ? '' : type.split(';', 1)[0]!.trim().toLowerCase()
  for (const matches of matchers) if (essence !== '' && matches(essence)) return undefined
  return 'content-type'
}

function copyChunk(chunk: Buffer, _req: IncomingMessage, context: Capture | undefined): void {
  const capture = context!
  capture.seen += chunk.length
  const room = capture.maxBytes - capture.kept
  if (room <= 0) return
  // A copy, not a slice: a slice would pin the whole socket read buffer in memory.
  capture.buffer ??= Buffer.allocUnsafe(capture.maxBytes)
  const n = chunk.copy(capture.buffer, capture.kept, 0, Math.min(room, chunk.length))
  capture.kept += n
  capture.snapshot = undefined
}

function snapshot(capture: Capture): CapturedBody {
  if (capture.snapshot !== undefined && capture.snapshot.seenBytes === capture.seen) return capture.snapshot
  let bytes: Buffer = capture.buffer === undefined ? EMPTY : Buffer.from(capture.buffer.subarray(0, capture.kept))
  if (capture.redact !== undefined && bytes.length > 0) {
    const redacted = capture.redact(bytes, capture.req)
    bytes = typeof redacted === 'string' ? Buffer.from(redacted) : redacted
  }
  const seen = capture.seen
  capture.snapshot = {
    bytes,
    seenBytes: seen,
    truncated: seen > capture.kept,
    skipped: capture.skipped,
    text: () => bytes.toString('utf8'),
  }
  return capture.snapshot
}

const EMPTY = Buffer.alloc(0)
const EMPTY_LIST: readonly Buffer[] = []

/** `'application/json'`, `'text/*'`, `'application/*+json'`, `'*\/*'` → a test on a lower-case essence. */
function compileMediaRange(item: unknown): (type: string) => boolean {
  const range = typeof item === 'string' ? item.trim().toLowerCase() : ''
  const match = /^([a-z0-9!#$&^_.+-]+|\*)\/([a-z0-9!#$&^_.+-]+|\*|\*\+[a-z0-9!#$&^_.-]+)$/.exec(range)
  if (!match || (match[1] === '*' && match[2] !== '*')) {
    throw new ConfigError(
      'bodyCapture',
      'contentTypes',
      "media types like 'application/json', 'text/*' or 'application/*+json'",
      item,
    )
  }
  const [, type, subtype] = match
  if (type === '*') return () => true
  if (subtype === '*') return (essence) => essence.startsWith(`${type}/`)
  if (subtype!.startsWith('*+')) {
    const suffix = subtype!.slice(1)
    return (essence) => essence.startsWith(`${type}/`) && essence.endsWith(suffix)
  }
  return (essence) => essence === range
}
