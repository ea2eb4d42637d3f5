/**
 * Rate limiting: count each client's requests in a store and refuse, with 429 and
 * `Retry-After`, those beyond the quota. Three algorithms (fixed window, sliding window,
 * token bucket), keys by client address (IPv6 grouped by /64) or by any function, limits
 * and costs that may depend on the request, and the IETF `RateLimit-Policy` / `RateLimit`
 * headers on every limited-or-not response (or the draft-6/7 or legacy fields).
 *
 * Two opt-in penalties: `penalty` blocks a key that keeps exceeding its quota, each block
 * twice as long as the last (login routes); `slowDown` delays requests past a threshold
 * instead of serving them at once (express-slow-down).
 *
 * The store decides each hit atomically: `memoryStore()` (the default, bounded, one
 * process) or `redisStore({ client })` (exact across processes). When the store fails,
 * the limiter fails open (serve, count, warn at most once per interval) or closed (503).
 * @module
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIp, warnIfForwardedIgnored } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { ipPrefixKey } from '../../core/ip.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectOneOf,
  expectPlainObject,
  withDefaults,
  withNestedDefaults,
} from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { reportError } from '../../core/report.js'
import { monotonicNow } from '../../core/clock.js'
import { onResponseEnd, type ResponseEndInfo } from '../../core/response-end.js'
import { sendError } from '../../core/send-error.js'
import { isThenable } from '../../core/thenable.js'
import { userIdState } from '../../core/shared-state.js'
import type { Middleware } from '../../core/types.js'
import { memoryStore } from '../../stores/rate-limit/memory.js'
import type {
  RateLimitAlgorithm,
  RateLimitDecision,
  RateLimitPenalty,
  RateLimitPolicy,
  RateLimitStore,
} from '../../stores/rate-limit/store.js'
import { headerWriter, policyField, type RateLimitHeaderFormat } from './headers.js'
import { delayThen, nodeTimers, type SlowDownTimers } from './slow-down.js'

export type { RateLimitHeaderFormat } from './headers.js'
export type { SlowDownTimers } from './slow-down.js'

/** A value given directly, or computed from the request (synchronously or not). */
export type PerRequest<T> = T | ((req: IncomingMessage) => T | Promise<T>)

