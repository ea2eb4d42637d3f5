// Every refusing layer of the library, answered in each format an errorBoundary() can choose:
// the table walks each layer's refusal over a real socket and checks the content type, the body
// shape and that the refusal's own headers (and the request id) survived the format.
import t, { type Test } from 'tap'
import {
  apiKey,
  bodyLimit,
  compose,
  cors,
  errorBoundary,
  type ErrorFormat,
  getSession,
  httpsRedirect,
  jwtAuth,
  loadShedding,
  memorySessionStore,
  type Middleware,
  type RawHandler,
  rateLimit,
  requestId,
  type SessionStore,
  session,
  timeout,
  trustedHost,
  when,
} from '../../lib/index.js'
import { type HttpOptions, type HttpResult, httpRequest } from '../helpers/http.js'
import { serve } from '../helpers/serve.js'
import { silenceWarningOutput, until } from '../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'

interface Refusal {
  /** The layers under test, inside errorBoundary() and requestId(). */
  readonly layers: (t: Test) => Middleware[]
  readonly handler?: RawHandler
  /** Sends whatever it takes and returns the refused answer. */
  readonly refuse: (url: string) => Promise<HttpResult>
  readonly path: string
  readonly status: number
  readonly code: string
  /** Headers the refusal must carry in every format. */
  readonly headers: readonly string[]
}

const get = (url: string, path: string, options: HttpOptions = {}) => httpRequest(`${url}${path}`, options)

const ok: RawHandler = (_req, res) => {
  res.end('ok')
}

const REFUSALS: Record<string, Refusal> = {
  trustedHost: {
    layers: () => [trustedHost({ allowedHosts: ['good.example'] })],
    refuse: (url) => get(url, '/', { headers: { host: 'evil.example' } }),
    path: '/',
    status: 400,
    code: 'host_not_allowed',
    headers: [],
  },
  httpsRedirect: {
    layers: () => [httpsRedirect({ ambiguousPaths: 'refuse' })],
    refuse: (url) => get(url, '/a/..%2fb'),
    path: '/a/..%2fb',
    status: 400,
    code: 'ambiguous_path',
    headers: [],
  },
  cors: {
    layers: () => [cors({ origins: ['https://app.example'] })],
    refuse: (url) =>
      get(url, '/x', {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      }),
    path: '/x',
    status: 403,
    code: 'cors_origin_not_allowed',
    headers: [],
  },
  rateLimit: {
    // Inside cors: the 429 must still carry the CORS headers, or the calling page cannot read it.
    layers: () => [cors({ origins: ['https://app.example'] }), rateLimit({ limit: 1 })],
    handler: ok,
    refuse: async (url) => {
      const headers = { origin: 'https://app.example' }
      await get(url, '/limited', { headers })
      return get(url, '/limited?page=2', { headers })
    },
    path: '/limited',
    status: 429,
    code: 'too_many_requests',
    headers: ['retry-after', 'ratelimit', 'ratelimit-policy', 'access-control-allow-origin'],
  },
  loadShedding: {
    layers: (t) => {
      const shedding = loadShedding({ maxInFlight: 1, maxEventLoopDelayMs: 0 })
      t.teardown(() => shedding.close())
      return [shedding]
    },
    handler: holdUntilReleased,
    refuse: async (url) => {
      const held = get(url, '/hold')
      await until(() => releases.length > 0)
      const refused = await get(url, '/busy')
      for (const release of releases.splice(0)) release()
      await held
      return refused
    },
    path: '/busy',
    status: 503,
    code: 'overloaded',
    headers: ['retry-after'],
  },
  bodyLimit: {
    layers: () => [bodyLimit({ limit: 10 })],
    handler: ok,
    refuse: (url) => get(url, '/upload', { method: 'POST', body: 'x'.repeat(100) }),
    path: '/upload',
    status: 413,
    code: 'content_too_large',
    headers: [],
  },
  timeout: {
    layers: () => [timeout({ ms: 20, retryAfterSeconds: 7 })],
    // Never answers: the deadline does.
    handler: () => undefined,
    refuse: (url) => get(url, '/slow'),
    path: '/slow',
    status: 503,
    code: 'timeout',
    headers: ['retry-after'],
  },
  jwtAuth: {
    layers: () => [jwtAuth({ secret: SECRET })],
    handler: ok,
    refuse: (url) => get(url, '/me'),
    path: '/me',
    status: 401,
    code: 'missing_token',
    headers: ['www-authenticate'],
  },
  apiKey: {
    layers: () => [apiKey({ keys: ['key-a-0123456789abcdef'] })],
    handler: ok,
    refuse: (url) => get(url, '/data', { headers: { 'x-api-key': 'key-b-0123456789abcdef' } }),
    path: '/data',
    status: 401,
    code: 'invalid_api_key',
    headers: ['www-authenticate'],
  },
  session: {
    layers: () => [session({ secrets: [SECRET], store: failingLoads() })],
    handler: (req, res) => {
      if (req.url === '/login') getSession(req).set('user', 'ada')
      res.end('ok')
    },
    refuse: async (url) => {
      const login = await get(url, '/login')
      const cookie = String(login.headers['set-cookie']?.[0]).split(';', 1)[0]!
      return get(url, '/account', { headers: { cookie } })
    },
    path: '/account',
    status: 503,
    code: 'session_unavailable',
    headers: ['retry-after'],
  },
  when: {
    layers: () => [when({ paths: ['/admin/*'], ambiguousPaths: 'refuse' }, jwtAuth({ secret: SECRET }))],
    handler: ok,
    refuse: (url) => get(url, '/admin/..%2fpublic'),
    path: '/admin/..%2fpublic',
    status: 400,
    code: 'ambiguous_path',
    headers: [],
  },
  errorBoundary: {
    layers: () => [],
    handler: () => {
      throw new Error('db-3.internal refused')
    },
    refuse: (url) => get(url, '/boom'),
    path: '/boom',
    status: 500,
    code: 'internal_server_error',
    headers: [],
  },
}

