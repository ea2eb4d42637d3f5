import { request } from 'node:http'
import t from 'tap'
import {
  compose,
  compression,
  csrf,
  errorBoundary,
  ipFilter,
  loadShedding,
  MetricsRegistry,
  metrics,
  mount,
  rateLimit,
  type RawHandler,
} from '../../../lib/index.js'
import { setRoute } from '../../../lib/core.js'
import { writeWithBackpressure, repeated } from '../../helpers/backpressure.js'
import { httpRequest } from '../../helpers/http.js'
import { parsePrometheus, sampleValue, samplesNamed } from '../../helpers/prometheus.js'
import { openSocket, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings, until } from '../../helpers/wait.js'

const scrape = (m: { registry: MetricsRegistry }) => parsePrometheus(m.registry.render())
const count = (m: { registry: MetricsRegistry }, labels: Record<string, string>) =>
  sampleValue(scrape(m), 'http_requests_total', labels)

const routed: RawHandler = (req, res) => {
  if (req.url?.startsWith('/users/')) setRoute(req, '/users/:id')
  res.statusCode = req.url === '/missing' ? 404 : 200
  res.end('ok')
}

t.test('metrics(): counts, times and sizes a request by method, route template and status class', async (t) => {
  const m = metrics()
  const url = await serve(t, compose(m)(routed))
  await httpRequest(`${url}/users/42`)
  await httpRequest(`${url}/users/43`, { method: 'POST', body: 'x'.repeat(1234) })
  await httpRequest(`${url}/missing`)
  await until(() => count(m, { route: 'unmatched' }) === 1)
  const families = scrape(m)
  t.equal(sampleValue(families, 'http_requests_total', { method: 'GET', route: '/users/:id', status: '2xx' }), 1)
  t.equal(sampleValue(families, 'http_requests_total', { method: 'POST', route: '/users/:id', status: '2xx' }), 1)
  t.equal(sampleValue(families, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '4xx' }), 1)
  t.equal(sampleValue(families, 'http_request_body_bytes_total', { method: 'POST' }), 1234)
  t.equal(sampleValue(families, 'http_request_body_bytes_total', { method: 'GET', route: '/users/:id' }), 0)
  t.equal(sampleValue(families, 'http_request_duration_seconds_count', { method: 'GET', route: '/users/:id' }), 1)
  t.ok(sampleValue(families, 'http_request_duration_seconds_sum', { method: 'GET', route: '/users/:id' })! > 0)
  t.ok(sampleValue(families, 'http_response_bytes_total', { method: 'GET', route: '/users/:id' })! > 40)
  t.equal(sampleValue(families, 'http_requests_in_flight'), 0)
  t.same(
    [...families.keys()],
    [
      'http_requests_total',
      'http_request_duration_seconds',
      'http_request_body_bytes_total',
      'http_response_bytes_total',
      'http_requests_in_flight',
      'http_refusals_total',
    ],
  )
})

t.test('metrics(): 10,000 distinct raw paths make one series, never one per path', async (t) => {
  const m = metrics()
  const url = await serve(t, compose(m, mount('/api', routed))(routed))
  for (let i = 0; i < 10_000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        httpRequest(`${url}/${i % 100 === 0 ? 'api/' : ''}p${i + j}/%2e${i + j}?q=${i + j}`, { close: false }),
      ),
    )
  }
  await until(() => samplesNamed(scrape(m), 'http_requests_total').reduce((sum, s) => sum + s.value, 0) === 10_000)
  const series = samplesNamed(scrape(m), 'http_requests_total')
  t.same(series.map((s) => s.labels.route).sort(), ['/api/*', 'unmatched'], 'the mount prefix, and one shared label')
  t.equal(
    series.reduce((sum, s) => sum + s.value, 0),
    10_000,
  )
})

t.test('metrics(): a route function labels requests; past maxRoutes new labels share "other"', async (t) => {
  const m = metrics({ route: (req) => req.url, maxRoutes: 3 })
  const url = await serve(t, compose(m)(routed))
  for (let i = 0; i < 10; i++) await httpRequest(`${url}/raw${i}`)
  await httpRequest(`${url}/raw0`)
  await until(() => count(m, { route: 'other' }) === 7)
  const families = scrape(m)
  t.equal(count(m, { route: 'other' }), 7)
  t.equal(sampleValue(families, 'http_requests_total', { route: '/raw0' }), 2, 'labels kept before the cap still count')
  t.equal(samplesNamed(families, 'http_requests_total').length, 4)
})