/** Options for {@link rateLimit}. */
export interface RateLimitOptions {
  /**
   * Quota units per window: a number, or a function of the request (e.g. a tenant's plan
   * read from a database; cache it there, it runs on every request). 0 refuses everything.
   * @default 100
   */
  limit?: PerRequest<number>
  /** The window in milliseconds (fixed window length, sliding span, bucket refill time). @default 60_000 */
  windowMs?: number
  /**
   * How hits are counted; see the docs for the trade-offs. `'fixed-window'` is exact and
   * its `RateLimit` numbers never rise before the reset, but allows up to twice the limit
   * across a window boundary; `'sliding-window'` smooths that; `'token-bucket'` (GCRA)
   * allows bursts of `limit` and then a steady rate.
   * @default 'fixed-window'
   */
  algorithm?: RateLimitAlgorithm
  /**
   * Whom to count: `'ip'` (the client address from the core, IPv6 grouped by `ipv6Subnet`),
   * `'user'` (the user id set by jwtAuth, apiKey or session, falling back to the address
   * for anonymous requests), or a function returning a key (tenant, API key id).
   * @default 'ip'
   */
  key?: 'ip' | 'user' | ((req: IncomingMessage) => string | Promise<string>)
  /**
   * IPv6 prefix length grouped into one key, from 32 to 64. A home or a cloud VM gets a
   * whole /64 and can use any address in it; use 56 or 48 against clients that hold
   * larger blocks. Longer prefixes are refused: at /128 one /64 holds 2^64 buckets.
   * @default 64
   */
  ipv6Subnet?: number
  /** Quota units a request spends: a number or a function of the request (weights). @default 1 */
  cost?: PerRequest<number>
  /** Requests for which this returns true are not counted and get no headers. @default undefined */
  skip?: ((req: IncomingMessage) => boolean | Promise<boolean>) | undefined
  /**
   * Paths never limited: `'/health'`, `'/static/*'`, anchored RegExps, predicates, matched on
   * `matchablePath(req.url)`: an ambiguous target (`/login/..%2fhealth`) is never exempt.
   * @default []
   */
  exempt?: readonly PathPattern[]
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * counts them like any request; `'refuse'` answers them 400 `ambiguous_path`, uncounted.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
  /** Where counters live. @default a memoryStore() of its own */
  store?: RateLimitStore | undefined
  /**
   * The policy's name: its namespace in the store and its item in the `RateLimit` headers.
   * Give limiters that share a store different names. @default 'default'
   */
  name?: string
  /**
   * Which standard rate-limit fields to send: `'draft-11'` (`RateLimit-Policy` and
   * `RateLimit`, one list item per limiter), `'draft-7'` (`RateLimit: limit=…, remaining=…,
   * reset=…`), `'draft-6'` (`RateLimit-Limit`, `-Remaining`, `-Reset`, which most client
   * libraries still parse), `true` for `'draft-11'`, `false` for none.
   * @default true
   */
  headers?: boolean | RateLimitHeaderFormat
  /** Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds). @default false */
  legacyHeaders?: boolean
  /**
   * When the store cannot answer (Redis down or slow): `'fail-open'` serves the request
   * unlimited; `'fail-closed'` answers 503 with `Retry-After`. Both count the failure and
   * warn at most once per `warningIntervalMs`.
   * @default 'fail-open'
   */
  onStoreFailure?: 'fail-open' | 'fail-closed'
  /** `Retry-After` seconds of a fail-closed 503. @default 5 */
  failureRetryAfter?: number
  /** Least time between two warnings about store failures. @default 60_000 */
  warningIntervalMs?: number
  /**
   * Called when a counted response ends; returning true gives its cost back. For example
   * `(req, res) => res.statusCode < 400` counts only failed logins.
   * @default undefined
   */
  refundIf?: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined
  /**
   * Block repeat offenders: a key refused `offences` times within `periodMs` is refused
   * outright for `blockMs`, each further block twice as long, at most `maxBlockMs`. For
   * login and password-reset routes. `{}` takes every default; the store must apply
   * penalties (both stores here do).
   * @default false
   */
  penalty?: RateLimitPenaltyOptions | false
  /**
   * Delay instead of serving at once: requests past `delayAfter` units of the window wait
   * `delayMs` per unit past, at most `maxDelayMs`, before the handler runs; `limit` still
   * refuses. The express-slow-down pattern, against scrapers and credential stuffing.
   * @default false
   */
  slowDown?: RateLimitSlowDownOptions | false
}

/** Settings of `rateLimit({ penalty })`. */
export interface RateLimitPenaltyOptions {
  /** Refusals within `periodMs` that start a block; 1 blocks at the first. @default 1 */
  offences?: number
  /** The span over which refusals count towards `offences`, in ms. @default the limiter's windowMs */
  periodMs?: number | undefined
  /** The first block's length in ms; each further block doubles it. @default the limiter's windowMs */
  blockMs?: number | undefined
  /** The longest block, in ms. @default 86_400_000 (a day) */
  maxBlockMs?: number
  /** How long after its last block ended a key keeps its escalation; then it starts again at `blockMs`. @default 86_400_000 */
  forgetMs?: number
}

const penaltyDefaults = defineDefaults<RateLimitPenaltyOptions, 'periodMs' | 'blockMs'>({
  offences: 1,
  periodMs: undefined,
  blockMs: undefined,
  maxBlockMs: 86_400_000,
  forgetMs: 86_400_000,
})

