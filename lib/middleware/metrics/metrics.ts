/**
 * metrics(): HTTP metrics in the Prometheus text format, with labels that stay bounded
 * whatever clients send.
 *
 * Per (method, route, status) series, recorded when the exchange ends (the core's
 * `onResponseEnd`, never the handler's return): a request count, a duration histogram,
 * request body bytes and response bytes (as written to the connection, so after
 * compression). Besides: the requests in flight, and the refusals the toolkit answered
 * through `sendError` (rate limits, load shedding, auth, body limits, the error boundary's
 * 500), by their error `code`.
 *
 * Every label comes from a bounded set: the method from a fixed list (others are `other`),
 * the status as its class (`2xx`…`5xx`, and `499` for a client that left first), the route
 * from a template (a framework's through the adapters, `setRoute`, a `mount()` prefix or
 * your `route` function, never the raw path; unmatched requests share one label, and past
 * `maxRoutes` new templates share `other`).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import {
  defineDefaults,
  expectArray,
  expectFunction,
  expectInteger,
  expectString,
  isToken,
  withDefaults,
} from '../../core/options.js'
import { reportError } from '../../core/report.js'
import { onRequestBody } from '../../core/request-body.js'
import { onResponseEnd, type ResponseEndInfo } from '../../core/response-end.js'
import { routeTemplate } from '../../core/route.js'
import { mountPathState, refusalState } from '../../core/shared-state.js'
import type { Middleware } from '../../core/types.js'
import {
  bucketIndex,
  checkBuckets,
  DEFAULT_BUCKETS,
  familyHeader,
  formatValue,
  labelSet,
  MetricsRegistry,
  type MetricsCollector,
  renderHistogram,
} from './registry.js'

export {
  Counter,
  DEFAULT_BUCKETS,
  DEFAULT_MAX_SERIES,
  Gauge,
  Histogram,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
  type Labels,
  type MetricsCollector,
} from './registry.js'

/** Options for {@link metrics}. */
export interface MetricsOptions {
  /**
   * The registry the HTTP families are added to. Pass one to render them beside metrics of
   * your own, or to share one between stacks (give each its own `prefix`).
   * @default a new MetricsRegistry
   */
  registry?: MetricsRegistry
  /** Prefix of every metric name; change it when two `metrics()` share a registry. @default 'http_' */
  prefix?: string
  /** Upper bounds of the duration histogram, in seconds, increasing. @default DEFAULT_BUCKETS (5 ms … 10 s) */
  buckets?: readonly number[]
  /** Methods with a label of their own; any other method is labelled `other`. @default GET HEAD POST PUT PATCH DELETE OPTIONS */
  methods?: readonly string[]
  /**
   * The route label of a request, asked when the exchange ends; return a template written in
   * code (`'/users/:id'`), never `req.url`, or `undefined` to fall back to the framework's
   * template, then the mount prefix, then `unmatchedRoute`.
   */
  route?: (req: IncomingMessage) => string | undefined
  /** The one route label of every request no router matched. @default 'unmatched' */
  unmatchedRoute?: string
  /** Most distinct route labels kept; later new ones are labelled `other` (and reported once). @default 500 */
  maxRoutes?: number
  /** Most distinct refusal codes kept; later new ones are counted as `other`. @default 100 */
  maxRefusalCodes?: number
}

