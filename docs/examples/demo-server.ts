/**
 * The demo server: `npm start`. Every middleware of the library on embedded defaults
 * (in-memory stores): the production stack around a small site, an API behind jwtAuth,
 * an admin area behind apiKey, cookie sessions, hooks and a request context, under a lifespan
 * (/healthz, /readyz, a graceful drain on SIGTERM or Ctrl-C). It listens on
 * PORT (default 3000) and prints its URL and one curl command per route, each showing what its
 * route demonstrates; with DEMO_EXPLAIN=1 (or --explain) also the stack's explain().
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { pathToFileURL } from 'node:url'
import { SignJWT } from 'jose'
import {
  apiKey,
  bodyCapture,
  compose,
  currentRequest,
  getCapturedBody,
  getJwtClaims,
  getRequestId,
  getRequestSignal,
  hooks,
  HttpError,
  lifespan,
  mount,
  requestContext,
  sendError,
  serverTimeouts,
  session,
  unless,
  type Lifespan,
  type RawHandler,
} from 'http-onion'
import { productionApp, type ProductionStackOptions } from './production-stack.js'

/** Secrets of one demo process: random unless given, so nothing secret is ever committed. */
export interface DemoSecrets {
  readonly jwtSecret: string
  readonly adminKey: string
  readonly sessionSecret: string
}

const json = (res: Parameters<RawHandler>[1], status: number, body: unknown) => {
  res.statusCode = status
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.end(JSON.stringify(body))
}

/** Reads the whole (size-limited) request body. */
async function readBody(req: Parameters<RawHandler>[0]): Promise<string> {
  let text = ''
  for await (const chunk of req) text += chunk
  return text
}

/** Each route of the demo, what it shows, and a curl command that shows it. */
export interface DemoRoute {
  readonly method: string
  readonly path: string
  readonly shows: string
  curl(url: string, token: string, adminKey: string): string
}

export const DEMO_ROUTES: readonly DemoRoute[] = [
  { method: 'GET', path: '/', shows: 'request id, security and rate-limit headers', curl: (u) => `curl -i ${u}/` },
  { method: 'GET', path: '/health', shows: 'a plain answer', curl: (u) => `curl ${u}/health` },
  {
    method: 'GET',
    path: '/readyz',
    shows: 'lifespan readiness: 503 from the moment SIGTERM starts the drain (/healthz: liveness)',
    curl: (u) => `curl -i ${u}/readyz`,
  },
  {
    method: 'GET',
    path: '/big',
    shows: 'compression: 20 KB of JSON, gzip or br as the client asks',
    curl: (u) => `curl -s -o /dev/null -D - --compressed ${u}/big`,
  },
  { method: 'GET', path: '/stream', shows: 'a streamed body, never buffered', curl: (u) => `curl -N ${u}/stream` },
  {
    method: 'GET',
    path: '/visits',
    shows: 'a signed cookie session',
    curl: (u) => `curl -c /tmp/demo.jar -b /tmp/demo.jar ${u}/visits`,
  },
  {
    method: 'POST',
    path: '/echo',
    shows: 'bodyLimit and bodyCapture: the captured copy comes back too',
    curl: (u) => `curl -H 'content-type: text/plain' --data 'hello' ${u}/echo`,
  },
  {
    method: 'GET',
    path: '/slow?ms=',
    shows: "timeout's signal: the wait stops when the client leaves, or at the 30 s deadline",
    curl: (u) => `curl -i '${u}/slow?ms=2000'`,
  },
  {
    method: 'GET',
    path: '/boom',
    shows: 'errorBoundary: a 500 in one JSON shape, the exception never shown',
    curl: (u) => `curl -i ${u}/boom`,
  },
  {
    method: 'GET',
    path: '/api/me',
    shows: "jwtAuth: the token's claims (401 without it)",
    curl: (u, token) => `curl ${u}/api/me -H 'authorization: Bearer ${token}'`,
  },
  {
    method: 'GET',
    path: '/admin/stats',
    shows: 'apiKey on a mounted sub-stack (401 without it)',
    curl: (u, _token, key) => `curl ${u}/admin/stats -H 'x-api-key: ${key}'`,
  },
]

// 20 KB of JSON: past compression's threshold, so /big goes out compressed.
const BIG = JSON.stringify({
  items: Array.from({ length: 400 }, (_, id) => ({ id, name: `item ${id}`, tags: ['a', 'b'] })),
})

