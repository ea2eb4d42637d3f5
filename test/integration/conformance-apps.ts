/**
 * The conformance suite's application, built on every platform: one http-onion stack (the
 * same layers, the same options) and one set of routes, written the way each framework
 * writes routes. Scenarios live in conformance-scenarios.ts, the runner in
 * conformance.test.ts.
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http'
import { connect, createServer as createH2Server } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import express, { type NextFunction, type Request, type Response } from 'express'
import express4 from 'express4'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import Koa from 'koa'
import Koa2 from 'koa2'
import type { Test } from 'tap'
import {
  apiKey,
  compose,
  cors,
  errorBoundary,
  getJwtClaims,
  getRequestId,
  getRequestSignal,
  HttpError,
  currentRequest,
  bodyLimit,
  jwtAuth,
  memoryStore,
  rateLimit,
  requestContext,
  requestId,
  securityHeaders,
  sendError,
  compression,
  timeout,
  when,
  type ErrorReport,
  type Middleware,
  type RawHandler,
} from '../../lib/index.js'
import { defineState } from '../../lib/core.js'
import { toExpress } from '../../adapters/express.js'
import { toFastify } from '../../adapters/fastify.js'
import { toKoa } from '../../adapters/koa.js'
import { writeWithBackpressure } from '../helpers/backpressure.js'

export const ORIGIN = 'https://app.example'
export const JWT_SECRET = 'conformance-secret-0123456789abcdef'
export const ADMIN_KEY = 'admin-key-0123456789abcdef'
/** The message a throwing route fails with: it must never reach a client. */
export const SECRET_FAILURE = 'database 10.0.0.5:5432 refused user app_rw'
export const RATE_LIMIT = 2
export const BODY_LIMIT = 4096
const FIXED_NOW = Date.UTC(2026, 0, 1)

/** ~20 KB of JSON: compressible and above the threshold. */
export const bigJson = JSON.stringify({
  rows: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `row ${i}`, tags: ['a', 'b'] })),
})
/** The streamed body: 32 chunks of 64 KiB of text, written honouring backpressure. */
export const STREAM_CHUNKS = 32
export const streamChunk = (i: number): Buffer => Buffer.alloc(65536, `chunk ${i % 10};`)
export const streamedBody = (): Buffer => Buffer.concat(Array.from({ length: STREAM_CHUNKS }, (_, i) => streamChunk(i)))

/** What the routes and the error boundary observed, per application. */
export interface Observed {
  /** `'drain'` events the streaming route's response emitted. */
  drains: number
  /** `write()` calls that returned false in the streaming route (write-loop routes only). */
  fullWrites: number
  /** Requests whose signal aborted in the slow route. */
  aborted: number
  reports: ErrorReport[]
}

/**
 * The layers, outermost first, as a production API mounts them; built fresh per application
 * so each has its own rate-limit counts. Express mounts them one toExpress per layer too.
 */
export function layers(observed: Observed): Middleware[] {
  return [
    errorBoundary({
      onError: (report) => {
        observed.reports.push(report)
      },
    }),
    requestId({ trustIncoming: true }),
    requestContext(),
    securityHeaders(),
    cors({ origins: [ORIGIN], credentials: true, exposedHeaders: ['x-request-id'] }),
    // A clock that stands still: the window never turns over, so `t=60` everywhere. One route
    // is limited, chosen by `skip` on the raw target: an `exempt` list never exempts an
    // ambiguous target (the detour scenarios send many), which would spend the shared quota.
    rateLimit({
      limit: RATE_LIMIT,
      windowMs: 60_000,
      skip: (req) => pathOf(req.url) !== '/public/limited',
      store: memoryStore({ now: () => FIXED_NOW }),
    }),
    bodyLimit({ limit: BODY_LIMIT }),
    compression(),
    // Only the slow route has a deadline, of 1 ms: it never answers by itself, so the 503
    // does not depend on how loaded the machine is.
    timeout({ ms: 30_000, perPath: [{ paths: ['/public/slow'], ms: 1 }], retryAfterSeconds: 7 }),
    // The admin area takes an API key instead of a token: a `when` filter protects it.
    when({ paths: ['/admin', '/admin/*'] }, apiKey({ keys: [{ key: ADMIN_KEY, id: 'ops' }] })),
    jwtAuth({ secret: JWT_SECRET, publicPaths: ['/public/*', '/admin', '/admin/*'] }),
  ]
}

const pathOf = (url: string | undefined): string => (url ?? '/').split('?', 1)[0]!