/** Defaults of {@link metrics}. */
export const metricsDefaults = defineDefaults<MetricsOptions, 'registry' | 'route'>({
  registry: undefined,
  prefix: 'http_',
  buckets: DEFAULT_BUCKETS,
  methods: Object.freeze(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
  route: undefined,
  unmatchedRoute: 'unmatched',
  maxRoutes: 500,
  maxRefusalCodes: 100,
})

/** What {@link metrics} returns: the middleware, with the registry it records into. */
export interface MetricsMiddleware extends Middleware {
  /** Render it for your scraper: `registry.handler` answers `GET /metrics`. */
  readonly registry: MetricsRegistry
}

/** The label every request past a cap shares (routes, refusal codes, methods). */
const OTHER = 'other'
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * One (method, route, status) series: its count, histogram and byte totals. A class, not a
 * literal: the HTTP collector makes one per series and updates it per request.
 */
class RequestSeries {
  readonly labels: string
  readonly counts: Float64Array
  count = 0
  sum = 0
  bytesIn = 0
  bytesOut = 0

  constructor(labels: string, buckets: number) {
    this.labels = labels
    this.counts = new Float64Array(buckets + 1)
  }
}

/** Request body bytes seen so far; made only for requests that have a body. */
class BodyCount {
  bytes = 0
}

/** The HTTP families, kept together so one request updates one series. */
class HttpCollector implements MetricsCollector {
  readonly names: readonly string[]
  inFlight = 0
  private readonly series = new Map<string, RequestSeries>()
  private readonly refusals = new Map<string, number>()
  private readonly routes = new Set<string>()
  private routesFull = false
  private readonly bucketText: readonly string[]
  readonly prefix: string
  readonly buckets: readonly number[]
  readonly maxRoutes: number
  readonly maxRefusalCodes: number

  constructor(prefix: string, buckets: readonly number[], maxRoutes: number, maxRefusalCodes: number) {
    this.prefix = prefix
    this.buckets = buckets
    this.bucketText = buckets.map(formatValue)
    this.maxRoutes = maxRoutes
    this.maxRefusalCodes = maxRefusalCodes
    const p = prefix
    this.names = [
      `${p}requests_total`,
      `${p}request_duration_seconds_bucket`,
      `${p}request_duration_seconds_sum`,
      `${p}request_duration_seconds_count`,
      `${p}request_body_bytes_total`,
      `${p}response_bytes_total`,
      `${p}requests_in_flight`,
      `${p}refusals_total`,
    ]
  }

  /** `route` as a label: kept while fewer than `maxRoutes` distinct ones were seen, else `other`. */
  routeLabel(route: string): string {
    if (this.routes.has(route)) return route
    if (this.routes.size < this.maxRoutes) {
      this.routes.add(route)
      return route
    }
    if (!this.routesFull) {
      this.routesFull = true
      // A template that is not one (a route function returning the raw path) shows up here.
      reportError(
        'metrics()',
        new Error(
          `more than ${this.maxRoutes} route labels; new ones are counted as "${OTHER}". Check that route labels are templates, not paths (raise maxRoutes if the app has that many routes).`,
        ),
      )
    }
    return OTHER
  }

  record(method: string, route: string, status: string, seconds: number, bytesIn: number, bytesOut: number): void {
    const key = `${method}\u0000${route}\u0000${status}`
    let series = this.series.get(key)
    if (series === undefined) {
      series = new RequestSeries(labelSet(LABELS, [method, route, status]), this.buckets.length)
      this.series.set(key, series)
    }
    series.count++
    series.counts[bucketIndex(this.buckets, seconds)]!++
    series.sum += seconds
    series.bytesIn += bytesIn
    series.bytesOut += bytesOut
  }

  refused(code: string): void {
    const known = this.refusals.get(code)
    if (known !== undefined) this.refusals.set(code, known + 1)
    else if (this.refusals.size < this.maxRefusalCodes) this.refusals.set(code, 1)
    else this.refusals.set(OTHER, (this.refusals.get(OTHER) ?? 0) + 1)
  }

  render(out: string[]): void {
    const p = this.prefix
    out.push(
      familyHeader(`${p}requests_total`, 'HTTP requests, by method, route template and status class.', 'counter'),
    )
    for (const s of this.series.values()) out.push(`${p}requests_total${s.labels} ${s.count}\n`)
    out.push(
      familyHeader(
        `${p}request_duration_seconds`,
        'Time from arrival to the end of the exchange, in seconds.',
        'histogram',
      ),
    )
    for (const s of this.series.values())
      renderHistogram(out, `${p}request_duration_seconds`, s.labels, this.bucketText, s.counts, s.sum)
    out.push(familyHeader(`${p}request_body_bytes_total`, 'Request body bytes received.', 'counter'))
    for (const s of this.series.values()) out.push(`${p}request_body_bytes_total${s.labels} ${s.bytesIn}\n`)
    out.push(
      familyHeader(
        `${p}response_bytes_total`,
        'Response bytes written to the connection (headers and body, after compression).',
        'counter',
      ),
    )
    for (const s of this.series.values()) out.push(`${p}response_bytes_total${s.labels} ${s.bytesOut}\n`)
    out.push(familyHeader(`${p}requests_in_flight`, 'Requests received and not yet over.', 'gauge'))
    out.push(`${p}requests_in_flight ${this.inFlight}\n`)
    out.push(
      familyHeader(`${p}refusals_total`, 'Error responses the toolkit wrote (sendError), by error code.', 'counter'),
    )
    for (const [code, count] of this.refusals) out.push(`${p}refusals_total${labelSet(['code'], [code])} ${count}\n`)
  }
}

const LABELS = ['method', 'route', 'status']

/**
 * Count, time and size every request by method, route template and status class, for a
 * Prometheus scraper. Mount it outermost (only errorBoundary may wrap it), so refusals and
 * compression are measured, and expose `registry.handler` on a path only the scraper reaches.
 * @example
 * const m = metrics()
 * const app = compose(m, errorBoundary(), rateLimit())(router)
 * const admin = createServer(m.registry.handler).listen(9464, '127.0.0.1')
 */
export function metrics(options: MetricsOptions = {}): MetricsMiddleware {
  const opts = withDefaults('metrics', metricsDefaults, options)
  const registry = opts.registry ?? new MetricsRegistry()
  if (!(registry instanceof MetricsRegistry))
    throw new ConfigError('metrics', 'registry', 'a MetricsRegistry', registry, 'Make one with new MetricsRegistry().')
  const prefix = expectString('metrics', 'prefix', opts.prefix, true)
  if (prefix !== '' && !METRIC_PREFIX.test(prefix))
    throw new ConfigError('metrics', 'prefix', 'letters, digits, "_" or ":", not starting with a digit', prefix)
  const buckets = checkBuckets(opts.buckets)
  if (buckets === undefined)
    throw new ConfigError(
      'metrics',
      'buckets',
      'finite numbers of seconds in increasing order, at least one',
      opts.buckets,
      'For example [0.01, 0.1, 1, 10].',
    )
  const methods = new Set(
    expectArray('metrics', 'methods', opts.methods, (method, i) => {
      if (typeof method !== 'string' || !isToken(method) || method !== method.toUpperCase())
        throw new ConfigError('metrics', `methods[${i}]`, 'an upper-case method name', method)
      return method
    }),
  )
  const route =
    opts.route === undefined
      ? undefined
      : expectFunction<(req: IncomingMessage) => string | undefined>('metrics', 'route', opts.route)
  const unmatched = expectString('metrics', 'unmatchedRoute', opts.unmatchedRoute)
  const maxRoutes = expectInteger('metrics', 'maxRoutes', opts.maxRoutes, 1, 100_000)
  const maxRefusalCodes = expectInteger('metrics', 'maxRefusalCodes', opts.maxRefusalCodes, 1, 10_000)
  let collector: HttpCollector
  try {
    collector = registry.register(new HttpCollector(prefix, buckets, maxRoutes, maxRefusalCodes))
  } catch (err) {
    throw new ConfigError(
      'metrics',
      'prefix',
      'a prefix no other metrics() of this registry uses',
      prefix,
      `${(err as Error).message}; give each metrics() sharing a registry its own prefix.`,
    )
  }

  /** The route label, asked when the exchange is over: every router has matched by then. */
  const routeOf = (req: IncomingMessage): string => {
    let label = route === undefined ? undefined : route(req)
    if (typeof label !== 'string') {
      const template = routeTemplate(req)
      const mounted = mountPathState.tryGet(req)
      label =
        template !== undefined
          ? (mounted ?? '') + template
          : mounted !== undefined
            ? // The prefix is configuration, not input: bounded too.
              `${mounted}/*`
            : unmatched
    }
    return collector.routeLabel(label)
  }

  const recordExchange = (info: ResponseEndInfo, res: ServerResponse, body: BodyCount | undefined): void => {
    collector.inFlight--
    const req = res.req
    const aborted = info.outcome === 'aborted'
    // As the access log: an error before the headers is the 500 the client never got.
    const status = aborted ? 0 : info.outcome === 'error' && !info.headersSent ? 500 : info.status
    const method = req.method !== undefined && methods.has(req.method) ? req.method : OTHER
    collector.record(
      method,
      routeOf(req),
      // 499 (nginx's "client closed request"): the client left before the response was complete.
      aborted ? '499' : statusClass(status),
      info.durationMs / 1000,
      body === undefined ? 0 : body.bytes,
      info.bytesWritten ?? 0,
    )
    const refusal = refusalState.tryGet(req)
    if (refusal !== undefined) collector.refused(refusal.code)
  }

  const middleware = defineMiddleware(
    { name: 'metrics', detail: `${prefix}*, ${buckets.length} buckets, ≤ ${maxRoutes} routes` },
    (next) =>
      function metricsHandler(req, res) {
        collector.inFlight++
        onResponseEnd(res, recordExchange, countBody(req))
        return next(req, res)
      },
  )
  return Object.assign(middleware, { registry })
}

/** `2xx`… for 100–599; anything else (a status only a buggy handler sets) is `other`. */
function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : OTHER
}

/**
 * Count the body without reading it (as accessLog does): the core's `onRequestBody` sees each
 * chunk the parser pushes. Requests that cannot have a body (RFC 9112 §6.3) get no counter.
 */
function countBody(req: IncomingMessage): BodyCount | undefined {
  const length = req.headers['content-length']
  if (
    req.httpVersionMajor < 2 &&
    req.headers['transfer-encoding'] === undefined &&
    (length === undefined || length === '0')
  )
    return undefined
  const count = new BodyCount()
  // Chunks pushed before this layer ran (an outer layer awaited something) are buffered.
  count.bytes = req.readableLength
  onRequestBody(req, countChunk, count)
  return count
}

function countChunk(chunk: Buffer, _req: IncomingMessage, count: BodyCount): void {
  count.bytes += chunk.length
}