t.test('metrics(): methods outside the list are labelled "other"', async (t) => {
  const m = metrics({ methods: ['GET'] })
  const url = await serve(t, compose(m)(routed))
  await httpRequest(url, { method: 'PROPFIND' })
  await httpRequest(url, { method: 'DELETE' })
  await httpRequest(url)
  await until(() => count(m, { method: 'other' }) === 2)
  t.equal(count(m, { method: 'other' }), 2)
  t.equal(count(m, { method: 'GET' }), 1)
})

t.test('metrics(): a client that leaves first is counted with status 499', async (t) => {
  const m = metrics()
  let reached = false
  const url = await serve(
    t,
    compose(m)(() => {
      reached = true // never answers
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => reached && sampleValue(scrape(m), 'http_requests_in_flight') === 1)
  t.equal(sampleValue(scrape(m), 'http_requests_in_flight'), 1, 'in flight while the handler holds it')
  socket.destroy()
  await until(() => count(m, { status: '499' }) === 1)
  t.equal(count(m, { method: 'GET', route: 'unmatched', status: '499' }), 1)
  t.equal(sampleValue(scrape(m), 'http_requests_in_flight'), 0)
})

t.test('metrics(): a handler that fails before answering is a 5xx', async (t) => {
  const m = metrics()
  const url = await serve(
    t,
    compose(m)((_req, res) => {
      res.destroy(new Error('broken'))
    }),
  )
  await httpRequest(url).catch(() => undefined)
  await until(() => count(m, { status: '5xx' }) === 1)
  t.equal(count(m, { status: '5xx' }), 1)
})

t.test('metrics(): response bytes are those on the wire, after compression', async (t) => {
  const m = metrics()
  const url = await serve(
    t,
    compose(
      m,
      compression(),
    )((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.end('abc'.repeat(20_000))
    }),
  )
  const wire = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n')
  t.ok(wire.length < 2000, 'compressed')
  await until(() => count(m, {}) === 1)
  t.equal(sampleValue(scrape(m), 'http_response_bytes_total'), wire.length)
})

t.test('metrics(): a streamed body with backpressure is counted once it is over', async (t) => {
  const m = metrics()
  const url = await serve(
    t,
    compose(m)(async (_req, res) => {
      const full = await writeWithBackpressure(res, repeated('y'.repeat(16_384), 256))
      res.end()
      t.ok(full > 0, 'the socket filled up')
    }),
  )
  const res = await httpRequest(url)
  t.equal(res.body.length, 16_384 * 256)
  await until(() => count(m, {}) === 1)
  t.ok(sampleValue(scrape(m), 'http_response_bytes_total')! > 16_384 * 256)
})

t.test('metrics(): HEAD, 204, 304, an empty end() and writeHead(status, headers) are counted', async (t) => {
  const m = metrics()
  const url = await serve(
    t,
    compose(m)((req, res) => {
      if (req.url === '/204') res.writeHead(204, { 'x-a': '1' }).end()
      else if (req.url === '/304') res.writeHead(304).end()
      else res.end()
    }),
  )
  await httpRequest(url, { method: 'HEAD' })
  await httpRequest(`${url}/204`)
  await httpRequest(`${url}/304`)
  await httpRequest(url)
  await until(() => count(m, { method: 'GET', status: '2xx' }) === 2)
  t.equal(count(m, { method: 'HEAD', status: '2xx' }), 1)
  t.equal(count(m, { method: 'GET', status: '2xx' }), 2)
  t.equal(count(m, { method: 'GET', status: '3xx' }), 1)
})

t.test('metrics(): refusals sent through sendError are counted by their code', async (t) => {
  const m = metrics()
  let release: () => void = () => undefined
  const url = await serve(
    t,
    compose(
      m,
      errorBoundary({ onError: () => undefined }),
      loadShedding({ maxInFlight: 1, maxQueue: 0 }),
      rateLimit({ limit: 2, windowMs: 60_000 }),
    )((req, res) => {
      if (req.url === '/throw') throw new Error('boom')
      if (req.url === '/hold') return new Promise<void>((ok) => (release = ok)).then(() => res.end('held'))
      res.end('ok')
    }),
  )
  const held = httpRequest(`${url}/hold`)
  await until(() => sampleValue(scrape(m), 'http_requests_in_flight') === 1)
  t.equal((await httpRequest(url)).status, 503, 'shed while one is in flight')
  release()
  await held
  t.equal((await httpRequest(`${url}/throw`)).status, 500)
  t.equal((await httpRequest(url)).status, 429)
  await until(() => count(m, { status: '5xx' }) === 2 && count(m, { status: '4xx' }) === 1)
  const families = scrape(m)
  t.equal(sampleValue(families, 'http_refusals_total', { code: 'overloaded' }), 1)
  t.equal(sampleValue(families, 'http_refusals_total', { code: 'too_many_requests' }), 1)
  t.equal(sampleValue(families, 'http_refusals_total', { code: 'internal_server_error' }), 1)
  t.equal(samplesNamed(families, 'http_refusals_total').length, 3)
})

t.test('metrics(): a shared registry renders its families beside yours, with a prefix each', async (t) => {
  const registry = new MetricsRegistry()
  const logins = registry.counter('logins_total', 'Logins.')
  const outer = metrics({ registry })
  const inner = metrics({ registry, prefix: 'admin_http_', buckets: [0.5] })
  t.equal(outer.registry, registry)
  const url = await serve(
    t,
    compose(outer)(
      compose(inner)((_req, res) => {
        logins.inc()
        res.end()
      }),
    ),
  )
  await httpRequest(url)
  await until(() => sampleValue(parsePrometheus(registry.render()), 'http_requests_total') === 1)
  const families = parsePrometheus(registry.render())
  t.equal(sampleValue(families, 'logins_total'), 1)
  t.equal(sampleValue(families, 'admin_http_requests_total'), 1)
  t.same(
    samplesNamed(families, 'admin_http_request_duration_seconds_bucket').map((s) => s.labels.le),
    ['0.5', '+Inf'],
  )
})

t.test('metrics(): the registry handler serves what was recorded', async (t) => {
  const m = metrics()
  const app = compose(m, mount('/metrics', m.registry.handler))(routed)
  const url = await serve(t, app)
  await httpRequest(`${url}/users/1`)
  await until(() => count(m, { route: '/users/:id' }) === 1)
  const res = await new Promise<string>((ok, fail) => {
    request(`${url}/metrics`, (r) => {
      let text = ''
      r.on('data', (d) => (text += d))
      r.on('end', () => ok(text))
    })
      .on('error', fail)
      .end()
  })
  t.equal(sampleValue(parsePrometheus(res), 'http_requests_total', { route: '/users/:id' }), 1)
})

t.test('metrics(): config: refuses each bad option', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [{ prefix: '1x' }, /option "prefix" must be letters, digits/],
    [{ buckets: [] }, /option "buckets" must be finite numbers of seconds in increasing order/],
    [{ buckets: [1, 0.5] }, /option "buckets"/],
    [{ buckets: [1, Number.POSITIVE_INFINITY] }, /option "buckets"/],
    [{ methods: ['get'] }, /option "methods\[0\]" must be an upper-case method name/],
    [{ methods: 'GET' }, /option "methods" must be an array/],
    [{ route: '/x' }, /option "route" must be a function/],
    [{ unmatchedRoute: '' }, /option "unmatchedRoute" must be a non-empty string/],
    [{ maxRoutes: 0 }, /option "maxRoutes" must be/],
    [{ maxRefusalCodes: 1.5 }, /option "maxRefusalCodes" must be/],
    [{ registry: {} }, /option "registry" must be a MetricsRegistry/],
    [{ prefixes: 'x' }, /unknown option "prefixes"; did you mean "prefix"/],
  ]
  for (const [options, message] of cases) t.throws(() => metrics(options as never), { name: 'ConfigError', message })
  const registry = new MetricsRegistry()
  metrics({ registry })
  t.throws(() => metrics({ registry }), {
    name: 'ConfigError',
    message: /option "prefix" must be a prefix no other metrics\(\) of this registry uses/,
  })
})

t.test('metrics(): wraps ipFilter and csrf, so their 403s are counted, and says so when it does not', async (t) => {
  const m = metrics()
  const url = await serve(
    t,
    compose(m, ipFilter({ deny: ['loopback'] }), csrf())((_req, res) => res.end('in')),
  )
  const denied = await httpRequest(url)
  t.equal(denied.status, 403)
  t.equal(sampleValue(scrape(m), 'http_refusals_total', { code: 'ip_forbidden' }), 1, 'the denied request is counted')
  const explained = compose(metrics(), ipFilter({ allow: ['loopback'] }), csrf()).explain()
  t.match(explained, /ok\s+metrics wraps ipFilter/)
  t.match(explained, /ok\s+metrics wraps csrf/)
  // Inside them, a denied request never reaches metrics: the order is flagged.
  captureWarnings(t)
  const wrong = compose({ strict: false }, ipFilter({ allow: ['loopback'] }), csrf(), metrics()).explain()
  t.match(wrong, /BROKEN\s+metrics wraps ipFilter/)
  t.match(wrong, /BROKEN\s+metrics wraps csrf/)
})