/** Settings of `rateLimit({ slowDown })`. */
export interface RateLimitSlowDownOptions {
  /** Units of the window served without delay; the next waits `delayMs`, the one after twice that. @default 1 */
  delayAfter?: number
  /** Delay added per unit past `delayAfter`, in ms. @default 1000 */
  delayMs?: number
  /**
   * The longest delay, in ms. A waiting request holds a connection, so keep it bounded,
   * and below the deadline of a `timeout()` outside (which ends the wait with its answer).
   * @default 10_000
   */
  maxDelayMs?: number
  /** Timer functions; inject fakes in tests. @default Node's setTimeout and clearTimeout */
  timers?: SlowDownTimers
}

const slowDownDefaults = defineDefaults<RateLimitSlowDownOptions>({
  delayAfter: 1,
  delayMs: 1000,
  maxDelayMs: 10_000,
  timers: nodeTimers,
})

export const rateLimitDefaults = defineDefaults<RateLimitOptions, 'skip' | 'store' | 'refundIf'>({
  limit: 100,
  windowMs: 60_000,
  algorithm: 'fixed-window',
  key: 'ip',
  ipv6Subnet: 64,
  cost: 1,
  skip: undefined,
  exempt: [],
  ambiguousPaths: 'fail-closed',
  store: undefined,
  name: 'default',
  headers: true,
  legacyHeaders: false,
  onStoreFailure: 'fail-open',
  failureRetryAfter: 5,
  warningIntervalMs: 60_000,
  refundIf: undefined,
  penalty: false,
  slowDown: false,
})

/** Counters of one limiter since it was made. */
export interface RateLimitStats {
  /** Requests counted and served. */
  readonly allowed: number
  /** Requests refused with 429. */
  readonly limited: number
  /** Requests not counted: exempt paths and `skip`. */
  readonly skipped: number
  /** Store calls that failed (consume and refund), whatever the failure policy. */
  readonly storeFailures: number
  /** Requests refused with 503 because the store was full (memory store, overflow `'refuse'`). */
  readonly overflowRefused: number
  /** Of `limited`, those refused by a penalty block (the block's first refusal included). */
  readonly blocked: number
  /** Requests that waited before being served (`slowDown`), whether or not the wait ran out. */
  readonly delayed: number
}

/** The middleware returned by {@link rateLimit}, with its counters and controls. */
export interface RateLimiter extends Middleware {
  /** A snapshot of the counters. */
  stats(): RateLimitStats
  /** Forget `key` (as the limiter computes it: for `'ip'`, the address, IPv6 as its /64 `ipPrefixKey`). */
  resetKey(key: string): Promise<void>
  /** Close the store if this limiter made it (the default memory store); a store you passed stays yours. */
  close(): Promise<void>
}

const NAME = 'rateLimit'
// Keys longer than this are hashed: a key function fed by a request header must not let
// a client store kilobytes per key (the memory store bounds keys, not their length).
const MAX_KEY_LENGTH = 200

/**
 * Limit the request rate per client.
 * Mount it inside `proxyHeaders()` (which establishes the client address) and `cors()`;
 * a limit by address goes outside authentication, so failed logins are counted too.
 * @example
 * const app = compose(proxyHeaders({ trustedProxies: ['loopback'] }), cors(), rateLimit({ limit: 100, windowMs: 60_000 }))(router)
 */
