/**
 * `compression()`: streaming br / zstd / gzip / deflate response compression that never
 * holds a body whole, on the core's `transformBody`.
 *
 * Per request: `Accept-Encoding` is negotiated once (memoised per distinct header value).
 * When identity is the answer, only a response-start listener is registered, to add
 * `Vary`; otherwise the body is routed through `transformBody`, which holds back at most
 * `threshold` bytes to learn the size of a body without `Content-Length`, then asks
 * {@link decideEncoding} at response start, with the headers final for every inner layer.
 * @module
 */
import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { appendOwnVary, appendVary, readHeader } from '../../core/headers.js'
import {
  defineDefaults,
  expectArray,
  expectFunction,
  expectInteger,
  expectOneOf,
  withDefaults,
} from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import { sendError } from '../../core/send-error.js'
import { isUpgradeRequest } from '../../core/upgrade.js'
import {
  transformBody,
  type BodyDecision,
  type BodyInfo,
  type BodyTransform,
  type TransformBodyOptions,
  type WholeBodyCallback,
  type WholeBodyTransform,
} from '../../core/transform-body.js'
import { compileMediaTypeFilter, compressibleTypes, mediaTypeOf, type MediaTypePattern } from './compressible.js'
import { createNegotiator, type Encoding, type EncodingChoice } from './negotiation.js'
import {
  encoderMakers,
  flushKinds,
  paddableEncodings,
  wholeEncoders,
  zstdSupported,
  type EncodeWhole,
  type MakeEncoder,
} from './encoders.js'
import { parallelGzipPlan, type ParallelGzipOptions, type ParallelGzipPlan } from './parallel-gzip.js'

export { compressibleTypes, type MediaTypePattern } from './compressible.js'
export { negotiateEncoding, type Encoding, type EncodingChoice } from './negotiation.js'
export { zstdSupported } from './encoders.js'
export { parallelGzipDefaults, type ParallelGzipOptions } from './parallel-gzip.js'

/** Options for {@link compression}. */
export interface CompressionOptions {
  /**
   * Codings offered, most preferred first: when the client weighs several equally, the
   * earlier one wins. Put `'gzip'` first to favour CPU over size. `'zstd'` needs a Node
   * that has `zlib.createZstdCompress` (22.15, 23.8 and later).
   * @default ['br', 'zstd', 'gzip', 'deflate'], without 'zstd' where Node lacks it
   */
  encodings?: readonly Encoding[]
  /**
   * Bodies shorter than this many bytes go out uncompressed, with an exact
   * `Content-Length`. Without a `Content-Length`, up to this many bytes are held back to
   * learn the size; raise it only knowing each request may hold that much.
   * @default 1024
   */
  threshold?: number
  /**
   * Which `Content-Type`s to compress: media-type patterns (`'text/*'`, `'*\/*+json'`,
   * `'application/json'`, anchored RegExps) or a predicate over the bare media type.
   * A response without `Content-Type` is never compressed.
   * @default compressibleTypes (text, JSON, XML, JavaScript, SVG, wasm, uncompressed fonts …)
   */
  types?: readonly MediaTypePattern[] | ((mediaType: string, res: ServerResponse) => boolean)
  /**
   * `text/event-stream`: `'flush'` compresses it and flushes after every write, so each
   * event reaches the client at once; `'skip'` sends it uncompressed.
   * @default 'flush'
   */
  eventStream?: 'flush' | 'skip'
  /** Brotli quality, 0 to 9. 4 compresses better than gzip 6 at similar speed; 10 and 11 are far too slow for a request path. @default 4 */
  brotliQuality?: number
  /** gzip and deflate level, 1 to 9. @default 6 */
  gzipLevel?: number
  /** zstd level, 1 to 19. @default 3 */
  zstdLevel?: number
  /**
   * BREACH mitigation: add 1 to `jitter` bytes of padding, at random per response, inside
   * the compressed stream (gzip header comment, brotli metadata block). 0 turns it off.
   * While on, only `br` and `gzip` are offered: deflate and zstd cannot carry padding.
   * @default 0
   */
  jitter?: number
  /**
   * Parallel gzip for large bodies (pigz's method): a gzip stream of unknown length, or of
   * at least `minLength` bytes, is cut into blocks deflated at once on libuv's thread pool,
   * so one large download is not held to one core's speed. `false` turns it off; it is off
   * anyway on a one-core machine. Leave it on unless the thread pool is busy with other work.
   * @default true (minLength 512 KiB, blockSize 128 KiB growing to maxBlockSize 512 KiB, concurrency min(UV_THREADPOOL_SIZE, cores + 2))
   */
  parallelGzip?: boolean | ParallelGzipOptions
  /**
   * When the client accepts nothing offered, identity included (`identity;q=0`, `*;q=0`):
   * `'identity'` sends the response unencoded anyway; `'refuse'` answers 406 before the
   * handler runs (RFC 9110 §12.5.3 allows both).
   * @default 'identity'
   */
  notAcceptable?: 'identity' | 'refuse'
}

