import { createServer } from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import t from 'tap'
import { expressRoute, toExpress } from '../../adapters/express.js'
import { toFastify } from '../../adapters/fastify.js'
import { toKoa } from '../../adapters/koa.js'
import { setRoute } from '../../lib/core.js'
import { compose, metrics, PROMETHEUS_CONTENT_TYPE, type MetricsMiddleware } from '../../lib/index.js'
import { httpRequest } from '../helpers/http.js'
import { parsePrometheus, samplesNamed } from '../helpers/prometheus.js'
import { listen } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'

// The route label comes from the framework's template, read by the adapter, never from the
// raw path: 10,000 distinct paths through each framework give a handful of series.

const TOTAL = 10_000

/** `TOTAL` requests, each to a path of its own, 50 at a time on kept-alive connections. */
async function flood(url: string, path: (i: number) => string): Promise<void> {
  for (let i = 0; i < TOTAL; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => httpRequest(`${url}${path(i + j)}`, { close: false })))
  }
}

/** Scrape `url` + /metrics and return the route labels with their request counts (the scrape itself excluded). */
async function routesScraped(url: string): Promise<Map<string, number>> {
  const res = await httpRequest(`${url}/metrics`)
  t.equal(res.headers['content-type'], PROMETHEUS_CONTENT_TYPE)
  const routes = new Map<string, number>()
  for (const s of samplesNamed(parsePrometheus(res.text), 'http_requests_total')) {
    if (s.labels.route === '/metrics') continue
    routes.set(s.labels.route!, (routes.get(s.labels.route!) ?? 0) + s.value)
  }
  return routes
}

const total = (m: MetricsMiddleware) =>
  samplesNamed(parsePrometheus(m.registry.render()), 'http_requests_total').reduce((sum, s) => sum + s.value, 0)

const byRoute = (routes: Map<string, number>) => Object.fromEntries([...routes].sort())

t.test('metrics() in Express: req.baseUrl + req.route.path, case folded; 404s share "unmatched"', async (t) => {
  const m = metrics()
  const app = express()
  app.use(toExpress(m))
  app.get('/metrics', m.registry.handler)
  const api = express.Router()
  api.get('/users/:id', (_req, res) => {
    res.send('user')
  })
  app.use('/api', api)
  app.get('/items/:id', (_req, res) => {
    res.send('item')
  })
  const { url } = await listen(t, createServer(app))
  await flood(url, (i) => [`/api/users/${i}`, `/API/Users/${i}`, `/items/${i}?q=${i}`, `/nothing/${i}`][i % 4]!)
  await until(() => total(m) >= TOTAL)
  t.same(byRoute(await routesScraped(url)), {
    '/api/users/:id': TOTAL / 2,
    '/items/:id': TOTAL / 4,
    unmatched: TOTAL / 4,
  })
})

t.test('metrics() in a raw stack around Express: expressRoute as the route option', async (t) => {
  const m = metrics({ route: expressRoute })
  const app = express()
  app.get('/items/:id', (_req, res) => {
    res.send('item')
  })
  const { url } = await listen(t, createServer(compose(m)(app)))
  for (let i = 0; i < 20; i++) await httpRequest(`${url}/${i % 2 ? 'items' : 'other'}/${i}`, { close: false })
  await until(() => total(m) >= 20)
  const routes = samplesNamed(parsePrometheus(m.registry.render()), 'http_requests_total').map((s) => s.labels.route)
  t.same(routes.sort(), ['/items/:id', 'unmatched'])
})

t.test('metrics() in Fastify: request.routeOptions.url; 404s share "unmatched"', async (t) => {
  const m = metrics()
  const fastify = Fastify()
  await fastify.register(toFastify(m) as never)
  fastify.get('/metrics', (_request, reply) => {
    reply.type(PROMETHEUS_CONTENT_TYPE).send(m.registry.render())
  })
  fastify.get('/users/:id', async () => 'user')
  fastify.get('/files/*', async () => 'file')
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  const url = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`
  await flood(url, (i) => [`/users/${i}`, `/files/a/${i}/b`, `/nothing/${i}`, `/users/${i}/deeper`][i % 4]!)
  await until(() => total(m) >= TOTAL)
  t.same(byRoute(await routesScraped(url)), {
    '/users/:id': TOTAL / 4,
    '/files/*': TOTAL / 4,
    unmatched: TOTAL / 2,
  })
})

t.test("metrics() in Koa: setRoute from a handler, and a router's ctx._matchedRoute through toKoa", async (t) => {
  const m = metrics()
  const app = new Koa()
  app.use(toKoa(m) as never)
  app.use(async (ctx, next) => {
    if (ctx.path === '/metrics') {
      ctx.type = PROMETHEUS_CONTENT_TYPE
      ctx.body = m.registry.render()
      return
    }
    // The two ways a Koa app names its route: a handler calls setRoute itself, or a router
    // leaves the template on the context, as @koa/router does in ctx._matchedRoute (the
    // toKoa adapter reads it when the exchange ends).
    const user = /^\/users\/[^/]+$/.test(ctx.path)
    const item = /^\/items\/[^/]+$/.test(ctx.path)
    if (user) setRoute(ctx.req, '/users/:id')
    if (item) (ctx as unknown as { _matchedRoute: string })._matchedRoute = '/items/:id'
    if (user || item) ctx.body = 'found'
    await next()
  })
  const { url } = await listen(t, createServer(app.callback()))
  await flood(url, (i) => [`/users/${i}`, `/items/${i}`, `/nothing/${i}`, `/x${i}`][i % 4]!)
  await until(() => total(m) >= TOTAL)
  t.same(byRoute(await routesScraped(url)), {
    '/users/:id': TOTAL / 4,
    '/items/:id': TOTAL / 4,
    unmatched: TOTAL / 2,
  })
})