export function rateLimit(options: RateLimitOptions = {}): RateLimiter {
  const opts = withDefaults(NAME, rateLimitDefaults, options)
  const windowMs = expectInteger(NAME, 'windowMs', opts.windowMs, 1, 366 * 86_400_000, 'Use 60_000 for one minute.')
  const algorithm = expectOneOf(NAME, 'algorithm', opts.algorithm, [
    'fixed-window',
    'sliding-window',
    'token-bucket',
  ] as const)
  const limitOption = perRequest(
    opts.limit,
    'limit',
    'an integer ≥ 0 or a function of the request',
    'Use 100 for 100 requests per window.',
  )
  const costOption = perRequest(opts.cost, 'cost', 'an integer ≥ 0 or a function of the request')
  // Longer than /64 gives one customer 2^(128 - n) buckets of its own /64 (at /128, 2^64);
  // shorter than /32 (an ISP's whole allocation) puts unrelated customers in one bucket.
  const ipv6Subnet = expectInteger(
    NAME,
    'ipv6Subnet',
    opts.ipv6Subnet,
    32,
    64,
    'Use 64, the prefix one customer (a home, a VM) gets and can use every address of; 56 or 48 against clients holding larger blocks. ' +
      'Above 64, one customer gets a bucket per address it chooses.',
  )
  if (opts.key !== 'ip' && opts.key !== 'user' && typeof opts.key !== 'function') {
    throw new ConfigError(
      NAME,
      'key',
      '"ip", "user" or a function returning a key',
      opts.key,
      'To count by something else, return it from a function, e.g. key: (req) => tenantOf(req).',
    )
  }
  const keyMode = typeof opts.key === 'function' ? 'function' : opts.key
  const keyFunction = typeof opts.key === 'function' ? opts.key : undefined
  const skip =
    opts.skip === undefined ? undefined : expectFunction<(req: IncomingMessage) => unknown>(NAME, 'skip', opts.skip)
  const exempt = opts.exempt.length === 0 ? undefined : compilePathPatterns(NAME, 'exempt', opts.exempt)
  const refuseAmbiguous = expectAmbiguousPaths(NAME, opts.ambiguousPaths)
  if (typeof opts.name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(opts.name)) {
    throw new ConfigError(
      NAME,
      'name',
      'letters, digits, "_", ".", ":" or "-" (1 to 64)',
      opts.name,
      'Name the policy, e.g. "api" or "login"; it is part of every store key.',
    )
  }
  const ownStore = opts.store === undefined
  const store = opts.store ?? memoryStore()
  if (!isStore(store)) {
    throw new ConfigError(
      NAME,
      'store',
      'a RateLimitStore (memoryStore(), redisStore({ client }))',
      store,
      'Leave it unset for a memory store of this process, or pass redisStore({ client }) to share counts between processes.',
    )
  }
  const failOpen =
    expectOneOf(NAME, 'onStoreFailure', opts.onStoreFailure, ['fail-open', 'fail-closed'] as const) === 'fail-open'
  const failureRetryAfter = String(
    expectInteger(
      NAME,
      'failureRetryAfter',
      opts.failureRetryAfter,
      1,
      86_400,
      'It is in seconds (Retry-After), e.g. 5.',
    ),
  )
  const warningIntervalMs = expectInteger(NAME, 'warningIntervalMs', opts.warningIntervalMs, 0)
  const refundIf =
    opts.refundIf === undefined
      ? undefined
      : expectFunction<(req: IncomingMessage, res: ServerResponse) => boolean>(NAME, 'refundIf', opts.refundIf)
  const headerFormat = headerFormatOf(opts.headers)
  expectBoolean(NAME, 'legacyHeaders', opts.legacyHeaders)
  const penalty = opts.penalty === false ? undefined : penaltyOf(opts.penalty, windowMs)
  if (penalty !== undefined && store.penalties !== true) {
    throw new ConfigError(
      NAME,
      'store',
      'a store that applies penalties (memoryStore(), redisStore())',
      store,
      `The ${store.kind} store does not declare "penalties: true"; without it no key would ever be blocked.`,
    )
  }
  const slowDown =
    opts.slowDown === false
      ? undefined
      : slowDownOf(opts.slowDown, typeof limitOption === 'number' ? limitOption : undefined)

  const policy = sharedPolicy(store, opts.name, algorithm, windowMs, penalty)
  const headers = headerWriter(opts.name, windowMs, headerFormat, opts.legacyHeaders, Date.now)
  const fixedPolicy = typeof limitOption === 'number' ? policyField(opts.name, limitOption, windowMs) : undefined
  const stats = { allowed: 0, limited: 0, skipped: 0, storeFailures: 0, overflowRefused: 0, blocked: 0, delayed: 0 }
  let lastWarning = -Infinity
  let unreported = 0

  function keyOf(req: IncomingMessage): string | Promise<string> {
    if (keyFunction !== undefined) return keyFunction(req)
    if (keyMode === 'user') {
      const user = userIdState.tryGet(req)
      if (user !== undefined) return `user:${user}`
    }
    warnIfForwardedIgnored(req, NAME)
    // clientIp is canonical text already; only IPv6 needs grouping (IPv4 keys are /32).
    const ip = clientIp(req)
    return ip.includes(':') ? ipPrefixKey(ip, ipv6Subnet) : ip
  }

  function storeFailed(err: unknown, req: IncomingMessage): void {
    stats.storeFailures++
    unreported++
    const at = monotonicNow()
    if (at - lastWarning < warningIntervalMs) return
    reportError(
      `${NAME}(): the ${store.kind} store failed ${unreported} time(s) since the last warning; ` +
        (failOpen ? 'requests are served without limiting (fail-open)' : 'requests are refused with 503 (fail-closed)'),
      err,
      req,
    )
    lastWarning = at
    unreported = 0
  }

  const refundListener = (_info: ResponseEndInfo, res: ServerResponse, hit: Hit): void => {
    if (!refundIf!(res.req, res)) return
    store.refund(hit.key, policy, hit.limit, hit.cost).catch((err: unknown) => storeFailed(err, res.req))
  }

  const detail =
    `${typeof limitOption === 'number' ? limitOption : 'limit(req)'} per ${windowMs} ms, ${algorithm}, ` +
    `by ${keyMode === 'function' ? 'key(req)' : keyMode}, ${store.kind} store, ${failOpen ? 'fail-open' : 'fail-closed'}` +
    (penalty === undefined ? '' : `, penalty ${penalty.blockMs}–${penalty.maxBlockMs} ms`) +
    (slowDown === undefined ? '' : `, slow down after ${slowDown.delayAfter}`)

  const middleware = defineMiddleware(
    // Its ordering constraints depend on the key (lib/core/built-ins.ts): by address it counts
    // before authentication, by user after it.
    { name: NAME, detail, variant: `key ${keyMode}`, security: true },
    (next) => {
      /** The store failed: fail open (serve unlimited) or closed (503). */
      function afterStoreFailure(req: IncomingMessage, res: ServerResponse, limit: number, err: unknown): unknown {
        storeFailed(err, req)
        headers.writePolicy(res, limit, fixedPolicy)
        if (failOpen) return next(req, res)
        sendError(
          req,
          res,
          new HttpError(503, 'Rate limiting is unavailable', {
            code: 'rate_limit_unavailable',
            headers: { 'retry-after': failureRetryAfter },
            details: { retryAfterSeconds: Number(failureRetryAfter) },
            cause: err,
          }),
        )
        return undefined
      }

      /** Answer on the store's decision: refuse, or set the headers and go on. */
      function afterDecision(
        req: IncomingMessage,
        res: ServerResponse,
        key: string,
        limit: number,
        cost: number,
        decision: RateLimitDecision,
      ): unknown {
        if (decision.overflow === true) {
          stats.overflowRefused++
          const seconds = Math.ceil(decision.retryAfterMs / 1000)
          sendError(
            req,
            res,
            new HttpError(503, 'Rate limiting is at capacity', {
              code: 'rate_limit_capacity',
              headers: { 'retry-after': String(seconds) },
              details: { retryAfterSeconds: seconds },
            }),
          )
          return undefined
        }
        if (!decision.allowed) {
          stats.limited++
          if (decision.blocked === true) stats.blocked++
          const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
          // draft-11 §6: Retry-After must not point before the end of the effective window,
          // so a refusal reports the retry time as the window.
          headers.write(res, { limit, remaining: decision.remaining, resetSeconds: seconds }, fixedPolicy)
          sendError(
            req,
            res,
            new HttpError(429, undefined, {
              headers: { 'retry-after': String(seconds) },
              details: { retryAfterSeconds: seconds },
            }),
          )
          return undefined
        }
        stats.allowed++
        // Set before the handler runs: the values describe this request's decision, and an
        // error answered further in (sendError keeps such headers) still reports them.
        headers.write(
          res,
          { limit, remaining: decision.remaining, resetSeconds: Math.ceil(decision.resetMs / 1000) },
          fixedPolicy,
        )
        if (refundIf !== undefined && cost > 0) onResponseEnd(res, refundListener, new Hit(key, limit, cost))
        if (slowDown !== undefined) {
          // Units used in the window, this request's included: what the store has counted.
          const past = limit - decision.remaining - slowDown.delayAfter
          if (past > 0 && cost > 0) {
            stats.delayed++
            return delayThen(req, res, next, Math.min(slowDown.maxDelayMs, past * slowDown.delayMs), slowDown.timers)
          }
        }
        return next(req, res)
      }

      /**
       * Ask the store. A decision it has at hand (the memory store) is answered at once: no
       * promise and no microtask on the common path; a pending one is awaited.
       */
      function consume(req: IncomingMessage, res: ServerResponse, key: string, limit: number, cost: number): unknown {
        if (key.length > MAX_KEY_LENGTH) key = `sha256:${createHash('sha256').update(key).digest('base64url')}`
        let decision: RateLimitDecision | PromiseLike<RateLimitDecision>
        try {
          decision = store.consume(key, policy, limit, cost)
        } catch (err) {
          return afterStoreFailure(req, res, limit, err)
        }
        if (!isThenable(decision)) return afterDecision(req, res, key, limit, cost, decision)
        const hashed = key
        return (decision as PromiseLike<RateLimitDecision>).then(
          (settled) => afterDecision(req, res, hashed, limit, cost, settled),
          (err: unknown) => afterStoreFailure(req, res, limit, err),
        )
      }

      /**
       * The general path: a skip, key, limit or cost function that answered with a promise.
       * What the synchronous path already asked for comes along (pending or not), so no
       * function is called twice.
       */
      async function rateLimitAwaiting(
        req: IncomingMessage,
        res: ServerResponse,
        pendingKey: unknown = NOT_YET,
        pendingLimit: unknown = NOT_YET,
        pendingCost: unknown = NOT_YET,
      ): Promise<unknown> {
        if (pendingKey === NOT_YET && skip !== undefined) {
          let skipped = skip(req)
          if (typeof skipped !== 'boolean') skipped = await skipped
          if (skipped === true) {
            stats.skipped++
            return next(req, res)
          }
        }
        let key = pendingKey === NOT_YET ? keyOf(req) : pendingKey
        if (typeof key !== 'string') key = checkKey(await key)
        const limit =
          typeof limitOption === 'number'
            ? limitOption
            : checkCount(await (pendingLimit === NOT_YET ? limitOption(req) : pendingLimit), 'limit')
        const cost =
          typeof costOption === 'number'
            ? costOption
            : checkCount(await (pendingCost === NOT_YET ? costOption(req) : pendingCost), 'cost')
        return consume(req, res, key as string, limit, cost)
      }

      // Used bare, not only through compose(), a layer still turns a sync throw from inside
      // into a rejection, as the async handler it replaces did.
      return function rateLimitHandler(req, res) {
        try {
          return limitRequest(req, res)
        } catch (err) {
          return Promise.reject(err)
        }
      }

      function limitRequest(req: IncomingMessage, res: ServerResponse): unknown {
        if (exempt !== undefined || refuseAmbiguous) {
          // An ambiguous target, or one that cannot be normalised, matches no exemption: it is
          // limited (fail closed), or refused.
          const path = matchablePath(req.url)
          if (path === undefined && refuseAmbiguous) return void sendError(req, res, AMBIGUOUS_PATH_ERROR)
          if (path !== undefined && exempt?.(path) === true) {
            stats.skipped++
            return next(req, res)
          }
        }
        if (skip !== undefined) return rateLimitAwaiting(req, res)
        const key = keyOf(req)
        if (typeof key !== 'string') return rateLimitAwaiting(req, res, key)
        // A limit or cost function that answers at once (a tenant's limit from a cache) keeps
        // the request on this path too.
        let limit: number
        if (typeof limitOption === 'number') limit = limitOption
        else {
          const value = limitOption(req)
          if (isThenable(value)) return rateLimitAwaiting(req, res, key, value)
          limit = checkCount(value, 'limit')
        }
        let cost: number
        if (typeof costOption === 'number') cost = costOption
        else {
          const value = costOption(req)
          if (isThenable(value)) return rateLimitAwaiting(req, res, key, limit, value)
          cost = checkCount(value, 'cost')
        }
        return consume(req, res, key, limit, cost)
      }
    },
  )

  return Object.assign(middleware, {
    stats: (): RateLimitStats => ({ ...stats }),
    resetKey: (key: string) => store.reset(key, policy),
    close: () => (ownStore ? store.close() : Promise.resolve()),
  })
}

