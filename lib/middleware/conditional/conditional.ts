/**
 * `conditional()`: conditional requests (RFC 9110 §13) answered from the validators the
 * handler set, `ETag` and `Last-Modified`, at response start: `304 Not Modified` for a
 * GET or HEAD whose cached copy is current, `412 Precondition Failed` when `If-Match` or
 * `If-Unmodified-Since` fails. Nothing is buffered: the decision is made when the headers
 * go out, and a streamed body either passes untouched or is dropped.
 *
 * With `etag: true`, a body the handler hands over whole (one `res.end(body)`, which
 * `transformBody` holds anyway) gets a strong ETag from its bytes when the handler set
 * none, so 304s work with no handler change. Streamed bodies are never hashed.
 *
 * Unsafe methods (POST, PUT, DELETE …) are not evaluated here: by the time their response
 * starts, the handler has already acted, and a 412 would report a change as refused. A
 * handler checks them itself, before acting, with {@link checkPreconditions}.
 * @module
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'
import { defineMiddleware } from '../../core/define.js'
import { HttpError } from '../../core/errors.js'
import { defineDefaults, expectBoolean, expectFunction, withDefaults } from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import { prepareError, sendError } from '../../core/send-error.js'
import { transformBody, type BodyInfo, type TransformBodyOptions } from '../../core/transform-body.js'
import type { Middleware } from '../../core/types.js'
import { isUpgradeRequest } from '../../core/upgrade.js'
import {
  evaluatePreconditions,
  parseEntityTag,
  parseHttpDate,
  type CurrentValidators,
  type EntityTag,
  type PreconditionOutcome,
} from './preconditions.js'

/** Options for {@link conditional}. */
export interface ConditionalOptions {
  /**
   * Give a 200 to GET or HEAD whose body the handler handed over whole (one `res.end(body)`)
   * a strong ETag from a SHA-256 of its bytes, when the handler set no `ETag`. Streamed
   * bodies are never hashed (they would have to be held). Turn on to get 304s for JSON APIs
   * without touching the handlers; the hash costs about 1 ms per 1.5 MB.
   * @default false
   */
  etag?: boolean
  /**
   * The wall clock in milliseconds since the epoch: an `If-Modified-Since` later than it
   * is ignored. Inject one in tests.
   * @default Date.now
   */
  now?: () => number
}

/** Defaults of {@link conditional}. */
export const conditionalDefaults = defineDefaults<ConditionalOptions>({
  etag: false,
  now: Date.now,
})

/** The validators a handler passes to {@link checkPreconditions}. */
export interface Validators {
  /** The current entity-tag, quoted as in the `ETag` header: `'"v42"'` or `'W/"v42"'`. */
  readonly etag?: string
  /** The current last modification, as a Date, epoch milliseconds or an HTTP-date. */
  readonly lastModified?: Date | number | string
}

/** What every request of one `conditional()` shares. */
class Settings {
  readonly hash: boolean
  readonly now: () => number
  readonly route: TransformBodyOptions<Settings>
  /** The unchecked-precondition warning went out (once per instance). */
  warned = false

  constructor(hash: boolean, now: () => number) {
    this.hash = hash
    this.now = now
    this.route = Object.freeze({ holdBack: 0, context: this })
  }
}

// Set on a request whose handler called checkPreconditions. A symbol slot: only this module writes it.
const CHECKED = Symbol('http-onion.preconditionsChecked')
type CheckedSlot = { [CHECKED]?: true }

/**
 * Answer conditional GET and HEAD requests with 304 or 412 from the handler's `ETag` and
 * `Last-Modified`. Mount it inside `compression()`, so it compares the handler's validator
 * and hashes the uncompressed bytes; compression then marks the ETag weak.
 * @example
 * const app = compose(compression(), conditional({ etag: true }))(router)
 */
export function conditional(options: ConditionalOptions = {}): Middleware {
  const opts = withDefaults('conditional', conditionalDefaults, options)
  const hash = expectBoolean(
    'conditional',
    'etag',
    opts.etag,
    'Use true to hash bodies handed over whole, false to rely on the ETag your handlers set.',
  )
  const now = expectFunction<() => number>('conditional', 'now', opts.now, 'Pass a clock such as Date.now.')
  const settings = new Settings(hash, now)

  return defineMiddleware(
    { name: 'conditional', detail: hash ? 'ETag from whole bodies' : "handlers' validators" },
    (next) =>
      function conditionalHandler(req, res) {
        // A handshake's 101 is no representation: no validators, no 304/412.
        if (isUpgradeRequest(req)) return next(req, res)
        const method = req.method
        const headers = req.headers
        if (method !== 'GET' && method !== 'HEAD') {
          // Unsafe methods acted before their response starts: checkPreconditions() is theirs.
          // One that carried preconditions and succeeded unchecked is worth a warning.
          if (!settings.warned && hasPreconditions(headers)) onResponseStart(res, warnIfUnchecked, settings)
          return next(req, res)
        }
        if (hash || headers['if-match'] !== undefined || headers['if-unmodified-since'] !== undefined) {
          // A 412 replaces the body, and a hash reads it: both need the body pipe.
          transformBody(res, decideAtStart, settings.route)
        } else if (headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined) {
          // A 304 has no body: Node drops what the handler writes, nothing to route.
          onResponseStart(res, answerAtStart, settings)
        }
        return next(req, res)
      },
  )
}

/**
 * For handlers: evaluate the request's preconditions against the current validators
 * (`null` when the resource does not exist) before acting on it, as RFC 9110 §13.2.1 asks
 * of unsafe methods. Returns true to go on; false when it answered: a 412 through
 * `sendError`, or a bodiless 304 for a GET or HEAD.
 * @example
 * if (!checkPreconditions(req, res, doc ? { etag: doc.etag } : null)) return
 * await save(req)  // If-Match held: no lost update
 */
