/**
 * The production stack on embedded defaults (in-memory stores): what `npm start` serves
 * and what the benchmarks measure as "http-onion's production stack". The order is the
 * one docs/ordering.md explains; `compose` checks it strictly, so a misordering is an
 * error at start-up, not a surprise in production.
 */
import type { Writable } from 'node:stream'
import {
  accessLog,
  bodyLimit,
  compose,
  compression,
  cors,
  errorBoundary,
  httpsRedirect,
  jwtAuth,
  loadShedding,
  memoryStore,
  proxyHeaders,
  rateLimit,
  requestId,
  securityHeaders,
  timeout,
  timing,
  traceContext,
  trustedHost,
  mount,
  type AccessLogSinkFunction,
  type AccessLogEntry,
  type ComposedMiddleware,
  type Middleware,
  type RawHandler,
} from 'http-onion'

/** What a deployment sets; every option has a default that runs on one machine. */
export interface ProductionStackOptions {
  /** Addresses of the proxies in front of the server. @default ['loopback'] */
  readonly trustedProxies?: readonly string[]
  /** Hosts this server answers for. @default localhost and loopback addresses, any port */
  readonly allowedHosts?: readonly string[]
  /** Origins allowed to call the API from a browser, with credentials. @default ['http://localhost:3000'] */
  readonly allowedOrigins?: readonly string[]
  /** Redirect plain http to https (behind a TLS-terminating proxy). @default false */
  readonly httpsOnly?: boolean
  /** Where access log lines go. @default process.stdout */
  readonly logSink?: Writable | AccessLogSinkFunction<AccessLogEntry>
  /** Requests per minute per client address (IPv6 per /64). @default 600 */
  readonly requestsPerMinute?: number
  /** HMAC secret (≥ 32 bytes) for the JWTs guarding /api. */
  readonly jwtSecret: string
}

export function productionStack(options: ProductionStackOptions): ComposedMiddleware {
  const layers: Middleware[] = [
    errorBoundary(),
    proxyHeaders({ trustedProxies: options.trustedProxies ?? ['loopback'] }),
    requestId(),
    traceContext(),
    timing(),
    accessLog({ sink: options.logSink ?? process.stdout }),
    securityHeaders(),
    trustedHost({ allowedHosts: options.allowedHosts ?? ['localhost', '127.0.0.1', '[::1]'] }),
    ...(options.httpsOnly ? [httpsRedirect({ exemptPaths: ['/health'] })] : []),
    cors({ origins: options.allowedOrigins ?? ['http://localhost:3000'], credentials: true }),
    loadShedding({ exempt: ['/health'] }),
    rateLimit({ limit: options.requestsPerMinute ?? 600, windowMs: 60_000, store: memoryStore(), exempt: ['/health'] }),
    bodyLimit({ limit: 1024 * 1024 }),
    timeout({ ms: 30_000 }),
    compression(),
  ]
  return compose({ strict: true }, ...layers)
}

/** The routes of an app behind the stack: a public site and an API that needs a JWT. */
export interface AppRoutes {
  readonly site: RawHandler
  /** Served under /api (the prefix stripped), after jwtAuth. */
  readonly api: RawHandler
}

/**
 * The whole app: the production stack around the site, with /api mounted behind jwtAuth.
 * Mounting is structural (one prefix, decided once), so the API cannot be reached around
 * its authentication the way a path filter can be mistaken.
 */
export function productionApp(
  options: ProductionStackOptions,
  routes: AppRoutes,
): { handler: RawHandler; stack: ComposedMiddleware } {
  const api = compose(jwtAuth({ secret: options.jwtSecret }))(routes.api)
  const stack = productionStack(options)
  return { handler: stack(compose(mount('/api', api))(routes.site)), stack }
}
