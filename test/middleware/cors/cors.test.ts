import { createServer } from 'node:http'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import {
  compose,
  cors,
  HttpError,
  MAX_REQUEST_HEADERS_LENGTH,
  OrderingError,
  sendError,
  type CorsOptions,
  type RawHandler,
} from '../../../lib/index.js'
import { corsPreflightState, defineMiddleware } from '../../../lib/core.js'
import { httpRequest, type HttpResult } from '../../helpers/http.js'
import { parseRawResponse, rawExchange, rawRequest } from '../../helpers/raw.js'
import { listen, serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

const APP = 'https://app.example.com'
const ok: RawHandler = (_req, res) => res.end('ok')

async function server(t: Test, options: CorsOptions, handler: RawHandler = ok) {
  return serve(t, cors(options)(handler))
}

function preflight(
  url: string,
  origin: string,
  method = 'PUT',
  headers?: string,
  extra: Record<string, string> = {},
): Promise<HttpResult> {
  return httpRequest(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
      ...extra,
    },
  })
}

const get = (url: string, origin?: string, method = 'GET') =>
  httpRequest(url, { method, headers: origin === undefined ? {} : { origin } })

t.test('cors(): "*" by default: every response allows any origin, without Vary', async (t) => {
  const url = await server(t, {})
  const res = await get(url, 'https://anyone.test')
  t.equal(res.headers['access-control-allow-origin'], '*')
  t.equal(res.headers.vary, undefined)
  t.equal(res.headers['access-control-allow-credentials'], undefined)
  t.equal((await get(url)).headers['access-control-allow-origin'], '*')
})

t.test('cors(): a listed origin is echoed, with Vary: Origin', async (t) => {
  const url = await server(t, { origins: [APP] })
  const res = await get(url, APP)
  t.equal(res.text, 'ok')
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers.vary, 'Origin')
})

t.test('cors(): an unlisted origin gets no CORS headers but still Vary: Origin', async (t) => {
  const url = await server(t, { origins: [APP], credentials: true, exposedHeaders: ['x-request-id'] })
  const res = await get(url, 'https://evil.test')
  t.equal(res.status, 200, 'the request itself is served: only the browser withholds the answer')
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers['access-control-allow-credentials'], undefined)
  t.equal(res.headers['access-control-expose-headers'], undefined)
  t.equal(res.headers.vary, 'Origin')
  t.equal((await get(url)).headers.vary, 'Origin', 'no Origin at all: still varies')
})

t.test('cors(): credentials and exposed headers for allowed origins', async (t) => {
  const url = await server(t, { origins: APP, credentials: true, exposedHeaders: ['X-Request-Id', 'x-total'] })
  const res = await get(url, APP)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.equal(res.headers['access-control-expose-headers'], 'x-request-id, x-total')
})

t.test("cors(): merges Vary with the handler's, never duplicating or clobbering", async (t) => {
  const cases: Array<[RawHandler, string]> = [
    [
      (_req, res) => {
        res.setHeader('vary', 'Accept-Encoding')
        res.end()
      },
      'Accept-Encoding, Origin',
    ],
    [
      (_req, res) => {
        res.setHeader('vary', 'origin')
        res.end()
      },
      'origin',
    ],
    [
      (_req, res) => {
        res.setHeader('vary', '*')
        res.end()
      },
      '*',
    ],
    [
      (_req, res) => {
        res.writeHead(200, { vary: 'Accept' })
        res.end()
      },
      'Accept, Origin',
    ],
  ]
  for (const [handler, expected] of cases) {
    const url = await server(t, { origins: [APP] }, handler)
    t.equal((await get(url, APP)).headers.vary, expected)
  }
})