export function checkPreconditions(req: IncomingMessage, res: ServerResponse, current: Validators | null): boolean {
  ;(req as CheckedSlot)[CHECKED] = true
  const parsed = current === null ? null : parseValidators(current.etag, toSeconds(current.lastModified))
  const outcome = evaluatePreconditions(req, parsed, Date.now() / 1000)
  if (outcome === 'proceed') return true
  if (isNotModified(req, outcome)) {
    if (current?.etag !== undefined && !res.hasHeader('etag')) res.setHeader('etag', current.etag)
    notModified(res)
    res.end()
    return false
  }
  sendError(req, res, preconditionFailed(outcome))
  return false
}

/** The transformBody decider: hash a whole body if asked, then answer 304 or 412. */
function decideAtStart(res: ServerResponse, body: BodyInfo, settings: Settings): Duplex | null {
  // RFC 9110 §13.2.1: preconditions are ignored when the answer would not be a 2xx;
  // only a 200 stands for the representation a validator names.
  if (res.statusCode !== 200) return null
  if (settings.hash && body.ended && !res.hasHeader('etag')) {
    // A HEAD handler that sends no body has nothing to hash: an ETag of no bytes would be wrong.
    if (res.req.method !== 'HEAD' || body.length !== 0) res.setHeader('etag', strongEtag(body.whole()!))
  }
  const outcome = evaluateResponse(res, settings)
  if (outcome === 'proceed') return null
  if (isNotModified(res.req, outcome)) {
    notModified(res)
    return null
  }
  return new ReplacementBody(prepareError(res.req, res, preconditionFailed(outcome)))
}

/** The response-start listener when only If-None-Match or If-Modified-Since came. */
function answerAtStart(res: ServerResponse, settings: Settings): void {
  if (res.statusCode !== 200) return
  if (evaluateResponse(res, settings) !== 'proceed') notModified(res)
}

function evaluateResponse(res: ServerResponse, settings: Settings): PreconditionOutcome {
  const nowSeconds = settings.now() / 1000
  const current = parseValidators(res.getHeader('etag'), parseHttpDate(res.getHeader('last-modified'), nowSeconds))
  return evaluatePreconditions(res.req, current, nowSeconds)
}

const hasPreconditions = (headers: IncomingMessage['headers']): boolean =>
  headers['if-match'] !== undefined ||
  headers['if-unmodified-since'] !== undefined ||
  headers['if-none-match'] !== undefined

/**
 * Response-start listener of unsafe requests with preconditions: a 2xx whose handler never
 * called checkPreconditions acted without looking at them (a lost update, if If-Match was
 * stale). Warned once per instance: it is a property of the code, not of the request.
 */
function warnIfUnchecked(res: ServerResponse, settings: Settings): void {
  const status = res.statusCode
  if (settings.warned || status < 200 || status > 299 || (res.req as CheckedSlot)[CHECKED]) return
  settings.warned = true
  process.emitWarning(
    `conditional(): ${res.req.method} ${res.req.url} carried preconditions (If-Match, If-Unmodified-Since or If-None-Match) and was answered ${status} without checkPreconditions(); the handler acted without evaluating them. Call checkPreconditions(req, res, current) before acting.`,
    { type: 'SecurityWarning', code: 'HTTP_ONION_UNCHECKED_PRECONDITION' },
  )
}

const isNotModified = (req: IncomingMessage, outcome: PreconditionOutcome): boolean =>
  outcome === 'if-modified-since' || (outcome === 'if-none-match' && (req.method === 'GET' || req.method === 'HEAD'))

const preconditionFailed = (outcome: PreconditionOutcome): HttpError =>
  new HttpError(412, undefined, { code: 'precondition_failed', details: { precondition: outcome } })

// RFC 9110 §15.4.5: a 304 carries what a 200 would for caches to update (Cache-Control,
// Content-Location, Date, ETag, Expires, Vary, and Last-Modified) but no representation
// metadata of a body it does not have.
const NOT_MODIFIED_DROPS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'content-disposition',
  'transfer-encoding',
]

/** Turn the starting response into a 304. */
function notModified(res: ServerResponse): void {
  res.statusCode = 304
  for (const name of NOT_MODIFIED_DROPS) res.removeHeader(name)
}

/** The validators as the comparisons need them. */
class Parsed implements CurrentValidators {
  readonly etag: EntityTag | undefined
  readonly lastModified: number | undefined

  constructor(etag: EntityTag | undefined, lastModified: number | undefined) {
    this.etag = etag
    this.lastModified = lastModified
  }
}

const parseValidators = (etag: unknown, lastModified: number | undefined): Parsed =>
  new Parsed(parseEntityTag(etag), lastModified)

/** A handler's last modification in whole seconds (HTTP-dates have no finer resolution). */
function toSeconds(value: Date | number | string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string') return parseHttpDate(value)
  const ms = value instanceof Date ? value.getTime() : value
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

/**
 * A strong ETag from the body's bytes. SHA-256, not MD5 or SHA-1: as fast here (SHA
 * extensions), and whoever controls two bodies at one URL cannot make them collide, so a
 * cache is never told a changed body is the one it holds. 128 bits of it, base64url, keep
 * the header short.
 */
function strongEtag(bytes: Buffer): string {
  return `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`
}

/**
 * The 412's body in place of the handler's: sent at once, while what the handler writes
 * is swallowed as it comes (never held), and the answer ends when the handler ends.
 */
class ReplacementBody extends Duplex {
  constructor(payload: string) {
    super()
    this.push(payload)
  }

  override _read(): void {}

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.push(null)
    callback()
  }
}