/** Writes the streamed body honouring backpressure: write until false, then wait for 'drain'. */
function writeStream(res: import('node:http').ServerResponse, observed: Observed): void {
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  const onFull = () => {
    observed.fullWrites++
  }
  void writeWithBackpressure(res, streamChunks(), { onFull }).then(() => res.end())
}

/** The streamed body's chunks, made as they are written. */
function* streamChunks(): Generator<Buffer> {
  for (let i = 0; i < STREAM_CHUNKS; i++) yield streamChunk(i)
}

/** The streamed body as a Readable, for frameworks that send streams (Koa's ctx.body, Fastify's reply.send). */
function readableStream(): Readable {
  let i = 0
  return new Readable({
    read() {
      this.push(i < STREAM_CHUNKS ? streamChunk(i++) : null)
    },
  })
}

const countDrains = (res: { on(event: 'drain', listener: () => void): unknown }, observed: Observed) => {
  res.on('drain', () => {
    observed.drains++
  })
}

// The slow route never answers by itself: it stops when its request signal aborts.
const untilAborted = (req: import('node:http').IncomingMessage, observed: Observed): Promise<void> => {
  const signal = getRequestSignal(req)
  return new Promise((ok) =>
    signal.addEventListener(
      'abort',
      () => {
        observed.aborted++
        ok()
      },
      { once: true },
    ),
  )
}

/** Whether code after an await still finds the request in the request context. */
async function contextSurvives(req: import('node:http').IncomingMessage): Promise<{ same: boolean }> {
  await new Promise((ok) => setTimeout(ok, 1))
  return { same: currentRequest() === req }
}

/** What the echo route answers for a JSON body `{ pad }`. */
const echoOf = (body: unknown) => ({ padLength: String((body as { pad?: unknown }).pad).length })

/** The request body as JSON, read from the stream (node:http, HTTP/2, Koa: no parser of their own). */
async function readJson(req: import('node:http').IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = []
  for await (const chunk of req) parts.push(chunk as Buffer)
  return JSON.parse(Buffer.concat(parts).toString()) as unknown
}

/** The routes for node:http and HTTP/2: a plain handler with a 404 in the library's shape. */
export function rawRoutes(observed: Observed): RawHandler {
  return async function routes(req, res) {
    const json = (body: unknown) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(body))
    }
    switch (pathOf(req.url)) {
      case '/public/id':
        return json({ requestId: getRequestId(req) })
      case '/public/context':
        return json(await contextSurvives(req))
      case '/public/echo':
        return json(echoOf(await readJson(req)))
      case '/public/big':
        return json(JSON.parse(bigJson))
      case '/public/stream':
        countDrains(res, observed)
        return writeStream(res, observed)
      case '/public/throw':
        throw new Error(SECRET_FAILURE)
      case '/public/slow':
        return untilAborted(req, observed)
      case '/public/limited':
        res.setHeader('content-type', 'text/plain; charset=utf-8')
        return void res.end('ok')
      case '/me':
        return json({ sub: getJwtClaims(req).sub })
      case '/admin':
        return json({ area: 'admin' })
      default:
        sendError(req, res, new HttpError(404))
    }
  }
}

// Framework errors are answered by errorBoundary(): the failure travels in request state
// into a boundary whose inner handler rethrows it. Same status, body and report as raw.
const routeError = defineState<unknown>('routeError', 'the framework error handler')
const rethrow: RawHandler = function rethrowRouteError(req) {
  throw routeError.get(req)
}
function boundaryAnswer(observed: Observed): RawHandler {
  return errorBoundary({
    onError: (report) => {
      observed.reports.push(report)
    },
  })(rethrow)
}

type ExpressFactory = typeof express

/** Express: the stack as one toExpress(compose(...)), or one toExpress per layer. */
export function expressApp(make: ExpressFactory, observed: Observed, mode: 'composed' | 'per-layer') {
  const app = make()
  if (mode === 'composed') app.use(toExpress(compose(...layers(observed))))
  else for (const layer of layers(observed)) app.use(toExpress(layer))
  app.get('/public/id', (req, res) => {
    res.json({ requestId: getRequestId(req) })
  })
  app.get('/public/context', (req, res, next) => {
    contextSurvives(req).then((body) => res.json(body), next)
  })
  app.post('/public/echo', make.json(), (req, res) => {
    res.json(echoOf(req.body))
  })
  app.get('/public/big', (_req, res) => {
    res.json(JSON.parse(bigJson))
  })
  app.get('/public/stream', (_req, res) => {
    countDrains(res, observed)
    writeStream(res, observed)
  })
  app.get('/public/throw', () => {
    throw new Error(SECRET_FAILURE)
  })
  app.get('/public/slow', (req) => {
    void untilAborted(req, observed)
  })
  app.get('/public/limited', (_req, res) => {
    res.send('ok')
  })
  app.get('/me', (req, res) => {
    res.json({ sub: getJwtClaims(req).sub })
  })
  app.get('/admin', (_req, res) => {
    res.json({ area: 'admin' })
  })
  const answer = boundaryAnswer(observed)
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    routeError.set(req, err)
    return answer(req, res)
  })
  return app
}

