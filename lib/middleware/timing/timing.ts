/**
 * Response timing: `Server-Timing: total;dur=12.3` (shown by browser dev tools next to the
 * request) and/or `X-Response-Time: 12.3ms`, measured on the monotonic clock from the
 * request's arrival to the moment its headers are written. Handlers and inner layers add
 * their own metrics with {@link addServerTiming}; names, durations and descriptions are
 * validated so no metric can break the header.
 *
 * "Arrival" is the core's `arrivalTime(req)`: the first time any layer asked for it. Mount
 * timing() early, so that time spent in the layers around the handler counts.
 *
 * `Server-Timing` goes by default only to requests an identity layer authenticated (it set
 * `userIdState`): backend timings help whoever is debugging, and an anonymous client
 * probing for a timing side channel (is this user known? was that a cache hit?) too.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { arrivalTime, monotonicNow } from '../../core/clock.js'
import { readHeader, setOwnHeader } from '../../core/headers.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, describeValue } from '../../core/errors.js'
import { fixedText } from '../../core/fixed-text.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  isToken,
  withDefaults,
} from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import { userIdState } from '../../core/shared-state.js'
import type { Middleware } from '../../core/types.js'

/** Options for {@link timing}. */
export interface TimingOptions {
  /**
   * Send `Server-Timing` with the total and every metric added by {@link addServerTiming}:
   * `'authenticated'` only on responses to requests an identity layer (jwtAuth, apiKey,
   * session with `userIdKey`) authenticated, `true` to every client, `false` never.
   * Backend timings are a side channel (a lookup slower for existing users, a cache hit), so
   * anonymous clients do not get them unless you say so.
   * @default 'authenticated'
   */
  serverTiming?: boolean | 'authenticated'
  /** Send `X-Response-Time: <ms>ms` as well, for tools that read that header. @default false */
  responseTime?: boolean
  /** Name of the total metric in `Server-Timing` (an RFC 9110 token). @default 'total' */
  metricName?: string
  /** Decimal places of every duration sent. @default 1 */
  digits?: number
  /**
   * The monotonic clock read at header time, in milliseconds on the origin of
   * `performance.now()` (the origin of `arrivalTime`). Inject one in tests.
   * @default monotonicNow
   */
  now?: () => number
}

/** Defaults of {@link timing}. */
export const timingDefaults = defineDefaults<TimingOptions>({
  serverTiming: 'authenticated' as boolean | 'authenticated',
  responseTime: false,
  metricName: 'total',
  digits: 1,
  now: monotonicNow,
})

/** One metric for `Server-Timing` (W3C Server Timing §3). */
export interface ServerTimingMetric {
  /** Metric name: an RFC 9110 token such as `db` or `cache-miss`. */
  readonly name: string
  /** Duration in milliseconds: a finite number ≥ 0. */
  readonly dur?: number
  /** Human-readable description: up to 256 characters of printable ASCII, space or tab. */
  readonly desc?: string
}

/** Most metrics one response carries besides the total; later ones are ignored. */
export const SERVER_TIMING_MAX_METRICS = 32
const DESC_MAX_LENGTH = 256

// Per request: undefined (timing() not mounted), OPEN (mounted, no metric yet), the formatted
// metrics, or CLOSED once the headers went out. A symbol slot, not request state, because
// nothing but this module may write it.
const METRICS = Symbol('http-onion.serverTiming')
const OPEN = 0
const CLOSED = 1
type MetricsSlot = { [METRICS]?: string[] | typeof OPEN | typeof CLOSED }

// Printable ASCII, space and tab: what a quoted-string may hold once `"` and `\` are escaped
// (RFC 9110 §5.6.4), minus obs-text, which browsers would decode as Latin-1.
const DESC_PATTERN = /^[\t\x20-\x7e]*$/

/**
 * Add a metric to the `Server-Timing` header of the response to `req`. Returns false, adding
 * nothing, when timing() is not mounted above the caller, the headers are already out, or
 * the response has {@link SERVER_TIMING_MAX_METRICS} metrics. Throws a TypeError for a
 * metric that is not valid (a name that is no token, a negative or non-finite duration, a
 * description with characters a header cannot carry): those are programming errors.
 * @example
 * const started = monotonicNow()
 * const rows = await db.query(sql)
 * addServerTiming(req, { name: 'db', dur: monotonicNow() - started, desc: 'users' })
 */
export function addServerTiming(req: IncomingMessage, metric: ServerTimingMetric): boolean {
  const formatted = formatMetric(metric)
  const slot = req as unknown as MetricsSlot
  const metrics = slot[METRICS]
  if (metrics === undefined || metrics === CLOSED) return false
  if (metrics === OPEN) {
    slot[METRICS] = [formatted]
    return true
  }
  if (metrics.length >= SERVER_TIMING_MAX_METRICS) return false
  metrics.push(formatted)
  return true
}

/**
 * Time every response: `Server-Timing: total;dur=…` (by default to authenticated requests
 * only), `X-Response-Time` on request. Durations run from the request's arrival to its
 * headers, so a streamed body's transfer time is not included; the access log's
 * `durationMs` covers that.
 * @example
 * const app = compose(requestId(), timing({ responseTime: true }), accessLog(), jwtAuth(auth))(router)
 */
