/**
 * The behaviours that expressjs/cors's own test suite checks, re-tested with http-onion's
 * cors() mounted through toExpress() on real Express 4 and 5. The tests are ours; the
 * behaviours are theirs. Where http-onion deliberately does otherwise (it refuses `*` with
 * credentials, answers only the origins it allows, checks requested headers against a list),
 * the test asserts http-onion's behaviour and its name says "differs".
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type Application, type Request, type Response, type NextFunction } from 'express'
import express4 from 'express4'
import t, { type Test } from 'tap'
import { cors, type CorsOptions } from '../../lib/index.js'
import { toExpress } from '../../adapters/express.js'
import { httpRequest } from '../helpers/http.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

const ORIGIN = 'http://request.example'
const preflightOf = (headers: Record<string, string> = {}) => ({
  method: 'OPTIONS',
  headers: { origin: ORIGIN, 'access-control-request-method': 'GET', ...headers },
})

for (const [version, make] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  async function listen(t: Test, application: Application): Promise<string> {
    const server = createServer(application)
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    t.teardown(
      () =>
        new Promise<void>((ok) => {
          server.closeAllConnections()
          server.close(() => ok())
        }),
    )
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  /** cors() through toExpress, then a route that answers every method and counts its calls. */
  async function app(t: Test, options: CorsOptions = {}) {
    const application = make()
    application.use(toExpress(cors(options)))
    const seen = { route: 0 }
    application.use((req, res) => {
      seen.route++
      res.send(`route ${req.method}`)
    })
    return { url: await listen(t, application), seen }
  }
  const test = (name: string, fn: (t: Test) => Promise<void>) =>
    t.test(`cors() via toExpress on ${version}: ${name}`, fn)

  test('a request that is not a preflight continues to the route, with or without Origin', async (t) => {
    const { url, seen } = await app(t)
    t.equal((await httpRequest(url, { headers: { origin: ORIGIN } })).text, 'route GET')
    t.equal((await httpRequest(url)).text, 'route GET')
    t.equal(
      (await httpRequest(url, { method: 'OPTIONS', headers: { origin: ORIGIN } })).text,
      'route OPTIONS',
      'OPTIONS without Access-Control-Request-Method is no preflight',
    )
    t.equal(seen.route, 3)
  })

  test('a preflight is answered 204 with Content-Length: 0 and never reaches the route', async (t) => {
    const { url, seen } = await app(t)
    const res = await httpRequest(url, preflightOf())
    t.equal(res.status, 204)
    t.equal(res.headers['content-length'], '0')
    t.equal(res.body.length, 0)
    t.equal(seen.route, 0)
  })

  test('differs: there is no optionsSuccessStatus; a preflight is always 204', async (t) => {
    t.throws(() => cors({ optionsSuccessStatus: 200 } as CorsOptions), {
      name: 'ConfigError',
      message: /^cors\(\): unknown option "optionsSuccessStatus"; /,
    })
  })

  test('preflightContinue hands the preflight to the route with the CORS headers set', async (t) => {
    const { url, seen } = await app(t, { preflightContinue: true })
    const res = await httpRequest(url, preflightOf())
    t.equal(res.text, 'route OPTIONS')
    t.equal(res.headers['access-control-allow-origin'], '*')
    t.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE')
    t.equal(seen.route, 1)
  })

  test('methods are case-sensitive on the wire: Node refuses a lower-case "options" before any middleware', async (t) => {
    const { url, seen } = await app(t)
    const raw = parseRawResponse(
      await rawExchange(
        url,
        `options / HTTP/1.1\r\nHost: x\r\nOrigin: ${ORIGIN}\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n`,
      ),
    )
    t.equal(raw.status, 400)
    t.equal(seen.route, 0)
  })

  test('defaults: any origin gets "*" and no method list on actual requests; a preflight lists the default methods', async (t) => {
    const { url } = await app(t)
    const actual = await httpRequest(url, { headers: { origin: ORIGIN } })
    t.equal(actual.headers['access-control-allow-origin'], '*')
    t.equal(actual.headers['access-control-allow-methods'], undefined)
    t.equal(actual.headers.vary, undefined, 'the same answer for every origin: nothing to vary on')
    const pre = await httpRequest(url, preflightOf())
    t.equal(pre.headers['access-control-allow-origin'], '*')
    t.equal(
      pre.headers['access-control-allow-methods'],
      'GET, HEAD, PUT, PATCH, POST, DELETE',
      'differs: joined with ", "',
    )
  })

  test('configured origin, methods, headers, credentials and max age all reach the preflight', async (t) => {
    const { url } = await app(t, {
      origins: [ORIGIN],
      methods: ['FOO', 'bar'],
      allowedHeaders: ['FIZZ', 'buzz'],
      credentials: true,
      maxAge: 123,
    })
    const res = await httpRequest(
      url,
      preflightOf({ 'access-control-request-method': 'FOO', 'access-control-request-headers': 'fizz, Buzz' }),
    )
    t.equal(res.status, 204)
    t.equal(res.headers['access-control-allow-origin'], ORIGIN)
    t.equal(res.headers['access-control-allow-methods'], 'FOO, bar')
    t.equal(
      res.headers['access-control-allow-headers'],
      'fizz, buzz',
      'differs: the requested names, lower-cased, once checked against the list',
    )
    t.equal(res.headers['access-control-allow-credentials'], 'true')
    t.equal(res.headers['access-control-max-age'], '123')
  })

  test('an anchored RegExp, or a list mixing RegExps and strings, reflects a matching origin with Vary: Origin', async (t) => {
    for (const origins of [
      /^http:\/\/(.+\.)?request\.example$/,
      [/^https:\/\/foo\.example$/, ORIGIN],
    ] as CorsOptions['origins'][]) {
      const { url } = await app(t, { origins })
      const res = await httpRequest(url, { headers: { origin: ORIGIN } })
      t.equal(res.headers['access-control-allow-origin'], ORIGIN)
      t.equal(res.headers.vary, 'Origin')
    }
  })

  test('an origin no entry matches gets no CORS headers, but Vary: Origin, and the request is still served', async (t) => {
    const { url, seen } = await app(t, { origins: [/^https:\/\/foo\.example$/, 'https://bar.example'] })
    const res = await httpRequest(url, { headers: { origin: ORIGIN } })
    t.equal(res.text, 'route GET', 'not short-circuited: the browser, not the server, hides the answer')
    t.equal(res.headers['access-control-allow-origin'], undefined)
    t.equal(res.headers.vary, 'Origin')
    t.equal(seen.route, 1)
  })

  test('differs: unanchored RegExps, origins: false and origins: true are refused at construction', async (t) => {
    t.throws(() => cors({ origins: /foo\.example$/ }), { name: 'ConfigError', message: /anchored/ })
    // expressjs/cors reads `origin: false` as "off" and `true` as "reflect": here, do not mount
    // cors() at all, or pass a predicate. Both throw at construction, naming the option and the fix.
    for (const origins of [false, true]) {
      t.throws(
        () => cors({ origins: origins as unknown as CorsOptions['origins'] }),
        {
          name: 'ConfigError',
          message: /cors\(\): option "origins" must be an origin, a list of origins.*do not mount cors\(\)/,
        },
        `origins: ${origins}`,
      )
    }
    t.throws(() => cors({ origins: 42 as unknown as CorsOptions['origins'] }), {
      name: 'ConfigError',
      message: /List the origins allowed/,
    })
  })

  test('differs: one configured origin is sent only to that origin, never to others', async (t) => {
    const { url } = await app(t, { origins: 'https://app.example' })
    t.equal(
      (await httpRequest(url, { headers: { origin: 'https://app.example' } })).headers['access-control-allow-origin'],
      'https://app.example',
    )
    const other = await httpRequest(url, { headers: { origin: ORIGIN } })
    t.equal(other.headers['access-control-allow-origin'], undefined)
    t.equal(other.headers.vary, 'Origin')
  })

  test('Vary: Origin is appended to a Vary the route set', async (t) => {
    const application = make()
    application.use(toExpress(cors({ origins: [ORIGIN] })))
    application.get('/', (_req, res) => {
      res.setHeader('Vary', 'Foo')
      res.send('varied')
    })
    const res = await httpRequest(await listen(t, application), { headers: { origin: ORIGIN } })
    t.equal(res.headers.vary, 'Foo, Origin')
  })

  test('reflecting any origin is a predicate; with credentials it takes the dangerous option', async (t) => {
    const { url } = await app(t, { origins: () => true })
    t.equal((await httpRequest(url, { headers: { origin: ORIGIN } })).headers['access-control-allow-origin'], ORIGIN)
    const credentialed = await app(t, { credentials: true, dangerouslyAllowAnyOriginWithCredentials: true })
    const res = await httpRequest(credentialed.url, { headers: { origin: ORIGIN } })
    t.equal(res.headers['access-control-allow-origin'], ORIGIN)
    t.equal(res.headers['access-control-allow-credentials'], 'true')
  })

  test('differs: "*" with credentials is refused at construction', async (t) => {
    t.throws(() => cors({ credentials: true }), {
      name: 'ConfigError',
      message: /option "origins" must be a list of origins when credentials is true/,
    })
  })

  test('a predicate, sync or async, decides per request; false leaves every CORS header out', async (t) => {
    for (const origins of [(origin: string) => origin === ORIGIN, async (origin: string) => origin === ORIGIN]) {
      const { url } = await app(t, { origins, credentials: true, exposedHeaders: ['x-a'], maxAge: 60 })
      const allowed = await httpRequest(url, { headers: { origin: ORIGIN } })
      t.equal(allowed.headers['access-control-allow-origin'], ORIGIN)
      const refused = await httpRequest(url, { headers: { origin: 'http://invalid.example' } })
      for (const name of ['origin', 'methods', 'headers', 'credentials', 'max-age', 'expose-headers']) {
        t.equal(
          refused.headers[`access-control-allow-${name}`] ?? refused.headers[`access-control-${name}`],
          undefined,
          name,
        )
      }
    }
  })

  test('the predicate gets the request, for per-request decisions', async (t) => {
    const { url } = await app(t, { origins: (_origin, req) => req.url?.startsWith('/public') === true })
    t.equal(
      (await httpRequest(`${url}/public/x`, { headers: { origin: ORIGIN } })).headers['access-control-allow-origin'],
      ORIGIN,
    )
    t.equal(
      (await httpRequest(`${url}/private`, { headers: { origin: ORIGIN } })).headers['access-control-allow-origin'],
      undefined,
    )
  })

  test("a predicate that rejects goes to Express's error handler", async (t) => {
    const application = make()
    application.use(
      toExpress(
        cors({
          origins: async () => {
            throw new Error('origin lookup failed')
          },
        }),
      ),
    )
    application.use((_req, res) => {
      res.send('never')
    })
    application.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(503).send(`express: ${err.message}`)
    })
    const res = await httpRequest(await listen(t, application), { headers: { origin: ORIGIN } })
    t.equal(res.status, 503)
    t.equal(res.text, 'express: origin lookup failed')
  })

  test('configured methods are listed in the preflight', async (t) => {
    const { url } = await app(t, { methods: ['method1', 'method2'] })
    const res = await httpRequest(url, preflightOf({ 'access-control-request-method': 'method2' }))
    t.equal(res.status, 204)
    t.equal(res.headers['access-control-allow-methods'], 'method1, method2')
  })

  test('differs: a method not listed is refused with 403', async (t) => {
    const { url } = await app(t, { methods: ['GET'] })
    const res = await httpRequest(url, preflightOf({ 'access-control-request-method': 'DELETE' }))
    t.equal(res.status, 403)
    t.match(JSON.parse(res.text), { code: 'cors_method_not_allowed' })
    t.equal(res.headers['access-control-allow-origin'], undefined)
  })

  test('allowed headers: listed ones pass, the preflight varies on the requested headers', async (t) => {
    const { url } = await app(t, { allowedHeaders: ['header1', 'header2'] })
    const res = await httpRequest(url, preflightOf({ 'access-control-request-headers': 'header1,header2' }))
    t.equal(res.headers['access-control-allow-headers'], 'header1, header2')
    t.equal(
      res.headers.vary,
      'Access-Control-Request-Method, Access-Control-Request-Headers',
      'differs: always varies, the answer depends on the request',
    )
  })

  test('differs: allowedHeaders as a comma-separated string is refused; give a list', async (t) => {
    t.throws(() => cors({ allowedHeaders: 'header1,header2' as unknown as string[] }), { name: 'ConfigError' })
  })

  test('no allowed headers: no Access-Control-Allow-Headers, and differs: a requested header is refused', async (t) => {
    const { url } = await app(t, { allowedHeaders: [] })
    const bare = await httpRequest(url, preflightOf())
    t.equal(bare.status, 204)
    t.equal(bare.headers['access-control-allow-headers'], undefined)
    const asking = await httpRequest(url, preflightOf({ 'access-control-request-headers': 'x-custom' }))
    t.equal(asking.status, 403)
    t.match(JSON.parse(asking.text), { code: 'cors_header_not_allowed', message: 'Header x-custom not allowed' })
  })

  test('differs: by default only content-type and authorization are allowed; "*" reflects any requested list', async (t) => {
    const defaults = await app(t)
    t.equal(
      (await httpRequest(defaults.url, preflightOf({ 'access-control-request-headers': 'content-type,authorization' })))
        .headers['access-control-allow-headers'],
      'content-type, authorization',
    )
    t.equal(
      (await httpRequest(defaults.url, preflightOf({ 'access-control-request-headers': 'requestedHeader1' }))).status,
      403,
    )
    const any = await app(t, { allowedHeaders: '*' })
    const res = await httpRequest(
      any.url,
      preflightOf({ 'access-control-request-headers': 'requestedHeader1,requestedHeader2' }),
    )
    t.equal(res.headers['access-control-allow-headers'], 'requestedheader1, requestedheader2')
    t.match(res.headers.vary, /Access-Control-Request-Headers/)
  })

  test('exposed headers are listed on actual requests; an empty list sends none', async (t) => {
    const listed = await app(t, { exposedHeaders: ['custom-header1', 'custom-header2'] })
    t.equal(
      (await httpRequest(listed.url, { headers: { origin: ORIGIN } })).headers['access-control-expose-headers'],
      'custom-header1, custom-header2',
    )
    const none = await app(t, { exposedHeaders: [] })
    t.equal(
      (await httpRequest(none.url, { headers: { origin: ORIGIN } })).headers['access-control-expose-headers'],
      undefined,
    )
  })

  test('credentials only when enabled', async (t) => {
    const on = await app(t, { origins: [ORIGIN], credentials: true })
    t.equal((await httpRequest(on.url, preflightOf())).headers['access-control-allow-credentials'], 'true')
    t.equal(
      (await httpRequest(on.url, { headers: { origin: ORIGIN } })).headers['access-control-allow-credentials'],
      'true',
    )
    const off = await app(t, { origins: [ORIGIN] })
    t.equal(
      (await httpRequest(off.url, { headers: { origin: ORIGIN } })).headers['access-control-allow-credentials'],
      undefined,
    )
  })

  test('max age on preflights; differs: 600 s by default, never on actual requests', async (t) => {
    const set = await app(t, { maxAge: 456 })
    t.equal((await httpRequest(set.url, preflightOf())).headers['access-control-max-age'], '456')
    const defaults = await app(t)
    t.equal((await httpRequest(defaults.url, preflightOf())).headers['access-control-max-age'], '600')
    t.equal(
      (await httpRequest(defaults.url, { headers: { origin: ORIGIN } })).headers['access-control-max-age'],
      undefined,
    )
  })

  test("answers of Express's error handlers and of its final 404 carry the CORS headers", async (t) => {
    const application = make()
    application.use(toExpress(cors()))
    application.post('/five-hundred', (_req, _res, next) => {
      next(new Error('nope'))
    })
    application.post('/four-oh-one', (_req, _res, next) => {
      next(new Error('401'))
    })
    application.post('/four-oh-four', (_req, _res, next) => {
      next()
    })
    application.use((err: Error, _req: Request, res: Response, next: NextFunction) => {
      if (err.message === '401') res.status(401).send('unauthorized')
      else next(err)
    })
    const url = await listen(t, application)
    const withOrigin = { method: 'POST', headers: { origin: ORIGIN } }
    const failed = await httpRequest(`${url}/five-hundred`, withOrigin)
    t.equal(failed.status, 500)
    t.equal(failed.headers['access-control-allow-origin'], '*')
    const unauthorized = await httpRequest(`${url}/four-oh-one`, withOrigin)
    t.equal(unauthorized.status, 401)
    t.equal(unauthorized.text, 'unauthorized')
    t.equal(unauthorized.headers['access-control-allow-origin'], '*')
    const missing = await httpRequest(`${url}/four-oh-four`, withOrigin)
    t.equal(missing.status, 404)
    t.equal(missing.headers['access-control-allow-origin'], '*')
  })

  test('in front of nested routers: the preflight and the GET of a mounted route', async (t) => {
    const items = make.Router()
    items.get('/', (_req, res) => {
      res.send('hello world')
    })
    const main = make.Router()
    main.use('/items', items)
    const application = make()
    application.use(toExpress(cors()))
    application.use(main)
    const url = await listen(t, application)
    const pre = await httpRequest(`${url}/items`, preflightOf())
    t.equal(pre.status, 204)
    t.equal(pre.headers['access-control-allow-origin'], '*')
    const get = await httpRequest(`${url}/items`, { headers: { origin: ORIGIN } })
    t.equal(get.text, 'hello world')
    t.equal(get.headers['access-control-allow-origin'], '*')
  })

  test('route-level: on app.options and in front of one POST route, reflecting, credentials, one method', async (t) => {
    const login = toExpress(cors({ origins: () => true, methods: ['POST'], credentials: true, maxAge: 3600 }))
    const application = make()
    application.options('/api/login', login)
    application.post('/api/login', login, (_req, res) => {
      res.send('LOGIN')
    })
    const url = await listen(t, application)
    const pre = await httpRequest(`${url}/api/login`, preflightOf({ 'access-control-request-method': 'POST' }))
    t.equal(pre.status, 204)
    t.equal(pre.headers['access-control-allow-origin'], ORIGIN)
    t.equal(pre.headers['access-control-max-age'], '3600')
    const post = await httpRequest(`${url}/api/login`, { method: 'POST', headers: { origin: ORIGIN } })
    t.equal(post.text, 'LOGIN')
    t.equal(post.headers['access-control-allow-origin'], ORIGIN)
    t.equal(post.headers['access-control-allow-credentials'], 'true')
  })

  test('an async origin decision loses no request body, before or after the body parser', async (t) => {
    const slowlyAllowed = async () => {
      await new Promise((ok) => setTimeout(ok, 20))
      return true
    }
    const body = { example: 'Lorem ipsum dolor sit amet. '.repeat(200) }
    for (const order of ['cors first', 'parser first'] as const) {
      const application = make()
      if (order === 'parser first') application.use(make.json())
      application.use(toExpress(cors({ origins: slowlyAllowed })))
      if (order === 'cors first') application.use(make.json())
      application.post('/', (req, res) => {
        res.json(req.body)
      })
      const res = await httpRequest(await listen(t, application), {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      t.equal(res.status, 200, order)
      t.same(JSON.parse(res.text), body, order)
      t.equal(res.headers['access-control-allow-origin'], ORIGIN, order)
    }
  })
}