function siteRoutes(visits: ReturnType<typeof session<{ visits: number }>>): RawHandler {
  return async function site(req, res) {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/') {
      json(res, 200, {
        hello: 'http-onion',
        requestId: getRequestId(currentRequest()),
        routes: DEMO_ROUTES.map((route) => `${route.method} ${route.path}: ${route.shows}`),
      })
    } else if (path === '/health') {
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end('ok')
    } else if (path === '/big') {
      res.setHeader('content-type', 'application/json; charset=utf-8')
      res.end(BIG)
    } else if (path === '/stream') {
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      let n = 0
      const timer = setInterval(() => {
        res.write(`line ${++n}\n`)
        if (n === 5) {
          clearInterval(timer)
          res.end()
        }
      }, 50)
      res.once('close', () => clearInterval(timer))
    } else if (path === '/visits') {
      const s = visits.get(req)
      s.set('visits', (s.get('visits') ?? 0) + 1)
      json(res, 200, { visits: s.get('visits') })
    } else if (path === '/echo' && req.method === 'POST') {
      const received = await readBody(req)
      // What bodyCapture kept of it: the bounded, redacted copy an error report would carry.
      const captured = getCapturedBody(req)
      json(res, 200, { received, captured: { text: captured.text(), truncated: captured.truncated } })
    } else if (path === '/slow') {
      const ms = Math.min(Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 100), 60_000)
      // The request's signal aborts at the timeout or when the client leaves: stop waiting then.
      await new Promise<void>((ok) => {
        const timer = setTimeout(ok, ms)
        getRequestSignal(req).addEventListener(
          'abort',
          () => {
            clearTimeout(timer)
            ok()
          },
          { once: true },
        )
      })
      if (!res.writableEnded) json(res, 200, { waitedMs: ms })
    } else if (path === '/boom') {
      throw new Error('the demo failing on purpose (this message is never shown to the client)')
    } else {
      sendError(req, res, new HttpError(404, `No route for ${req.method} ${path}`))
    }
  }
}

const apiRoutes: RawHandler = (req, res) => {
  if (req.url === '/me') {
    const claims = getJwtClaims(req)
    json(res, 200, { user: claims.sub, claims, requestId: getRequestId(req) })
  } else sendError(req, res, new HttpError(404))
}

const adminRoutes: RawHandler = (_req, res) =>
  json(res, 200, { admin: true, uptimeSeconds: Math.round(process.uptime()) })

/**
 * Build the demo server (not yet listening), the text explaining its stack, a token to try,
 * and its lifespan (`life.serve(server, port)` starts it; SIGTERM or SIGINT drains it).
 */
export async function createDemoServer(
  secrets: DemoSecrets = randomSecrets(),
  logSink?: ProductionStackOptions['logSink'],
): Promise<{ server: Server; explain: string; token: string; life: Lifespan }> {
  const visits = session<{ visits: number }>({ secrets: [secrets.sessionSecret] })
  const site = compose(
    requestContext(),
    hooks({ after: (_req, res) => res.setHeader('x-served-by', 'http-onion-demo') }),
    visits,
    mount('/admin', compose(apiKey({ keys: [secrets.adminKey] }))(adminRoutes)),
  )(siteRoutes(visits))
  const { handler, stack } = productionApp(
    { jwtSecret: secrets.jwtSecret, ...(logSink ? { logSink } : {}) },
    { site, api: apiRoutes },
  )
  // bodyCapture for requests that may carry a body. A body that arrived with the head and was
  // buffered while a layer awaited is copied too (docs/middleware/body-capture.md, Pitfalls).
  // The lifespan is outermost, so the drain counts every request (docs/lifespan.md). Signals are listened for
  // once the server is served. The probes answer before the stack: a kubelet's Host header
  // is the pod's address, which trustedHost would refuse, and probes need no log line.
  const life = lifespan({ signals: ['SIGTERM', 'SIGINT'], gracePeriodMs: 2_000, drainTimeoutMs: 10_000 })
  const app = compose(
    life,
    (next) =>
      function probes(req, res) {
        if (req.url === '/healthz') return life.liveness(req, res)
        if (req.url === '/readyz') return life.readiness(req, res)
        return next(req, res)
      },
    unless({ methods: ['GET', 'HEAD'] }, bodyCapture({ maxBytes: 256 })),
  )(handler)
  // Slow clients are cut before they reach the stack (docs/server.md).
  const server = serverTimeouts(
    createServer((req, res) => {
      Promise.resolve(app(req, res)).catch((err: unknown) => res.destroy(err as Error))
    }),
  )
  const token = await new SignJWT({ sub: 'demo-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secrets.jwtSecret))
  return { server, explain: stack.explain(), token, life }
}

function randomSecrets(): DemoSecrets {
  return {
    jwtSecret: process.env.JWT_SECRET ?? randomBytes(32).toString('base64url'),
    adminKey: process.env.ADMIN_KEY ?? randomBytes(24).toString('base64url'),
    sessionSecret: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url'),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secrets = randomSecrets()
  const { server, explain, token, life } = await createDemoServer(secrets)
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  server.once('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw err
    const why = err.code === 'EADDRINUSE' ? 'is in use' : 'needs privileges'
    console.error(`http-onion demo: port ${port} on ${host} ${why}. Set PORT to another, e.g. PORT=3001 npm start`)
    process.exit(1)
  })
  // Starts the lifespan (readiness 200 from now on), listens; SIGTERM/SIGINT drain and exit.
  await life.serve(server, port, host)
  const address = server.address()
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`
  console.log(`http-onion demo listening on ${url}/\n`)
  for (const route of DEMO_ROUTES) {
    console.log(`  ${route.method} ${route.path}: ${route.shows}`)
    console.log(`    ${route.curl(url, token, secrets.adminKey)}`)
  }
  if (process.env.DEMO_EXPLAIN === '1' || process.argv.includes('--explain')) console.log(`\n${explain}`)
  else console.log('\nDEMO_EXPLAIN=1 (or --explain) also prints the stack, layer by layer, and its ordering checks.')
}