/**
 * What a refund needs to know about the hit it returns. A class, not a literal: it is a
 * per-request record (see core/listener-node.ts).
 */
class Hit {
  readonly key: string
  readonly limit: number
  readonly cost: number

  constructor(key: string, limit: number, cost: number) {
    this.key = key
    this.limit = limit
    this.cost = cost
  }
}

/** A `PerRequest<number>` option: a function is kept, a number checked. */
function perRequest(
  value: unknown,
  option: string,
  expected: string,
  fix = '',
): number | ((req: IncomingMessage) => unknown) {
  if (typeof value === 'function') return value as (req: IncomingMessage) => unknown
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ConfigError(NAME, option, expected, value, fix)
  return value
}

/** Marks a value the synchronous path has not asked for yet (undefined is a possible answer). */
const NOT_YET: unique symbol = Symbol('not yet')

/** Check what a key function returned: anything but a string is its bug, thrown rather than counted under a wrong key. */
function checkKey(key: unknown): string {
  if (typeof key !== 'string')
    throw new TypeError(`${NAME}(): option "key" returned ${typeof key}; it must return a string.`)
  return key
}

/** What a `limit` or `cost` function returned, checked like the number it stands for. */
function checkCount(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${NAME}(): option "${option}" returned ${String(value)}; it must return an integer ≥ 0.`)
  }
  return value
}

const HEADER_FORMATS: readonly unknown[] = [false, 'draft-11', 'draft-7', 'draft-6']

/** The `headers` option: `true` is draft-11. */
function headerFormatOf(value: unknown): RateLimitHeaderFormat | false {
  if (value === true) return 'draft-11'
  if (!HEADER_FORMATS.includes(value)) {
    throw new ConfigError(
      NAME,
      'headers',
      'true or false, or one of "draft-11", "draft-7", "draft-6"',
      value,
      'true is "draft-11"; for the RateLimit-Limit, -Remaining and -Reset fields use "draft-6".',
    )
  }
  return value as RateLimitHeaderFormat | false
}

/** The `penalty` option, checked, with the window's defaults filled in. */
function penaltyOf(value: RateLimitPenaltyOptions, windowMs: number): RateLimitPenalty {
  const opts = withNestedDefaults(NAME, 'penalty', penaltyDefaults, value, 'an object of settings or false')
  const day = 86_400_000
  const offences = expectInteger(NAME, 'penalty.offences', opts.offences, 1, 1_000_000)
  const periodMs = expectInteger(NAME, 'penalty.periodMs', opts.periodMs ?? windowMs, 1, 366 * day)
  const blockMs = expectInteger(
    NAME,
    'penalty.blockMs',
    opts.blockMs ?? windowMs,
    1,
    366 * day,
    'Use 60_000 for one minute.',
  )
  const maxBlockMs = expectInteger(NAME, 'penalty.maxBlockMs', opts.maxBlockMs, 1, 366 * day)
  if (maxBlockMs < blockMs) {
    throw new ConfigError(
      NAME,
      'penalty.maxBlockMs',
      `at least penalty.blockMs (${blockMs})`,
      maxBlockMs,
      'It caps the doubling blocks; set it to blockMs for blocks that never grow.',
    )
  }
  const forgetMs = expectInteger(NAME, 'penalty.forgetMs', opts.forgetMs, 1, 366 * day)
  return Object.freeze({ offences, periodMs, blockMs, maxBlockMs, forgetMs })
}

interface SlowDown {
  readonly delayAfter: number
  readonly delayMs: number
  readonly maxDelayMs: number
  readonly timers: SlowDownTimers
}

/** The `slowDown` option, checked against a fixed `limit` if there is one. */
function slowDownOf(value: RateLimitSlowDownOptions, limit: number | undefined): SlowDown {
  const opts = withNestedDefaults(NAME, 'slowDown', slowDownDefaults, value, 'an object of settings or false')
  const delayAfter = expectInteger(NAME, 'slowDown.delayAfter', opts.delayAfter, 0)
  if (limit !== undefined && delayAfter >= limit) {
    throw new ConfigError(
      NAME,
      'slowDown.delayAfter',
      `below limit (${limit})`,
      delayAfter,
      'Requests past the limit are refused, so none would ever be delayed; to delay and never refuse, raise limit.',
    )
  }
  const delayMs = expectInteger(NAME, 'slowDown.delayMs', opts.delayMs, 1, 2_147_483_647)
  const maxDelayMs = expectInteger(
    NAME,
    'slowDown.maxDelayMs',
    opts.maxDelayMs,
    delayMs,
    2_147_483_647,
    'It bounds how long a request holds its connection; at least delayMs.',
  )
  const timers = expectPlainObject(NAME, 'slowDown.timers', opts.timers, 'an object { setTimeout, clearTimeout }')
  expectFunction(NAME, 'slowDown.timers.setTimeout', (timers as SlowDownTimers).setTimeout)
  expectFunction(NAME, 'slowDown.timers.clearTimeout', (timers as SlowDownTimers).clearTimeout)
  return { delayAfter, delayMs, maxDelayMs, timers: opts.timers }
}

/** Whether `value` has every method of a RateLimitStore (a structural check: stores may come from anywhere). */
function isStore(value: unknown): value is RateLimitStore {
  const store = value as Partial<RateLimitStore> | null
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof store.consume === 'function' &&
    typeof store.refund === 'function' &&
    typeof store.reset === 'function' &&
    typeof store.close === 'function'
  )
}

// Policies per store and name: limiters that share both share counters, so they must
// count the same way. Weak, so a dropped store takes its entries with it.
const policies = new WeakMap<RateLimitStore, Map<string, RateLimitPolicy>>()

/** The policy of a limiter on `store`, shared with earlier limiters of the same name if they count alike. */
function sharedPolicy(
  store: RateLimitStore,
  name: string,
  algorithm: RateLimitAlgorithm,
  windowMs: number,
  penalty: RateLimitPenalty | undefined,
): RateLimitPolicy {
  let byName = policies.get(store)
  if (byName === undefined) {
    byName = new Map()
    policies.set(store, byName)
  }
  const existing = byName.get(name)
  if (existing === undefined) {
    const policy = Object.freeze(
      penalty === undefined ? { name, algorithm, windowMs } : { name, algorithm, windowMs, penalty },
    )
    byName.set(name, policy)
    return policy
  }
  if (
    existing.algorithm !== algorithm ||
    existing.windowMs !== windowMs ||
    JSON.stringify(existing.penalty) !== JSON.stringify(penalty)
  ) {
    throw new ConfigError(
      NAME,
      'name',
      `a name not used on this store by a limiter counting differently ` +
        `(${JSON.stringify(name)} counts ${existing.algorithm} over ${existing.windowMs} ms` +
        `${existing.penalty === undefined ? '' : ', with a penalty'})`,
      name,
      'Limiters sharing a store and a name share counters; give this one its own name.',
    )
  }
  return existing
}