/** The defaults of {@link compression}; `encodings` depends on the running Node. */
export const compressionDefaults = defineDefaults<CompressionOptions>({
  encodings: Object.freeze<Encoding[]>(zstdSupported ? ['br', 'zstd', 'gzip', 'deflate'] : ['br', 'gzip', 'deflate']),
  threshold: 1024,
  types: compressibleTypes,
  eventStream: 'flush',
  brotliQuality: 4,
  gzipLevel: 6,
  zstdLevel: 3,
  jitter: 0,
  parallelGzip: true,
  notAcceptable: 'identity',
})

/**
 * Push out what the response's transforms hold now (held bytes, the encoder's pending
 * output): for streamed HTML or long polls. `text/event-stream` needs no call, every
 * write is flushed. A no-op on responses nothing transforms.
 */
export function flushResponse(res: ServerResponse): void {
  ;(res as Flushable).flush?.()
}

/** What every request of one `compression()` shares. */
interface Settings {
  readonly threshold: number
  readonly flushEvents: boolean
  readonly isCompressible: (mediaType: string, res: ServerResponse) => boolean
  readonly make: Readonly<Record<Encoding, MakeEncoder>>
  /** One-call encoders for bodies handed over whole, where the coding has one. */
  readonly whole: Readonly<Partial<Record<Encoding, EncodeWhole>>>
  /** Parallel gzip for large streams; undefined when off. */
  readonly parallel: ParallelGzipPlan | undefined
}

/** One negotiated outcome with its `transformBody` options, made once per distinct choice. */
interface Plan {
  readonly settings: Settings
  readonly encoding: Encoding | undefined
  readonly token: string
  /** Identity was refused: compress below the threshold too. */
  readonly force: boolean
  /** Answer 406: nothing acceptable, and `notAcceptable` is `'refuse'`. */
  readonly refuse: boolean
  readonly route: TransformBodyOptions<Plan>
  /** The whole-body route of this coding, if it has one-call encoder. */
  readonly whole: WholeBodyTransform | undefined
}

type Flushable = ServerResponse & { flush?: () => void }

const ENCODINGS: readonly Encoding[] = ['br', 'zstd', 'gzip', 'deflate']

/**
 * Compress response bodies for clients that accept it. Set `Content-Type` on responses,
 * or nothing is compressed; set `Content-Length` when known, and small bodies are decided
 * on without holding a byte.
 * @example
 * const app = compose(errorBoundary(), requestId(), compression({ threshold: 2048 }))(router)
 */
