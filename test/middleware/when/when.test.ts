import fc from 'fast-check'
import t from 'tap'
import {
  compose,
  OrderingError,
  unless,
  when,
  type Middleware,
  type RawHandler,
  type RequestCondition,
} from '../../../lib/index.js'
import { defineMiddleware } from '../../../lib/core.js'
import { parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings } from '../../helpers/wait.js'

/** A layer that marks the response, so a test sees whether it ran. */
const mark = (name: string, security = false): Middleware =>
  defineMiddleware({ name, security }, (next) => (req, res) => {
    res.setHeader(`x-${name}`, 'ran')
    return next(req, res)
  })

const echo: RawHandler = (req, res) => {
  res.setHeader('x-handler', 'ran')
  res.end(req.url)
}

const raw = (url: string, target: string, method = 'GET') =>
  rawExchange(url, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(parseRawResponse)

async function ran(url: string, target: string, layer: string, method = 'GET'): Promise<boolean> {
  const res = await raw(url, target, method)
  return res.headers[`x-${layer}`] === 'ran'
}

/** The handler was reached only through `layer` (or not reached at all: Node refused the target). */
async function guarded(url: string, target: string, layer: string): Promise<boolean> {
  const res = await raw(url, target)
  return res.headers['x-handler'] !== 'ran' || res.headers[`x-${layer}`] === 'ran'
}

t.test('when(): runs the layers for matching paths only', async (t) => {
  const url = await serve(t, compose(when({ paths: ['/api/*'] }, mark('limit')))(echo))
  t.equal(await ran(url, '/api/users', 'limit'), true)
  t.equal(await ran(url, '/api', 'limit'), true)
  t.equal(await ran(url, '/apix', 'limit'), false, 'segment boundary')
  t.equal(await ran(url, '/', 'limit'), false)
  const res = await raw(url, '/api/users?x=1')
  t.equal(res.body.toString(), '/api/users?x=1', 'the URL is not changed')
})

// Every spelling a router might resolve to /admin must still get the protection.
const BYPASSES = [
  '/admin',
  '/%61dmin',
  '/%61%64%6d%69%6e/x',
  '//admin',
  '///admin/x',
  '/ADMIN',
  '/Admin/Users',
  '/public/../admin',
  '/public/%2e%2e/admin',
  '/./admin',
  '\\admin',
  '/public\\..\\admin',
  '/public/..%5cadmin',
  '/admin/',
  '/admin//x',
  '/public/..%2fadmin',
  '/admin?x=/public',
  '/admin#/public',
  'http://x/admin',
  'http://x//public/../admin',
]

t.test('unless(): bypass attempts on an exempt-list filter all get the protective layer', async (t) => {
  const url = await serve(t, compose(unless({ paths: ['/public/*', '/health'] }, mark('auth')))(echo))
  for (const target of BYPASSES) t.ok(await guarded(url, target, 'auth'), target)
  for (const target of ['/public/logo.png', '/PUBLIC/x', '/health', '/health/', '/health?x=1', 'http://x/health'])
    t.equal(await ran(url, target, 'auth'), false, target)
  // Ambiguous targets never borrow the exemption, whatever their normal form: Express and
  // Fastify route /admin/..%2fhealth as /admin/:page, and fold no `//`.
  for (const target of [
    '//health',
    '/admin/..%2fhealth',
    '/admin/..%5chealth',
    '/admin/x/%2e%2e/%2e%2e/health',
    '/admin/x/../../health',
    '/public/..;/admin',
    '/%68ealth',
    '/health/.',
  ]) {
    t.equal(await ran(url, target, 'auth'), true, target)
  }
})

t.test('when(): bypass attempts on a protect-list filter all get the protective layer', async (t) => {
  const url = await serve(t, compose(when({ paths: ['/admin/*'] }, mark('auth')))(echo))
  for (const target of BYPASSES) t.ok(await guarded(url, target, 'auth'), target)
  t.equal(await ran(url, '/administrator', 'auth'), false)
})

t.test('when(): ambiguous targets get the layers, even when their normal form is outside the filter', async (t) => {
  const url = await serve(t, compose(when({ paths: ['/admin/*'] }, mark('auth')))(echo))
  // Each is /admin/:page to Express 4, Express 5 and Fastify (test/integration/path-ambiguity.test.ts).
  for (const target of [
    '/admin/..',
    '/admin/%2e%2e',
    '/admin/.%2e',
    '/admin/..%2fx',
    '/admin/..%5cx',
    '/admin/x/..',
    '/admin;/x',
    '/admin/x%00',
  ]) {
    t.equal(await ran(url, target, 'auth'), true, target)
  }
  t.equal(await ran(url, '/public/x', 'auth'), false)
})

t.test('when(): ambiguousPaths "refuse" answers ambiguous targets 400, under when and unless alike', async (t) => {
  const a = await serve(t, compose(when({ paths: ['/admin/*'], ambiguousPaths: 'refuse' }, mark('auth')))(echo))
  const b = await serve(t, compose(unless({ paths: ['/public/*'], ambiguousPaths: 'refuse' }, mark('auth')))(echo))
  for (const url of [a, b]) {
    for (const target of ['/admin/..', '/public/..%2fadmin', '//admin', '/admin;x', '/%zz']) {
      const res = await raw(url, target)
      t.equal(res.status, 400, target)
      t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
      t.equal(res.headers['x-handler'], undefined)
    }
  }
  t.equal(await ran(a, '/admin/x', 'auth'), true)
  t.equal(await ran(b, '/public/x', 'auth'), false)
  const methodsOnly = await serve(t, compose(when({ methods: ['POST'], ambiguousPaths: 'refuse' }, mark('auth')))(echo))
  t.equal((await raw(methodsOnly, '/a/../b')).status, 400, 'a filter on methods alone refuses them too')
})

t.test('when(): a target that cannot be normalised gets the layers, under when and unless alike', async (t) => {
  const a = await serve(t, compose(when({ paths: ['/admin/*'] }, mark('auth')))(echo))
  const b = await serve(t, compose(unless({ paths: ['/*'] }, mark('auth')))(echo))
  for (const target of ['/%zz', '/admin%', '/%c3%28']) {
    t.equal(await ran(a, target, 'auth'), true, `when ${target}`)
    t.equal(await ran(b, target, 'auth'), true, `unless ${target}`)
  }
})

t.test('when(): property: any spelling of a protected path gets the layer', async (t) => {
  const url = await serve(t, compose(unless({ paths: ['/public/*'] }, mark('auth')))(echo))
  const segment = fc.stringMatching(/^[a-z0-9]{1,6}$/)
  const spelling = fc.record({
    segments: fc.array(segment, { minLength: 0, maxLength: 3 }),
    upper: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    encode: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    doubleSlash: fc.boolean(),
    detour: fc.boolean(),
    backslash: fc.boolean(),
  })
  await fc.assert(
    fc.asyncProperty(spelling, async (s) => {
      const admin = 'admin'
        .split('')
        .map((c, i) => (s.encode[i] ? `%${c.charCodeAt(0).toString(16)}` : s.upper[i] ? c.toUpperCase() : c))
        .join('')
      const sep = s.backslash ? '\\' : '/'
      const target = `${s.detour ? '/public/..' : ''}${s.doubleSlash ? '//' : sep}${admin}${s.segments.map((x) => `/${x}`).join('')}`
      return guarded(url, target, 'auth')
    }),
    { numRuns: 60 },
  )
  t.pass('every spelling was protected')
})

t.test('when(): caseSensitive compares case exactly', async (t) => {
  const url = await serve(t, compose(when({ paths: ['/admin/*'], caseSensitive: true }, mark('auth')))(echo))
  t.equal(await ran(url, '/admin/x', 'auth'), true)
  t.equal(await ran(url, '/ADMIN/x', 'auth'), false)
})

t.test('when(): methods, with GET covering HEAD; paths and methods must both match', async (t) => {
  const url = await serve(
    t,
    compose(
      when({ methods: ['get', 'POST'] }, mark('x')),
      when({ paths: ['/api/*'], methods: ['DELETE'] }, mark('y')),
    )(echo),
  )
  t.equal(await ran(url, '/', 'x', 'GET'), true)
  t.equal(await ran(url, '/', 'x', 'HEAD'), true)
  t.equal(await ran(url, '/', 'x', 'POST'), true)
  t.equal(await ran(url, '/', 'x', 'PUT'), false)
  t.equal(await ran(url, '/api/1', 'y', 'DELETE'), true)
  t.equal(await ran(url, '/other', 'y', 'DELETE'), false)
  t.equal(await ran(url, '/api/1', 'y', 'GET'), false)
  const skip = await serve(t, compose(unless({ methods: ['OPTIONS'] }, mark('z')))(echo))
  t.equal(await ran(skip, '/', 'z', 'OPTIONS'), false)
  t.equal(await ran(skip, '/', 'z', 'GET'), true)
})

t.test('when(): a predicate decides; unless negates it', async (t) => {
  const isJson = (req: import('node:http').IncomingMessage) => req.headers.accept === 'application/json'
  const url = await serve(t, compose(when(isJson, mark('a')), unless(isJson, mark('b')))(echo))
  const json = await rawExchange(
    url,
    'GET / HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n',
  ).then(parseRawResponse)
  t.equal(json.headers['x-a'], 'ran')
  t.equal(json.headers['x-b'], undefined)
  const html = await raw(url, '/')
  t.equal(html.headers['x-a'], undefined)
  t.equal(html.headers['x-b'], 'ran')
})

t.test('when(): builds the inner stack once, whatever the traffic', async (t) => {
  let builds = 0
  const counted: Middleware = (next) => {
    builds++
    return next
  }
  const url = await serve(t, compose(when({ paths: ['/x'] }, counted, mark('a')))(echo))
  for (let i = 0; i < 5; i++) await raw(url, i % 2 ? '/x' : '/y')
  t.equal(builds, 1)
})

t.test('when(): several layers run in order; each request calls next exactly once', async (t) => {
  const order: string[] = []
  const step =
    (name: string): Middleware =>
    (next) =>
    (req, res) => {
      order.push(name)
      return next(req, res)
    }
  const url = await serve(
    t,
    compose(
      when({ paths: ['/x'] }, step('a'), step('b')),
      step('after'),
    )((_req, res) => {
      order.push('handler')
      res.end()
    }),
  )
  await raw(url, '/x')
  await raw(url, '/y')
  t.same(order, ['a', 'b', 'after', 'handler', 'after', 'handler'])
  t.match(
    compose(when({ paths: ['/x'] }, step('a'), step('b'))).explain(),
    /when \(paths \/x: anonymous#1, anonymous#2\)/,
  )
})

t.test('when(): one inner layer keeps its name and ordering constraints', async (t) => {
  const cors = defineMiddleware(
    { name: 'cors', wraps: [{ name: 'jwtAuth', reason: 'preflights carry no token' }] },
    (next) => next,
  )
  const jwtAuth = defineMiddleware({ name: 'jwtAuth' }, (next) => next)
  const conditionalCors = when({ paths: ['/api/*'] }, cors)
  t.match(compose(conditionalCors, jwtAuth).explain(), /cors \(when paths \/api\/\*\)[\s\S]*ok\s+cors wraps jwtAuth/)
  t.throws(() => compose({ strict: true }, jwtAuth, conditionalCors), OrderingError)
})

t.test('when(): warns once when a security layer is made conditional', async (t) => {
  const seen = captureWarnings(t)
  const auth = mark('authLayerForWarning', true)
  unless({ paths: ['/public/*'] }, auth)
  unless({ paths: ['/public/*'] }, auth)
  when({ paths: ['/x'] }, mark('plain'))
  await new Promise((ok) => setImmediate(ok))
  const ours = seen.filter((w) => /authLayerForWarning/.test(w.message))
  t.equal(ours.length, 1)
  t.equal(ours[0]!.name, 'SecurityWarning')
  t.equal((ours[0] as NodeJS.ErrnoException).code, 'HTTP_ONION_CONDITIONAL_SECURITY')
  t.match(
    ours[0]!.message,
    /unless\(\): authLayerForWarning is a security layer, and unless\(paths \/public\/\*\) makes it conditional/,
  )
  t.notOk(seen.some((w) => /plain/.test(w.message)))
  // Inside a composed group too.
  when((req) => req.method === 'GET', compose(mark('nested'), mark('nestedSecurity', true)))
  await new Promise((ok) => setImmediate(ok))
  t.ok(seen.some((w) => /nestedSecurity is a security layer, and when\(predicate \(anonymous\)\)/.test(w.message)))
})

t.test('when(): passes responses through: empty end, HEAD, 204, 304, writeHead with headers, a throw', async (t) => {
  const url = await serve(
    t,
    compose(when({ paths: ['/*'] }, mark('a')))((req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else if (req.url === '/writehead') res.writeHead(201, { 'x-given': 'yes' }).end()
      else if (req.url === '/throw') throw new Error('boom')
      else res.end()
    }),
  )
  t.equal((await raw(url, '/')).body.length, 0)
  t.equal((await raw(url, '/', 'HEAD')).status, 200)
  t.equal((await raw(url, '/204')).status, 204)
  t.equal((await raw(url, '/304')).status, 304)
  t.equal((await raw(url, '/writehead')).headers['x-given'], 'yes')
  t.equal((await raw(url, '/throw')).status, 599)
})

t.test('when(): config: rejects bad conditions', async (t) => {
  const bad = (condition: RequestCondition, message: RegExp, layers: Middleware[] = [mark('a')]) =>
    t.throws(() => when(condition, ...layers), { name: 'ConfigError', message })
  bad(
    {},
    /when\(\): option "condition" must be a filter with paths, methods or both; received an object \(no keys\)\. An empty filter/,
  )
  bad(
    ['/x'] as never,
    /option "condition" must be a predicate \(req\) => boolean or a filter \{ paths, methods \}; received an array of 1\. Wrap the paths/,
  )
  bad(null as never, /option "condition" must be a predicate/)
  bad({ paths: ['admin'] }, /option "paths" must be path patterns.*Paths start with "\/": write "\/admin"/)
  bad({ paths: [/admin/] }, /option "paths" must be patterns whose RegExps start with \^/)
  bad({ methods: ['GET POST'] }, /option "methods" must be HTTP method names; received "GET POST"/)
  bad({ methods: 'GET' as never }, /option "methods" must be an array/)
  bad({ path: ['/x'] } as never, /^when\(\): unknown option "path"; did you mean "paths"\?$/)
  bad({ paths: ['/x'] }, /option "layers" must be at least one middleware after the condition/, [])
  t.throws(() => unless({ caseSensitive: 'yes' as never, paths: ['/x'] }, mark('a')), {
    name: 'ConfigError',
    message: /unless\(\): option "caseSensitive" must be true or false/,
  })
  bad(
    { paths: ['/x'], ambiguousPaths: 'allow' as never },
    /when\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"; received "allow"/,
  )
})
