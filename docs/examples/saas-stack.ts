// The SaaS stack of the middleware lesson's closing exercise (docs/performance.md): every
// request logs timestamp, request id, tenant id, user id, method, path, status, duration and
// client IP as one JSON line; each tenant has its own rate limit, read from a store through a
// cache; /health, /v1/auth/login and /v1/auth/register are public (no auth, no limit);
// responses over 2 KB are gzipped; a JWT identifies the user and its tenant. Run directly, it
// listens on port 3000; the benchmark imports saasApp() (scenario `saas`).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { pathToFileURL } from 'node:url'
import { SignJWT } from 'jose'
import {
  clientIp,
  compose,
  compression,
  errorBoundary,
  getRequestId,
  jwtAuth,
  rateLimit,
  requestId,
  serverTimeouts,
  tryGetJwtClaims,
  type Middleware,
  type RawHandler,
} from 'http-onion'
import { defineMiddleware, onResponseEnd, type ResponseEndInfo } from 'http-onion/core'

/** The claims this service's tokens carry: the user (`sub`) and the tenant. */
interface SaasClaims {
  sub: string
  tenant: string
}

const PUBLIC_PATHS = ['/health', '/v1/auth/login', '/v1/auth/register']

/**
 * A tenant's limit from a slow source (a database, a config service), cached for `ttlMs`.
 * A cached value answers synchronously; a stale one is still used while one refresh runs,
 * so a slow store never holds a request up once a tenant has been seen.
 */
export function tenantLimits(lookup: (tenant: string) => Promise<number>, ttlMs = 30_000) {
  const cache = new Map<string, CachedLimit>()
  const refresh = (tenant: string, entry: CachedLimit | undefined): Promise<number> => {
    const loading = lookup(tenant).then((limit) => {
      cache.set(tenant, new CachedLimit(limit, Date.now() + ttlMs))
      return limit
    })
    if (entry !== undefined) {
      entry.refreshing = true
      // A failed refresh keeps the old value until the next attempt.
      loading.catch(() => (entry.refreshing = false))
    }
    return loading
  }
  return function limitOf(tenant: string): number | Promise<number> {
    const entry = cache.get(tenant)
    if (entry === undefined) return refresh(tenant, undefined)
    if (entry.expiresAt <= Date.now() && !entry.refreshing) void refresh(tenant, entry).catch(() => undefined)
    return entry.limit
  }
}

class CachedLimit {
  readonly limit: number
  readonly expiresAt: number
  refreshing = false

  constructor(limit: number, expiresAt: number) {
    this.limit = limit
    this.expiresAt = expiresAt
  }
}

/** One JSON line per finished request, with the tenant and user the JWT named. */
function requestLog(write: (line: string) => void): Middleware {
  const logLine = (info: ResponseEndInfo, res: ServerResponse) => {
    const req = res.req
    const claims = tryGetJwtClaims<SaasClaims>(req)
    write(
      `${JSON.stringify({
        time: new Date(Date.now() - info.durationMs).toISOString(),
        requestId: getRequestId(req),
        tenantId: claims?.tenant ?? null,
        userId: claims?.sub ?? null,
        method: req.method,
        path: req.url,
        status: info.status,
        durationMs: Math.round(info.durationMs * 1000) / 1000,
        clientIp: clientIp(req),
      })}\n`,
    )
  }
  return defineMiddleware(
    { name: 'requestLog' },
    (next) =>
      function requestLogHandler(req, res) {
        onResponseEnd(res, logLine)
        return next(req, res)
      },
  )
}

export interface SaasOptions {
  jwtSecret: string
  /** Where log lines go. */
  log: (line: string) => void
  /** The tenant's requests per minute, from your store. */
  lookupLimit: (tenant: string) => Promise<number>
  /** One limit for every tenant instead of the lookup: the benchmark uses it to show the lookup's cost. */
  fixedLimit?: number
}

/** The stack and the routes: the service. */
export function saasApp(options: SaasOptions): RawHandler {
  const secret = new TextEncoder().encode(options.jwtSecret)
  const limitOf = tenantLimits(options.lookupLimit)
  const tenantOf = (req: IncomingMessage) => tryGetJwtClaims<SaasClaims>(req)?.tenant ?? 'none'
  const stack = compose(
    errorBoundary(),
    requestId(),
    requestLog(options.log),
    jwtAuth<SaasClaims>({
      secret: options.jwtSecret,
      algorithms: ['HS256'],
      requiredClaims: ['tenant'],
      publicPaths: PUBLIC_PATHS,
    }),
    rateLimit({
      name: 'tenant',
      key: tenantOf,
      limit: options.fixedLimit ?? ((req) => limitOf(tenantOf(req))),
      windowMs: 60_000,
      exempt: PUBLIC_PATHS,
    }),
    compression({ encodings: ['gzip'], threshold: 2048 }),
  )
  const projects = JSON.stringify(
    Array.from({ length: 50 }, (_, i) => ({ id: i, name: `project ${i}`, status: i % 3 ? 'active' : 'archived' })),
  )
  // Headers set and the body given whole in end(): compression then knows the length when it
  // decides, and sends bodies under 2 KB as they are. (writeHead() first would make it decide
  // before the length is known, and compress everything.)
  const json = (res: ServerResponse, status: number, body: string) => {
    res.statusCode = status
    res.setHeader('content-type', 'application/json')
    res.end(body)
  }
  return stack(async function routes(req, res) {
    if (req.url === '/health') return json(res, 200, '{"status":"ok"}')
    if (req.url === '/v1/auth/login' && req.method === 'POST') {
      // A real service checks a password here; the demo signs in whoever asks.
      const token = await new SignJWT({ tenant: 'acme' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('user-1')
        .setExpirationTime('1h')
        .sign(secret)
      return json(res, 200, JSON.stringify({ token }))
    }
    if (req.url === '/v1/auth/register' && req.method === 'POST') return json(res, 201, '{"registered":true}')
    const claims = tryGetJwtClaims<SaasClaims>(req)!
    if (req.url === '/v1/me') return json(res, 200, JSON.stringify({ user: claims.sub, tenant: claims.tenant }))
    if (req.url === '/v1/projects') return json(res, 200, projects)
    return json(res, 404, '{"error":"not found"}')
  })
}

// Run directly: a demo store where tenant "acme" may make 100 requests a minute, others 10.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const plans = new Map([['acme', 100]])
  const app = saasApp({
    jwtSecret: process.env.JWT_SECRET ?? 'dev-only-secret-0123456789abcdef',
    log: (line) => process.stdout.write(line),
    lookupLimit: async (tenant) => plans.get(tenant) ?? 10,
  })
  serverTimeouts(createServer(app)).listen(3000)
}