/** Koa: the stack in one toKoa(compose(...)); errorBoundary inside it sees route errors directly. */
export function koaApp(Make: typeof Koa, observed: Observed) {
  const app = new Make()
  app.silent = true
  app.use(toKoa(compose(...layers(observed))) as never)
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/public/id':
        ctx.body = { requestId: getRequestId(ctx.req) }
        break
      case '/public/context':
        ctx.body = await contextSurvives(ctx.req)
        break
      case '/public/echo':
        ctx.body = echoOf(await readJson(ctx.req))
        break
      case '/public/big':
        ctx.body = JSON.parse(bigJson)
        break
      case '/public/stream':
        countDrains(ctx.res, observed)
        ctx.type = 'text/plain; charset=utf-8'
        ctx.body = readableStream()
        break
      case '/public/throw':
        throw new Error(SECRET_FAILURE)
      case '/public/slow':
        await untilAborted(ctx.req, observed)
        break
      case '/public/limited':
        ctx.body = 'ok'
        break
      case '/me':
        ctx.body = { sub: getJwtClaims(ctx.req).sub }
        break
      case '/admin':
        ctx.body = { area: 'admin' }
        break
      // Anything else: Koa's own 404.
    }
  })
  return app
}

/** Fastify: the stack as one plugin; route errors reach errorBoundary through setErrorHandler. */
export async function fastifyApp(observed: Observed, http2 = false) {
  // Fastify's HTTP/2 instance is typed for the http2 request; the routes only use `.raw`.
  const app: FastifyInstance = http2 ? (Fastify({ http2: true }) as unknown as FastifyInstance) : Fastify()
  await app.register(toFastify(compose(...layers(observed))) as never)
  const answer = boundaryAnswer(observed)
  app.setErrorHandler((err: Error, request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack()
    routeError.set(request.raw, err)
    return answer(request.raw, reply.raw)
  })
  app.get('/public/id', async (request) => ({ requestId: getRequestId(request.raw) }))
  app.get('/public/context', async (request) => contextSurvives(request.raw))
  app.post('/public/echo', async (request) => echoOf(request.body))
  app.get('/public/big', async () => JSON.parse(bigJson) as unknown)
  app.get('/public/stream', (_request, reply) => {
    countDrains(reply.raw, observed)
    reply.type('text/plain; charset=utf-8').send(readableStream())
  })
  app.get('/public/throw', async () => {
    throw new Error(SECRET_FAILURE)
  })
  app.get('/public/slow', async (request, reply) => {
    await untilAborted(request.raw, observed)
    return reply
  })
  app.get('/public/limited', async () => 'ok')
  app.get('/me', async (request) => ({ sub: getJwtClaims(request.raw).sub }))
  app.get('/admin', async () => ({ area: 'admin' }))
  return app
}