export function compression(options: CompressionOptions = {}): Middleware {
  const opts = withDefaults('compression', compressionDefaults, options)
  const threshold = expectInteger(
    'compression',
    'threshold',
    opts.threshold,
    0,
    16 * 1024 * 1024,
    'It is held back per request; 1024 to 8192 suits most APIs.',
  )
  const brotliQuality = expectInteger(
    'compression',
    'brotliQuality',
    opts.brotliQuality,
    0,
    9,
    'Quality 10 and 11 take many milliseconds per response; precompress static assets with them at build time instead.',
  )
  const gzipLevel = expectInteger(
    'compression',
    'gzipLevel',
    opts.gzipLevel,
    1,
    9,
    'zlib levels run from 1 (fastest) to 9 (smallest); 6, the default, is within a few percent of 9 at a fraction of its cost. Level 0 would send gzip framing without compressing: leave gzip out of encodings instead.',
  )
  const zstdLevel = expectInteger(
    'compression',
    'zstdLevel',
    opts.zstdLevel,
    1,
    19,
    "Levels above 19 need zstd's ultra mode and much memory; 3 (the default) suits responses made per request.",
  )
  const jitter = expectInteger(
    'compression',
    'jitter',
    opts.jitter,
    0,
    256,
    'Use 0 (off) or a padding of up to 256 bytes; 32 is typical.',
  )
  const eventStream = expectOneOf('compression', 'eventStream', opts.eventStream, ['flush', 'skip'] as const)
  const notAcceptable = expectOneOf('compression', 'notAcceptable', opts.notAcceptable, ['identity', 'refuse'] as const)
  const parallelPlan = parallelGzipPlan(opts.parallelGzip, gzipLevel, jitter)
  const encodings = offeredEncodings(opts.encodings, options.encodings !== undefined, jitter)
  const parallel = encodings.includes('gzip') ? parallelPlan : undefined
  const isCompressible =
    typeof opts.types === 'function'
      ? expectFunction<(mediaType: string, res: ServerResponse) => boolean>('compression', 'types', opts.types)
      : compileMediaTypeFilter(
          'compression',
          'types',
          expectArray('compression', 'types', opts.types, (p) => p as MediaTypePattern),
        )

  const settings: Settings = Object.freeze({
    threshold,
    flushEvents: eventStream === 'flush',
    isCompressible,
    make: encoderMakers({ brotliQuality, gzipLevel, zstdLevel, jitter }),
    whole: wholeEncoders({ brotliQuality, gzipLevel, zstdLevel, jitter }),
    parallel,
  })
  const holdBack = (res: ServerResponse): number => (isEventStream(res) ? 0 : threshold)
  const negotiate = createNegotiator(encodings, (choice: EncodingChoice): Plan => {
    const route: { holdBack: TransformBodyOptions<Plan>['holdBack']; context?: Plan } = {
      holdBack: choice.identityRefused ? 0 : holdBack,
    }
    const encodeWhole = choice.encoding === undefined ? undefined : settings.whole[choice.encoding]
    const plan: Plan = Object.freeze({
      settings,
      encoding: choice.encoding,
      token: choice.token,
      force: choice.identityRefused,
      refuse: !choice.acceptable && notAcceptable === 'refuse',
      route,
      whole:
        encodeWhole && new WholeEncoding(encodeWhole, settings.make[choice.encoding!], flushKinds[choice.encoding!]),
    })
    route.context = plan
    Object.freeze(route)
    return plan
  })
  const detail =
    `${encodings.join(', ')}; threshold ${threshold} B; br q${brotliQuality}, gzip ${gzipLevel}` +
    `${encodings.includes('zstd') ? `, zstd ${zstdLevel}` : ''}${jitter > 0 ? `; jitter ≤ ${jitter} B` : ''}` +
    // Parallel gzip is left out: it depends on the machine, and explain() should not.
    `${notAcceptable === 'refuse' ? '; 406 when nothing is acceptable' : ''}`

  return defineMiddleware(
    {
      name: 'compression',
      detail,
    },
    (next) =>
      function compressionHandler(req, res) {
        // A handshake's 101 has no body, and the upgraded protocol's bytes are not HTTP's.
        if (isUpgradeRequest(req)) return next(req, res)
        const plan = negotiate(req.headers['accept-encoding'])
        if (plan.refuse) {
          // RFC 9110 §12.5.5: another Accept-Encoding gets a 200 at this URL.
          appendVary(res, 'Accept-Encoding')
          return sendError(req, res, notAcceptable406(encodings))
        }
        if (plan.encoding === undefined) {
          // Identity: nothing to route, but the answer still depends on Accept-Encoding.
          onResponseStart(res, addVary, settings)
          if ((res as Flushable).flush === undefined) (res as Flushable).flush = flushNothing
        } else {
          transformBody(res, decideEncoding, plan.route)
        }
        return next(req, res)
      },
  )
}

/**
 * The decision at response start. First what keeps every answer at this URL uncompressed
 * whatever the client accepts (no representation, a coding or `no-transform` already set,
 * a type that does not compress): no `Vary` then. What follows concerns this response only
 * (no body, a range, below the threshold), so another request for the same URL may get it
 * compressed: `Vary` is set before those checks.
 */
function decideEncoding(res: ServerResponse, body: BodyInfo, plan: Plan): BodyDecision {
  const settings = plan.settings
  if (!variesWithEncoding(res, settings)) return null
  // RFC 9110 §12.5.5: the uncompressed answer was negotiated too; caches must key on it.
  appendOwnVary(res, 'Accept-Encoding')
  if (!body.hasBody || body.length === 0) return null
  // RFC 9110 §14.4: a Content-Range counts bytes of the identity representation.
  if (res.statusCode === 206 || readHeader(res, 'content-range') !== undefined) return null
  if (!plan.force && body.length !== undefined && body.length < settings.threshold) return null
  const etag = readHeader(res, 'etag')
  // RFC 9110 §8.8.1: the compressed bytes differ from those a strong validator names.
  if (typeof etag === 'string' && !etag.startsWith('W/')) res.setHeader('etag', `W/${etag}`)
  // Ranges of the identity bytes cannot be served from this response.
  res.removeHeader('accept-ranges')
  res.setHeader('content-encoding', plan.token)
  const encoding = plan.encoding!
  const eventStream = isEventStream(res)
  // Large gzip streams go parallel; events keep one stream, flushed per write.
  const parallel = settings.parallel
  if (encoding === 'gzip' && parallel && !eventStream && (body.length ?? Infinity) >= parallel.minLength)
    return parallel.make()
  // A body handed over whole: one call compresses it, and it goes out with its length.
  if (body.ended && !eventStream && plan.whole !== undefined) return plan.whole
  return new EncoderTransform(settings.make[encoding](body.length, eventStream), flushKinds[encoding])
}