// loadShedding's held request: released by the scenario once the refusal is in.
const releases: (() => void)[] = []
function holdUntilReleased(req: Parameters<RawHandler>[0], res: Parameters<RawHandler>[1]) {
  if (req.url !== '/hold') return void res.end('ok')
  return new Promise<void>((done) => releases.push(done)).then(() => void res.end('ok'))
}

/** A session store whose loads fail (an outage) while saves work, so a cookie can be had first. */
function failingLoads(): SessionStore {
  const inner = memorySessionStore()
  return {
    kind: 'failing-loads',
    load: () => Promise.reject(new Error('store down')),
    save: (id, patch, ttl) => inner.save(id, patch, ttl),
    destroy: (id) => inner.destroy(id),
    close: () => inner.close(),
  }
}

const custom: ErrorFormat = ({ status, code, requestId, res }) => {
  res.setHeader('content-type', 'application/vnd.refusal+json')
  return { refused: code, status, requestId }
}

interface FormatCase {
  readonly format: ErrorFormat | undefined
  readonly contentType: string
  readonly check: (t: Test, body: Record<string, unknown>, r: Refusal, id: string) => void
}

const FORMATS: Record<string, FormatCase> = {
  'json (no format option)': {
    format: undefined,
    contentType: 'application/json; charset=utf-8',
    check: (t, body, r, id) => {
      t.match(body, { status: r.status, code: r.code, message: String, requestId: id })
      t.notOk('type' in body)
    },
  },
  problem: {
    format: 'problem',
    contentType: 'application/problem+json; charset=utf-8',
    check: (t, body, r, id) => {
      t.match(body, {
        type: 'about:blank',
        title: String,
        status: r.status,
        detail: String,
        instance: r.path,
        code: r.code,
        requestId: id,
      })
      t.notOk('message' in body)
    },
  },
  custom: {
    format: custom,
    contentType: 'application/vnd.refusal+json',
    check: (t, body, r, id) => {
      t.same(body, { refused: r.code, status: r.status, requestId: id })
    },
  },
}

for (const [formatName, f] of Object.entries(FORMATS)) {
  for (const [layer, r] of Object.entries(REFUSALS)) {
    t.test(`refusals: ${layer} in the ${formatName} format`, async (t) => {
      const boundary = errorBoundary(f.format === undefined ? {} : { format: f.format, onError: () => undefined })
      const url = await serve(t, compose(boundary, requestId(), ...r.layers(t))(r.handler ?? ok))
      const res = await r.refuse(url)
      t.equal(res.status, r.status)
      t.equal(res.headers['content-type'], f.contentType)
      t.equal(res.headers['content-length'], String(res.body.length))
      t.equal(res.headers['cache-control'], 'no-store')
      const id = res.headers['x-request-id']
      t.type(id, 'string', 'the request id header survives')
      for (const name of r.headers) t.ok(res.headers[name], `${name} survives`)
      f.check(t, JSON.parse(res.text) as Record<string, unknown>, r, String(id))
      // The whole word: 'db-3' alone also occurs in a random request id (…db-3…, 1 in 4096).
      t.notOk(res.text.includes('db-3.internal'), 'no internals')
    })
  }
}