t.test('cors(): a preflight is 204 with Content-Length: 0 and the validated headers', async (t) => {
  const url = await server(t, { origins: [APP], credentials: true }, () => t.fail('the handler must not run'))
  const res = await preflight(url, APP, 'PUT', 'Content-Type, Authorization')
  t.equal(res.status, 204)
  t.equal(res.headers['content-length'], '0')
  t.equal(res.body.length, 0)
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE')
  t.equal(res.headers['access-control-allow-headers'], 'content-type, authorization')
  t.equal(res.headers['access-control-max-age'], '600')
  t.equal(res.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
})

t.test('cors(): a preflight without requested headers allows none', async (t) => {
  const res = await preflight(await server(t, { origins: [APP] }), APP, 'DELETE')
  t.equal(res.status, 204)
  t.equal(res.headers['access-control-allow-headers'], undefined)
})

t.test('cors(): "*" preflights answer "*" and still vary on the requested method and headers', async (t) => {
  const res = await preflight(await server(t, {}), 'https://anyone.test', 'POST', 'content-type')
  t.equal(res.headers['access-control-allow-origin'], '*')
  t.equal(res.headers.vary, 'Access-Control-Request-Method, Access-Control-Request-Headers')
})

t.test('cors(): refuses a preflight from an unlisted origin', async (t) => {
  const res = await preflight(await server(t, { origins: [APP] }), 'https://evil.test')
  t.equal(res.status, 403)
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers['access-control-allow-methods'], undefined)
  t.same(JSON.parse(res.text), { status: 403, code: 'cors_origin_not_allowed', message: 'Origin not allowed' })
  t.equal(res.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
})

t.test('cors(): refuses a method that is not allowed', async (t) => {
  const url = await server(t, { origins: [APP], methods: ['GET', 'post', 'PURGE'] })
  const res = await preflight(url, APP, 'DELETE')
  t.equal(res.status, 403)
  t.equal(JSON.parse(res.text).code, 'cors_method_not_allowed')
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal((await preflight(url, APP, 'post')).status, 204, 'POST is normalised, like browsers do')
  t.equal((await preflight(url, APP, 'PURGE')).headers['access-control-allow-methods'], 'GET, POST, PURGE')
  t.equal((await preflight(url, APP, 'purge')).status, 403, 'other methods are case-sensitive')
  t.equal((await preflight(url, APP, 'GET\u00ff')).status, 400)
})

t.test('cors(): PATCH is case-sensitive, as in browsers', async (t) => {
  const url = await server(t, { origins: [APP] })
  t.equal((await preflight(url, APP, 'PATCH')).status, 204)
  t.equal((await preflight(url, APP, 'patch')).status, 403)
})

t.test('cors(): refuses a requested header that is not allowed, naming it', async (t) => {
  const url = await server(t, { origins: [APP], allowedHeaders: ['content-type', 'x-custom'] })
  const res = await preflight(url, APP, 'PUT', 'content-type,x-other')
  t.equal(res.status, 403)
  t.same(JSON.parse(res.text), { status: 403, code: 'cors_header_not_allowed', message: 'Header x-other not allowed' })
  t.equal(
    (await preflight(url, APP, 'PUT', ' X-Custom ,, content-type')).headers['access-control-allow-headers'],
    'x-custom, content-type',
  )
})

t.test('cors(): a malformed request-headers list is 400', async (t) => {
  const url = await server(t, { origins: [APP], allowedHeaders: '*' })
  const res = await preflight(url, APP, 'PUT', 'x-a, x b')
  t.equal(res.status, 400)
  t.equal(JSON.parse(res.text).code, 'cors_preflight_invalid')
})

t.test('cors(): a 16 KiB request-headers list is refused before it is split', async (t) => {
  const handler = cors({ origins: [APP], allowedHeaders: '*' })(ok)
  const { url } = await listen(t, createServer({ maxHeaderSize: 64 * 1024 }, handler as never))
  const long = Array.from({ length: 2000 }, (_, i) => `x-h${i}`)
    .join(',')
    .slice(0, 16 * 1024)
  const res = await preflight(url, APP, 'PUT', long)
  t.equal(res.status, 431)
  t.equal(JSON.parse(res.text).code, 'cors_preflight_invalid')
  const atLimit = 'x'.repeat(MAX_REQUEST_HEADERS_LENGTH)
  t.equal((await preflight(url, APP, 'PUT', atLimit)).status, 204)
})

t.test('cors(): methods and headers "*" echo what was asked', async (t) => {
  const url = await server(t, { origins: [APP], methods: '*', allowedHeaders: '*', credentials: true })
  const res = await preflight(url, APP, 'PROPFIND', 'x-anything, authorization')
  t.equal(res.status, 204)
  t.equal(res.headers['access-control-allow-methods'], 'PROPFIND')
  t.equal(res.headers['access-control-allow-headers'], 'x-anything, authorization')
})

t.test('cors(): OPTIONS without Access-Control-Request-Method goes to the handler', async (t) => {
  const url = await server(t, { origins: [APP] }, (req, res) => {
    res.setHeader('allow', 'GET, OPTIONS')
    res.end(req.method)
  })
  const res = await get(url, APP, 'OPTIONS')
  t.equal(res.text, 'OPTIONS')
  t.equal(res.headers.allow, 'GET, OPTIONS')
  t.equal(res.headers['access-control-allow-origin'], APP)
})

t.test('cors(): Private Network Access is answered only when enabled', async (t) => {
  const pna = { 'access-control-request-private-network': 'true' }
  const on = await preflight(await server(t, { origins: [APP], privateNetwork: true }), APP, 'GET', undefined, pna)
  t.equal(on.headers['access-control-allow-private-network'], 'true')
  t.match(on.headers.vary, /Access-Control-Request-Private-Network/)
  const off = await preflight(await server(t, { origins: [APP] }), APP, 'GET', undefined, pna)
  t.equal(off.headers['access-control-allow-private-network'], undefined)
  const notAsked = await preflight(await server(t, { origins: [APP], privateNetwork: true }), APP, 'GET')
  t.equal(notAsked.headers['access-control-allow-private-network'], undefined)
})

t.test('cors(): maxAge', async (t) => {
  t.equal(
    (await preflight(await server(t, { origins: [APP], maxAge: 7200 }), APP)).headers['access-control-max-age'],
    '7200',
  )
  t.equal((await preflight(await server(t, { origins: [APP], maxAge: 0 }), APP)).headers['access-control-max-age'], '0')
})

t.test('cors(): preflightContinue passes preflights on with the headers set', async (t) => {
  const handler: RawHandler = (_req, res) => {
    res.setHeader('vary', 'Accept')
    res.statusCode = 200
    res.end('handled')
  }
  const url = await server(t, { origins: [APP], preflightContinue: true }, handler)
  const res = await preflight(url, APP, 'PUT', 'content-type')
  t.equal(res.text, 'handled')
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers['access-control-allow-headers'], 'content-type')
  t.equal(res.headers.vary, 'Accept, Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
  const refused = await preflight(url, 'https://evil.test')
  t.equal(refused.text, 'handled')
  t.equal(refused.headers['access-control-allow-origin'], undefined)
})

t.test('cors(): "null" is allowed only when listed', async (t) => {
  t.equal((await get(await server(t, { origins: [APP] }), 'null')).headers['access-control-allow-origin'], undefined)
  t.equal(
    (await get(await server(t, { origins: [APP, 'null'] }), 'null')).headers['access-control-allow-origin'],
    'null',
  )
})

t.test('cors(): dangerouslyAllowAnyOriginWithCredentials reflects any origin but "null"', async (t) => {
  const url = await server(t, { credentials: true, dangerouslyAllowAnyOriginWithCredentials: true })
  const res = await get(url, 'https://anyone.test')
  t.equal(res.headers['access-control-allow-origin'], 'https://anyone.test')
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.equal(res.headers.vary, 'Origin')
  t.equal((await get(url, 'null')).headers['access-control-allow-origin'], undefined)
})

t.test('cors(): wildcard origins and anchored RegExps', async (t) => {
  const url = await server(t, { origins: ['https://*.example.com', /^http:\/\/localhost:\d{4}$/] })
  t.equal((await get(url, 'https://a.example.com')).headers['access-control-allow-origin'], 'https://a.example.com')
  t.equal((await get(url, 'http://localhost:5173')).headers['access-control-allow-origin'], 'http://localhost:5173')
  t.equal((await get(url, 'https://example.com')).headers['access-control-allow-origin'], undefined)
  t.equal((await get(url, 'https://evil-example.com')).headers['access-control-allow-origin'], undefined)
  t.equal((await get(url, 'http://localhost:5173.evil.test')).headers['access-control-allow-origin'], undefined)
})

t.test('cors(): predicates, sync and async; only true allows', async (t) => {
  const seen: string[] = []
  const sync = await server(t, {
    origins: (origin, req) => {
      seen.push(`${req.method} ${origin}`)
      return origin.endsWith('.tenant.test')
    },
  })
  t.equal((await get(sync, 'https://a.tenant.test')).headers['access-control-allow-origin'], 'https://a.tenant.test')
  t.equal((await get(sync, 'https://evil.test')).headers['access-control-allow-origin'], undefined)
  t.same(seen, ['GET https://a.tenant.test', 'GET https://evil.test'])
  const async = await server(t, { origins: async (origin) => origin === APP, credentials: true })
  t.equal((await get(async, APP)).headers['access-control-allow-origin'], APP)
  t.equal((await get(async, 'https://evil.test')).headers['access-control-allow-origin'], undefined)
  t.equal((await preflight(async, APP)).status, 204)
  t.equal((await preflight(async, 'https://evil.test')).status, 403)
  const truthy = await server(t, { origins: (() => 'yes') as unknown as () => boolean })
  t.equal((await get(truthy, APP)).headers['access-control-allow-origin'], undefined)
})

t.test('cors(): a rejecting predicate propagates to the layer outside', async (t) => {
  let caught: unknown
  const boundary = defineMiddleware(
    { name: 'errorBoundary' },
    (next) =>
      async function boundaryHandler(req, res) {
        try {
          await next(req, res)
        } catch (err) {
          caught = err
          sendError(req, res, new HttpError(500))
        }
      },
  )
  const url = await serve(
    t,
    compose(
      boundary,
      cors({
        origins: async () => {
          throw new Error('directory down')
        },
      }),
    )(ok),
  )
  t.equal((await get(url, APP)).status, 500)
  t.match(caught, { message: 'directory down' })
})

t.test('cors(): a repeated Origin header is no origin', async (t) => {
  const url = await server(t, { origins: [APP] })
  const res = parseRawResponse(
    await rawExchange(
      url,
      `GET / HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nOrigin: ${APP}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers.vary, 'Origin')
})

t.test(
  'cors(): a preflight with a repeated Origin is refused with 400 and never reaches the handler, with or without preflightContinue',
  async (t) => {
    for (const preflightContinue of [false, true]) {
      let reached = 0
      const url = await server(t, { origins: [APP], preflightContinue }, (_req, res) => {
        reached++
        res.end('handled')
      })
      for (const origins of [
        [APP, APP],
        [APP, 'https://evil.test'],
        ['https://evil.test', APP],
      ]) {
        const res = await rawRequest(url, 'OPTIONS', '/', [
          ...origins.map((o) => ['Origin', o] as const),
          ['Access-Control-Request-Method', 'PUT'],
        ])
        t.equal(res.status, 400, `${origins.join(' + ')}, preflightContinue ${preflightContinue}`)
        t.match(JSON.parse(res.body.toString()), {
          status: 400,
          code: 'cors_preflight_invalid',
          message: 'Origin sent more than once',
        })
        t.equal(res.headers['access-control-allow-origin'], undefined)
      }
      t.equal(reached, 0)
      const single = await rawRequest(url, 'OPTIONS', '/', [
        ['Origin', APP],
        ['Access-Control-Request-Method', 'PUT'],
      ])
      t.equal(single.status, preflightContinue ? 200 : 204, 'one Origin line is a preflight as before')
    }
  },
)

t.test('cors(): marks only the preflights it validated and passed on (preflightContinue)', async (t) => {
  const seen: Array<boolean> = []
  const handler: RawHandler = (req, res) => {
    seen.push(corsPreflightState.has(req))
    res.end()
  }
  const url = await server(t, { origins: [APP], methods: ['PUT'], preflightContinue: true }, handler)
  await preflight(url, APP, 'PUT')
  await preflight(url, 'https://evil.test', 'PUT')
  await preflight(url, APP, 'DELETE')
  await preflight(url, APP, 'PUT', 'x-not-allowed')
  await get(url, APP, 'OPTIONS')
  await get(url, APP)
  t.same(seen, [true, false, false, false, false, false])
  const answered = await server(t, { origins: [APP] }, handler)
  t.equal((await preflight(answered, APP, 'PUT')).status, 204)
  t.equal(seen.length, 6, 'a preflight cors() answers itself never reaches the handler')
})

t.test('cors(): errors from inner layers carry the CORS headers', async (t) => {
  const auth = defineMiddleware(
    { name: 'jwtAuth' },
    () =>
      function authHandler(req, res) {
        sendError(req, res, new HttpError(401, 'Token expired', { code: 'token_expired' }))
      },
  )
  const url = await serve(t, compose(cors({ origins: [APP], credentials: true }), auth)(ok))
  const res = await get(url, APP)
  t.equal(res.status, 401)
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers['access-control-allow-credentials'], 'true')
})

t.test('cors(): a 500 from the error boundary outside still carries CORS headers (Starlette#1116)', async (t) => {
  const boundary = defineMiddleware(
    { name: 'errorBoundary' },
    (next) =>
      async function boundaryHandler(req, res) {
        try {
          await next(req, res)
        } catch {
          sendError(req, res, new HttpError(500))
        }
      },
  )
  const url = await serve(
    t,
    compose(
      boundary,
      cors({ origins: [APP] }),
    )(() => {
      throw new Error('boom')
    }),
  )
  const res = await get(url, APP)
  t.equal(res.status, 500)
  t.equal(res.headers['access-control-allow-origin'], APP)
  t.equal(res.headers.vary, 'Origin')
})

t.test('cors(): headers on empty, HEAD, 204, 304 and writeHead(status, headers) responses', async (t) => {
  const cases: Array<[string, RawHandler]> = [
    ['empty end()', (_req, res) => res.end()],
    [
      '204',
      (_req, res) => {
        res.statusCode = 204
        res.end()
      },
    ],
    [
      '304',
      (_req, res) => {
        res.statusCode = 304
        res.end()
      },
    ],
    [
      'writeHead object',
      (_req, res) => {
        res.writeHead(201, { 'content-type': 'text/plain', 'access-control-allow-origin': 'https://spoof.test' })
        res.end('x')
      },
    ],
  ]
  for (const [name, handler] of cases) {
    const res = await get(await server(t, { origins: [APP] }, handler), APP)
    t.equal(res.headers['access-control-allow-origin'], APP, name)
    t.equal(res.headers.vary, 'Origin', name)
  }
  const head = await get(await server(t, { origins: [APP] }), APP, 'HEAD')
  t.equal(head.headers['access-control-allow-origin'], APP)
  t.equal(head.body.length, 0)
})

t.test('cors(): a streamed body with backpressure passes through whole', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'a')
  let sawFalse = false
  const handler: RawHandler = async (_req, res) => {
    if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawFalse = true
    await new Promise<void>((done) => res.end(done))
  }
  const url = await server(t, { origins: [APP] }, handler)
  const res = await fetch(url, { headers: { origin: APP } })
  t.equal(res.headers.get('access-control-allow-origin'), APP)
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawFalse, 'write() returned false at least once')
})

const ALLOWED_BASES = [APP, 'https://a.example.org', 'https://api.example.net']

t.test('cors(): property: mutations of allowed origins never get Access-Control-Allow-Origin', async (t) => {
  const url = await server(t, {
    origins: [APP, 'https://*.example.org', /^https:\/\/[a-z]+\.example\.net$/],
    credentials: true,
  })
  const base = fc.constantFrom(...ALLOWED_BASES)
  const mutated = fc
    .tuple(
      base,
      fc.integer({ min: 0, max: 8 }),
      fc.string({ minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 65535 }),
    )
    .map(([o, kind, s, port]) => {
      switch (kind) {
        case 0:
          return s + o
        case 1:
          return o + (s.startsWith('.') ? `~${s}` : s)
        case 2:
          return o.replace(/[a-z](?=[^/]*$)/, (c) => c.toUpperCase())
        case 3:
          return `${o}:${port}`
        case 4:
          return `${o}.`
        case 5:
          return `${o}/`
        case 6:
          return o.replace('://', '://user:pw@')
        case 7:
          return o.replace('a', '\u0430')
        default:
          return 'null'
      }
    })
  await fc.assert(
    fc.asyncProperty(mutated, async (origin) => {
      // Raw bytes: the header goes out as UTF-8, whatever it holds (CR, LF and NUL excepted, which no client can send).
      const clean = origin.replace(/[\r\n\0]/g, '_')
      // HTTP strips leading and trailing whitespace from field values (RFC 9110 §5.5): " " + origin is the origin.
      fc.pre(!ALLOWED_BASES.includes(clean.replace(/^[ \t]+|[ \t]+$/g, '')))
      const raw = await rawExchange(
        url,
        Buffer.concat([
          Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: '),
          Buffer.from(clean),
          Buffer.from('\r\n\r\n'),
        ]),
      )
      const res = parseRawResponse(raw)
      return res.status === 400 || (res.status === 200 && res.headers['access-control-allow-origin'] === undefined)
    }),
    { numRuns: 150 },
  )
})

t.test('cors(): must wrap auth and rate limits, and sit inside the error boundary', async (t) => {
  const named = (name: string) => defineMiddleware({ name }, (next) => next)
  for (const inner of ['jwtAuth', 'apiKey', 'session', 'rateLimit']) {
    t.throws(() => compose({ strict: true }, named(inner), cors()), OrderingError, inner)
    t.doesNotThrow(() => compose({ strict: true }, cors(), named(inner)), inner)
  }
  t.throws(() => compose({ strict: true }, cors(), named('errorBoundary')), OrderingError)
})

t.test('cors(): config: checkUpgradeOrigin must be true or false', async (t) => {
  t.throws(() => cors({ checkUpgradeOrigin: 'no' as never }), {
    name: 'ConfigError',
    message: /option "checkUpgradeOrigin" must be true or false; received "no" \(string\)/,
  })
})

t.test('cors(): config: "*" with credentials throws, naming the fix', async (t) => {
  t.throws(() => cors({ credentials: true }), {
    name: 'ConfigError',
    message:
      /^cors\(\): option "origins" must be a list of origins when credentials is true; received "\*" \(string\)\. List the origins.*dangerouslyAllowAnyOriginWithCredentials: true\.$/,
  })
  t.throws(() => cors({ origins: '*', credentials: true }), {
    name: 'ConfigError',
    message: /option "origins" must be a list of origins when credentials is true/,
  })
})

t.test('cors(): config: "null" with credentials throws, naming the fix', async (t) => {
  t.throws(() => cors({ origins: ['null'], credentials: true }), {
    name: 'ConfigError',
    message:
      /^cors\(\): option "origins" must be origins other than "null" when credentials is true; received "null" \(string\)\. Any site can send Origin: null from a sandboxed iframe.*Remove "null".*or set credentials: false\.$/,
  })
  t.throws(() => cors({ origins: [APP, 'null'], credentials: true }), {
    name: 'ConfigError',
    message: /must be origins other than "null" when credentials is true/,
  })
  t.throws(() => cors({ origins: 'null', credentials: true }), {
    name: 'ConfigError',
    message: /must be origins other than "null"/,
  })
  t.throws(() => cors({ origins: [APP, /^(?:null|https:\/\/app\.test)$/], credentials: true }), {
    name: 'ConfigError',
    message:
      /must be origins other than "null" when credentials is true; received \/\^\(\?:null\|https:.*\(RegExp\).*or the RegExp that matches it/,
  })
  t.doesNotThrow(() => cors({ origins: [APP, 'null'] }), 'without credentials "null" may be listed')
  t.doesNotThrow(() => cors({ origins: [APP, /^https:\/\/[a-z]+\.app\.test$/], credentials: true }))
})

t.test('cors(): config: the dangerous option needs credentials and no list', async (t) => {
  t.throws(() => cors({ dangerouslyAllowAnyOriginWithCredentials: true }), {
    name: 'ConfigError',
    message:
      /option "dangerouslyAllowAnyOriginWithCredentials" must be used only with credentials: true.*already allows everyone/,
  })
  t.throws(() => cors({ dangerouslyAllowAnyOriginWithCredentials: true, credentials: true, origins: [APP] }), {
    name: 'ConfigError',
    message: /You listed origins: drop this option/,
  })
})

t.test('cors(): config: RegExps must be anchored', async (t) => {
  t.throws(() => cors({ origins: [/example\.com$/] }), {
    name: 'ConfigError',
    message:
      /option "origins" must be RegExps anchored with \^ and \$.*This one is not anchored at the start.*Write it like/,
  })
  t.throws(() => cors({ origins: /^https:\/\/example\.com/ }), {
    name: 'ConfigError',
    message: /This one is not anchored at the end/,
  })
  t.throws(() => cors({ origins: [/^https:\/\/a\.test|https:\/\/b\.test$/] }), {
    name: 'ConfigError',
    message: /top-level \|/,
  })
  t.throws(() => cors({ origins: [/^https:\/\/a\.test$/g] }), { name: 'ConfigError', message: /g or y flag/ })
  t.throws(() => cors({ origins: [/^https:\/\/a\.test$/m] }), { name: 'ConfigError', message: /m flag/ })
  t.throws(() => cors({ origins: [/^https:\/\/app.example\.com$/] }), {
    name: 'ConfigError',
    message: /unescaped "\."/,
  })
})

t.test('cors(): config: origins have a scheme and no path', async (t) => {
  t.throws(() => cors({ origins: ['app.example.com'] }), {
    name: 'ConfigError',
    message: /received "app\.example\.com" \(string\)\. An origin has a scheme: write "https:\/\/app\.example\.com"\./,
  })
  t.throws(() => cors({ origins: ['https://app.example.com/'] }), {
    name: 'ConfigError',
    message: /not even a trailing slash.*write "https:\/\/app\.example\.com"\./,
  })
  t.throws(() => cors({ origins: ['https://app.example.com/api'] }), {
    name: 'ConfigError',
    message: /An origin has no path/,
  })
})

t.test('cors(): config: no default port in an origin', async (t) => {
  t.throws(() => cors({ origins: ['https://app.example.com:443'] }), {
    name: 'ConfigError',
    message: /leave the default port out.*write "https:\/\/app\.example\.com"/,
  })
})

t.test('cors(): config: "*" only alone or as the first label', async (t) => {
  t.throws(() => cors({ origins: [APP, '*'] }), {
    name: 'ConfigError',
    message: /pass origins: "\*" itself, not in a list/,
  })
  t.throws(() => cors({ origins: ['https://a.*.example.com'] }), {
    name: 'ConfigError',
    message: /"\*" may only be the whole first label/,
  })
  t.throws(() => cors({ origins: ['https://*example.com'] }), {
    name: 'ConfigError',
    message: /"\*" may only be the whole first label/,
  })
  t.throws(() => cors({ origins: ['https://*.com'] }), {
    name: 'ConfigError',
    message: /A wildcard needs a domain of two labels or more/,
  })
  t.throws(() => cors({ origins: ['https://user@app.example.com'] }), {
    name: 'ConfigError',
    message: /received "https:\/\/user@app\.example\.com"/,
  })
  t.throws(() => cors({ origins: ['https://app.example.com.'] }), {
    name: 'ConfigError',
    message: /received "https:\/\/app\.example\.com\."/,
  })
  t.throws(() => cors({ origins: ['http://*.testserver'] }), {
    name: 'ConfigError',
    message:
      /"\*\.testserver" accepts every host under "testserver".*reserved for local use: "\*\.localhost", "\*\.test"/,
  })
  for (const origin of ['http://*.test', 'http://*.internal:8080', 'https://*.lan', 'http://*.home.arpa'])
    t.doesNotThrow(() => cors({ origins: [origin] }), origin)
})

t.test('cors(): config: lists hold strings or RegExps, at least one', async (t) => {
  t.throws(() => cors({ origins: [] }), {
    name: 'ConfigError',
    message: /option "origins" must be a non-empty list of origins/,
  })
  t.throws(() => cors({ origins: [() => true] as unknown as string[] }), {
    name: 'ConfigError',
    message: /Pass a function as `origins` itself/,
  })
})

t.test('cors(): config: methods are tokens, at least one', async (t) => {
  t.throws(() => cors({ methods: ['GET', 'BAD METHOD'] }), {
    name: 'ConfigError',
    message: /option "methods\[1\]" must be an HTTP method \(a token\); received "BAD METHOD"/,
  })
  t.throws(() => cors({ methods: [] }), {
    name: 'ConfigError',
    message: /option "methods" must be a non-empty list of methods or "\*"/,
  })
})

t.test('cors(): config: allowed and exposed headers are header names', async (t) => {
  t.throws(() => cors({ allowedHeaders: ['x ok'] }), {
    name: 'ConfigError',
    message: /option "allowedHeaders\[0\]" must be a header name/,
  })
  t.throws(() => cors({ exposedHeaders: ['x:y'] }), {
    name: 'ConfigError',
    message: /option "exposedHeaders\[0\]" must be a header name/,
  })
  t.doesNotThrow(() => cors({ exposedHeaders: ['*'] }))
})

t.test('cors(): config: exposedHeaders "*" means nothing with credentials', async (t) => {
  t.throws(() => cors({ origins: [APP], credentials: true, exposedHeaders: ['*'] }), {
    name: 'ConfigError',
    message: /option "exposedHeaders\[0\]" must be header names when credentials is true; received "\*"/,
  })
})

t.test('cors(): config: maxAge is whole seconds up to a day', async (t) => {
  t.throws(() => cors({ maxAge: 600_000 }), {
    name: 'ConfigError',
    message: /option "maxAge" must be an integer from 0 to 86400; received 600000 \(number\)\. maxAge is in seconds/,
  })
  t.throws(() => cors({ maxAge: -1 }), {
    name: 'ConfigError',
    message: /option "maxAge" must be an integer from 0 to 86400/,
  })
  t.throws(() => cors({ maxAge: 1.5 }), { name: 'ConfigError', message: /option "maxAge" must be an integer/ })
})

t.test('cors(): config: flags are booleans', async (t) => {
  for (const option of [
    'credentials',
    'privateNetwork',
    'preflightContinue',
    'dangerouslyAllowAnyOriginWithCredentials',
  ] as const) {
    t.throws(
      () => cors({ [option]: 'true' }),
      { name: 'ConfigError', message: new RegExp(`option "${option}" must be true or false`) },
      option,
    )
  }
})

t.test('cors(): config: unknown options are refused', async (t) => {
  t.throws(() => cors({ maxAgeSeconds: 600 } as CorsOptions), {
    name: 'ConfigError',
    message: 'cors(): unknown option "maxAgeSeconds"; did you mean "maxAge"?',
  })
})
