/**
 * The demo server: `npm start`. Every middleware of the library on embedded defaults
 * (in-memory stores): the production stack around a small site, an API behind jwtAuth,
 * an admin area behind apiKey, cookie sessions, hooks and a request context. It listens on
 * PORT (default 3000) and prints its URL, a token and a key to try, and the stack's explain().
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
  getRequestId,
  getRequestSignal,
  hooks,
  HttpError,
  mount,
  requestContext,
  sendError,
  serverTimeouts,
  session,
  unless,
  type RawHandler,
} from '../../lib/index.js'
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

function siteRoutes(visits: ReturnType<typeof session<{ visits: number }>>): RawHandler {
  return async function site(req, res) {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/') {
      json(res, 200, {
        hello: 'http-onion',
        requestId: getRequestId(currentRequest()),
        routes: [
          '/',
          '/health',
          '/stream',
          '/visits',
          'POST /echo',
          '/slow?ms=',
          '/boom',
          '/api/me (JWT)',
          '/admin/stats (API key)',
        ],
      })
    } else if (path === '/health') {
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end('ok')
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
      json(res, 200, { received: await readBody(req) })
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
  if (req.url === '/me')
    json(res, 200, { user: req.headers.authorization ? 'from the token' : undefined, requestId: getRequestId(req) })
  else sendError(req, res, new HttpError(404))
}

const adminRoutes: RawHandler = (_req, res) =>
  json(res, 200, { admin: true, uptimeSeconds: Math.round(process.uptime()) })

/** Build the demo server (not yet listening), the text explaining its stack, and a token to try. */
export async function createDemoServer(
  secrets: DemoSecrets = randomSecrets(),
  logSink?: ProductionStackOptions['logSink'],
): Promise<{ server: Server; explain: string; token: string }> {
  const visits = session<{ visits: number }>({ secrets: [secrets.sessionSecret] })
  const site = compose(
    requestContext(),
    hooks({ after: (_req, res) => res.setHeader('x-served-by', 'http-onion-demo') }),
    unless({ methods: ['GET', 'HEAD'] }, bodyCapture({ maxBytes: 256 })),
    visits,
    mount('/admin', compose(apiKey({ keys: [secrets.adminKey] }))(adminRoutes)),
  )(siteRoutes(visits))
  const { handler, stack } = productionApp(
    { jwtSecret: secrets.jwtSecret, ...(logSink ? { logSink } : {}) },
    { site, api: apiRoutes },
  )
  // Slow clients are cut before they reach the stack (docs/server.md).
  const server = serverTimeouts(
    createServer((req, res) => {
      Promise.resolve(handler(req, res)).catch((err: unknown) => res.destroy(err as Error))
    }),
  )
  const token = await new SignJWT({ sub: 'demo-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secrets.jwtSecret))
  return { server, explain: stack.explain(), token }
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
  const { server, explain, token } = await createDemoServer(secrets)
  const port = Number(process.env.PORT ?? 3000)
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    const address = server.address()
    const url = `http://${process.env.HOST ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : port}`
    console.log(`http-onion demo listening on ${url}/`)
    console.log(`  curl ${url}/api/me -H 'authorization: Bearer ${token}'`)
    console.log(`  curl ${url}/admin/stats -H 'x-api-key: ${secrets.adminKey}'`)
    console.log(explain)
  })
  const stop = () => server.close(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