/** A response as the suite compares it: undecoded body. */
export interface Result {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

export interface RequestSpec {
  /** Sent as is: no URL parsing, so dot segments and escapes reach the server unchanged. */
  path: string
  method?: string
  headers?: Record<string, string>
  body?: string
  /** Send the body in two writes without Content-Length (chunked on HTTP/1). @default false: declared */
  streamed?: boolean
}

/** A running application and how to talk to it. */
export interface Platform {
  readonly name: string
  readonly observed: Observed
  /** How the streaming route sends: its own write loop, or a Readable the framework pipes. */
  readonly streaming: 'writes' | 'pipes'
  readonly http2: boolean
  send(spec: RequestSpec): Promise<Result>
}

const newObserved = (): Observed => ({ drains: 0, fullWrites: 0, aborted: 0, reports: [] })

/** A declared body in one end() (Node sets Content-Length), or a streamed one in two writes. */
function sendBody(out: { write(chunk: string): unknown; end(chunk?: string): unknown }, spec: RequestSpec): void {
  if (spec.body === undefined) return void out.end()
  if (!spec.streamed) return void out.end(spec.body)
  const half = spec.body.length >> 1
  out.write(spec.body.slice(0, half))
  setImmediate(() => out.end(spec.body!.slice(half)))
}

function http1Client(port: number) {
  return (spec: RequestSpec) =>
    new Promise<Result>((ok, fail) => {
      const req = request(
        { host: '127.0.0.1', port, path: spec.path, method: spec.method ?? 'GET', headers: spec.headers, agent: false },
        (res) => {
          const parts: Buffer[] = []
          res.on('data', (d: Buffer) => parts.push(d))
          res.on('end', () => {
            const body = Buffer.concat(parts)
            ok({ status: res.statusCode!, headers: res.headers, body, text: body.toString() })
          })
          res.on('error', fail)
        },
      )
      req.on('error', fail)
      sendBody(req, spec)
    })
}

function h2Client(url: string) {
  return (spec: RequestSpec) =>
    new Promise<Result>((ok, fail) => {
      const session = connect(url)
      session.on('error', fail)
      const declared =
        spec.body !== undefined && !spec.streamed ? { 'content-length': String(Buffer.byteLength(spec.body)) } : {}
      const stream = session.request({
        ':method': spec.method ?? 'GET',
        ':path': spec.path,
        ...declared,
        ...spec.headers,
      })
      let status = 0
      let headers: IncomingHttpHeaders = {}
      const parts: Buffer[] = []
      stream.on('response', (h) => {
        status = Number(h[':status'])
        headers = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(':'))) as IncomingHttpHeaders
      })
      stream.on('data', (d: Buffer) => parts.push(d))
      stream.on('end', () => {
        session.close()
        const body = Buffer.concat(parts)
        ok({ status, headers, body, text: body.toString() })
      })
      stream.on('error', (err) => {
        session.close()
        fail(err)
      })
      sendBody(stream, spec)
    })
}

async function listenHttp1(t: Test, listener: Parameters<typeof createServer>[1] & object): Promise<number> {
  const server = createServer(listener)
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  t.teardown(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  )
  return (server.address() as AddressInfo).port
}

/** Serve over h2c; the compatibility API's request and response stand in for node:http's. */
async function listenH2(
  t: Test,
  listener: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<string> {
  const server = createH2Server((req, res) => listener(req as never, res as never))
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Every platform of the suite, started on loopback and stopped when `t` ends. */
export async function startPlatforms(t: Test): Promise<Platform[]> {
  const platforms: Platform[] = []
  const add = (name: string, observed: Observed, send: Platform['send'], streaming: Platform['streaming'] = 'writes') =>
    platforms.push({ name, observed, send, streaming, http2: name.includes('HTTP/2') })

  {
    const observed = newObserved()
    const handler = compose(...layers(observed))(rawRoutes(observed))
    add(
      'node:http',
      observed,
      http1Client(
        await listenHttp1(t, (req, res) => {
          void handler(req, res)
        }),
      ),
    )
  }
  for (const [name, make] of [
    ['Express 4', express4],
    ['Express 5', express],
  ] as const) {
    const observed = newObserved()
    add(name, observed, http1Client(await listenHttp1(t, expressApp(make, observed, 'composed'))))
  }
  {
    const observed = newObserved()
    add(
      'Express 5, a toExpress per layer',
      observed,
      http1Client(await listenHttp1(t, expressApp(express, observed, 'per-layer'))),
    )
  }
  for (const [name, Make] of [
    ['Koa 2', Koa2],
    ['Koa 3', Koa],
  ] as const) {
    const observed = newObserved()
    add(name, observed, http1Client(await listenHttp1(t, koaApp(Make, observed).callback())), 'pipes')
  }
  {
    const observed = newObserved()
    const app = await fastifyApp(observed)
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    add('Fastify 5', observed, http1Client((app.server.address() as AddressInfo).port), 'pipes')
  }
  {
    const observed = newObserved()
    const handler = compose(...layers(observed))(rawRoutes(observed))
    add(
      'HTTP/2 (h2c)',
      observed,
      h2Client(
        await listenH2(t, (req, res) => {
          void handler(req, res)
        }),
      ),
    )
  }
  {
    const observed = newObserved()
    const callback = koaApp(Koa, observed).callback()
    add(
      'Koa 3 over HTTP/2 (h2c)',
      observed,
      h2Client(
        await listenH2(t, (req, res) => {
          void callback(req, res)
        }),
      ),
      'pipes',
    )
  }
  {
    const observed = newObserved()
    const app = await fastifyApp(observed, true)
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    add(
      'Fastify 5 over HTTP/2 (h2c)',
      observed,
      h2Client(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`),
      'pipes',
    )
  }
  return platforms
}