export function timing(options: TimingOptions = {}): Middleware {
  const opts = withDefaults('timing', timingDefaults, options)
  const serverTiming = opts.serverTiming
  if (serverTiming !== true && serverTiming !== false && serverTiming !== 'authenticated') {
    throw new ConfigError(
      'timing',
      'serverTiming',
      'true, false or "authenticated"',
      serverTiming,
      'Use "authenticated" (the default) to time only requests an identity layer authenticated, or true for every client.',
    )
  }
  const onlyAuthenticated = serverTiming === 'authenticated'
  const responseTime = expectBoolean('timing', 'responseTime', opts.responseTime)
  if (!serverTiming && !responseTime) {
    throw new ConfigError(
      'timing',
      'serverTiming',
      'true when responseTime is false',
      serverTiming,
      'With both headers off timing() does nothing; remove it instead.',
    )
  }
  const metricName = opts.metricName
  if (typeof metricName !== 'string' || !isToken(metricName)) {
    throw new ConfigError(
      'timing',
      'metricName',
      'a metric name (RFC 9110 token characters only)',
      metricName,
      'Use letters, digits and "-", e.g. "total" or "app".',
    )
  }
  const digits = expectInteger('timing', 'digits', opts.digits, 0, 6)
  const now = expectFunction<() => number>('timing', 'now', opts.now)
  const totalPrefix = `${metricName};dur=`

  // One listener for every request of this instance; per-request data lives on res.req.
  const writeTiming = (res: ServerResponse): void => {
    const req = res.req
    const slot = req as unknown as MetricsSlot
    const metrics = slot[METRICS]
    slot[METRICS] = CLOSED
    const elapsed = fixedText(Math.max(0, now() - arrivalTime(req)), digits)
    // Inner identity layers have run by now: their user id is in state at response start.
    if (serverTiming && (!onlyAuthenticated || userIdState.tryGet(req) !== undefined)) {
      const ours = Array.isArray(metrics) ? `${metrics.join(', ')}, ${totalPrefix}${elapsed}` : totalPrefix + elapsed
      appendServerTiming(res, ours)
    }
    if (responseTime) res.setHeader('x-response-time', `${elapsed}ms`)
  }

  return defineMiddleware(
    {
      name: 'timing',
      detail: [
        serverTiming && `Server-Timing${onlyAuthenticated ? ' (authenticated)' : ''}`,
        responseTime && 'X-Response-Time',
      ]
        .filter(Boolean)
        .join(' + '),
    },
    (next) =>
      function timingHandler(req, res) {
        const slot = req as unknown as MetricsSlot
        // A second timing() for the same request (a mounted sub-app) would send a second total.
        if (slot[METRICS] !== undefined) return next(req, res)
        // Pin the arrival now, unless an outer layer already did.
        arrivalTime(req)
        slot[METRICS] = OPEN
        onResponseStart(res, writeTiming)
        return next(req, res)
      },
  )
}

/** Keep a Server-Timing header an inner layer set itself, adding ours after it. */
function appendServerTiming(res: ServerResponse, value: string): void {
  const existing = readHeader(res, 'server-timing')
  // Every metric was validated as it was added (formatMetric).
  if (existing === undefined) setOwnHeader(res, 'server-timing', value)
  else if (Array.isArray(existing)) res.setHeader('server-timing', [...existing, value])
  else res.setHeader('server-timing', `${existing}, ${value}`)
}

/** `name;dur=1.2;desc="…"`, after validating every part. */
function formatMetric(metric: ServerTimingMetric): string {
  if (metric === null || typeof metric !== 'object') {
    throw new TypeError(
      `addServerTiming(): the metric must be an object { name, dur?, desc? }; received ${describeValue(metric)}.`,
    )
  }
  const { name, dur, desc } = metric
  if (typeof name !== 'string' || !isToken(name)) {
    throw new TypeError(
      `addServerTiming(): metric name must be a token (letters, digits, !#$%&'*+-.^_\`|~); received ${describeValue(name)}.`,
    )
  }
  let text = name
  if (dur !== undefined) {
    if (typeof dur !== 'number' || !Number.isFinite(dur) || dur < 0) {
      throw new TypeError(
        `addServerTiming(): "dur" of metric "${name}" must be a finite number of milliseconds ≥ 0; received ${describeValue(dur)}.`,
      )
    }
    text += `;dur=${Math.round(dur * 1000) / 1000}`
  }
  if (desc !== undefined) {
    if (typeof desc !== 'string' || desc.length > DESC_MAX_LENGTH || !DESC_PATTERN.test(desc)) {
      throw new TypeError(
        `addServerTiming(): "desc" of metric "${name}" must be at most ${DESC_MAX_LENGTH} characters of printable ASCII, space or tab; received ${describeValue(desc)}.`,
      )
    }
    // RFC 9110 §5.6.4: a token goes as is; anything else as a quoted-string with `"` and `\` escaped.
    text += isToken(desc) ? `;desc=${desc}` : `;desc="${desc.replace(/["\\]/g, '\\$&')}"`
  }
  return text
}