/** The chosen encoder and how to flush it; a class, not a literal (see core/listener-node.ts). */
class EncoderTransform implements BodyTransform {
  readonly stream: Duplex
  readonly flush: () => void

  constructor(stream: Duplex, flushKind: number) {
    this.stream = stream
    this.flush = () => (stream as unknown as { flush(kind: number): void }).flush(flushKind)
  }
}

/**
 * A coding's whole-body route: one asynchronous call (zlib.gzip …) when transformBody can
 * send the result in one piece, the coding's stream otherwise. Made once per negotiated plan.
 */
class WholeEncoding implements WholeBodyTransform {
  readonly #encode: EncodeWhole
  readonly #make: MakeEncoder
  readonly #flushKind: number

  constructor(encode: EncodeWhole, make: MakeEncoder, flushKind: number) {
    this.#encode = encode
    this.#make = make
    this.#flushKind = flushKind
  }

  whole(body: Buffer, done: WholeBodyCallback): void {
    this.#encode(body, done)
  }

  stream(length: number | undefined): BodyTransform {
    return new EncoderTransform(this.#make(length, false), this.#flushKind)
  }
}

/**
 * The 406 of `notAcceptable: 'refuse'`, naming what the client could accept. Made per
 * refusal, which is rare: an HttpError carries its own stack.
 */
function notAcceptable406(encodings: readonly Encoding[]): HttpError {
  return new HttpError(
    406,
    `No acceptable content coding: Accept-Encoding refuses identity and accepts none of ${encodings.join(', ')}.`,
    { code: 'encoding_not_acceptable', details: { encodings } },
  )
}

/** Response-start listener for identity answers. */
function addVary(res: ServerResponse, settings: Settings): void {
  if (variesWithEncoding(res, settings)) appendOwnVary(res, 'Accept-Encoding')
}

/**
 * Whether this response would be compressed for some `Accept-Encoding` (so its
 * representation depends on it), whatever its size and status: only then is `Vary` due.
 */
function variesWithEncoding(res: ServerResponse, settings: Settings): boolean {
  const status = res.statusCode
  if (status < 200 || status === 204) return false
  // RFC 9110 §8.4: the handler encoded it itself (precompressed files: its own Vary).
  if (readHeader(res, 'content-encoding') !== undefined) return false
  // RFC 9111 §5.2.2.6: no-transform forbids changing the content coding.
  if (hasNoTransform(readHeader(res, 'cache-control'))) return false
  const type = mediaTypeOf(readHeader(res, 'content-type'))
  // A 304 usually carries no Content-Type, yet stands for a 200 that may be compressed.
  if (type === '') return status === 304
  if (type === 'text/event-stream') return settings.flushEvents
  return settings.isCompressible(type, res)
}

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i

function hasNoTransform(value: number | string | readonly string[] | undefined): boolean {
  if (value === undefined || typeof value === 'number') return false
  return typeof value === 'string' ? NO_TRANSFORM.test(value) : value.some((v) => NO_TRANSFORM.test(v))
}

const EVENT_STREAM = /^\s*text\/event-stream\s*(?:;|$)/i

function isEventStream(res: ServerResponse): boolean {
  const type = readHeader(res, 'content-type')
  return typeof type === 'string' && EVENT_STREAM.test(type)
}

function flushNothing(): void {}

/** The offered codings, validated; with padding on, those that cannot carry it leave (or are refused if asked for). */
function offeredEncodings(value: unknown, explicit: boolean, jitter: number): readonly Encoding[] {
  const list = expectArray('compression', 'encodings', value, (item) =>
    expectOneOf('compression', 'encodings', item, ENCODINGS),
  )
  if (list.length === 0)
    throw new ConfigError(
      'compression',
      'encodings',
      'a non-empty list',
      value,
      'Leave compression() out to send everything uncompressed.',
    )
  if (new Set(list).size !== list.length)
    throw new ConfigError('compression', 'encodings', 'a list without repeats', value)
  if (list.includes('zstd') && !zstdSupported) {
    throw new ConfigError(
      'compression',
      'encodings',
      'codings this Node can produce',
      value,
      `Node ${process.versions.node} has no zlib.createZstdCompress (Node 22.15 and 23.8 do); remove "zstd".`,
    )
  }
  if (jitter === 0) return list
  const unpadded = list.filter((e) => !paddableEncodings.includes(e))
  if (explicit && unpadded.length > 0) {
    throw new ConfigError(
      'compression',
      'jitter',
      '0 when offering codings that cannot carry padding',
      jitter,
      `Remove ${unpadded.map((e) => `"${e}"`).join(', ')} from encodings, or set jitter to 0.`,
    )
  }
  return Object.freeze(list.filter((e) => paddableEncodings.includes(e)))
}
