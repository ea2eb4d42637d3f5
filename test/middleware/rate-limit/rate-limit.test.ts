import { request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import {
  compose,
  memoryStore,
  rateLimit,
  type Middleware,
  type RateLimitDecision,
  type RateLimitOptions,
  type RateLimitPolicy,
  type RateLimitStore,
  type RawHandler,
} from '../../../lib/index.js'
import {
  checkOrdering,
  defineMiddleware,
  middlewareInfo,
  normalizeIp,
  setClientIdentity,
  userIdState,
} from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { rawGet } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { silenceWarningOutput } from '../../helpers/wait.js'

const ok: RawHandler = (_req, res) => res.end('ok')

/** Serve `handler` behind `rateLimit(options)`; returns the URL and the limiter. */
async function limited(t: Test, options: RateLimitOptions, handler: RawHandler = ok, outer: Middleware[] = []) {
  const limiter = rateLimit(options)
  t.teardown(() => limiter.close())
  const url = await serve(t, compose(...outer, limiter)(handler))
  return { url, limiter }
}

// Stands in for proxyHeaders(): records the address a trusted proxy would have vouched for.
const asClient = defineMiddleware(
  { name: 'testClientAddress' },
  (next) =>
    function asClientHandler(req, res) {
      const ip = req.headers['x-test-client']
      if (typeof ip === 'string') {
        setClientIdentity(req, {
          ip: normalizeIp(ip) ?? ip,
          scheme: 'http',
          host: req.headers.host,
          prefix: '',
          viaTrustedProxy: true,
        })
      }
      return next(req, res)
    },
)

const statuses = async (url: string, count: number, init: RequestInit = {}) => {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const res = await fetch(url, init)
    await res.arrayBuffer()
    out.push(res.status)
  }
  return out
}

/** GET from a chosen loopback source address (Linux routes all of 127/8 to lo). */
function fromAddress(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((ok, fail) => {
    request(url, { localAddress, headers, agent: false }, (res) => {
      res.resume()
      res.on('end', () => ok(res.statusCode!))
    })
      .on('error', fail)
      .end()
  })
}

t.test('rateLimit(): allowed responses carry RateLimit-Policy and RateLimit (draft-11 syntax)', async (t) => {
  const { url } = await limited(t, { limit: 3, windowMs: 60_000 })
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.equal(res.headers.get('ratelimit-policy'), '"default";q=3;w=60')
  t.equal(res.headers.get('ratelimit'), '"default";r=2;t=60')
  t.equal(res.headers.get('x-ratelimit-limit'), null, 'no legacy headers unless asked')
  t.equal(await res.text(), 'ok')
})

t.test('rateLimit(): the request past the limit gets 429 in the library JSON shape with Retry-After', async (t) => {
  let clock = 1_000_000
  const { url, limiter } = await limited(t, { limit: 2, windowMs: 30_000, store: memoryStore({ now: () => clock }) })
  t.same(await statuses(url, 2), [200, 200])
  clock += 10_000
  const res = await fetch(url)
  t.equal(res.status, 429)
  t.equal(res.headers.get('retry-after'), '20')
  t.equal(res.headers.get('ratelimit'), '"default";r=0;t=20')
  t.equal(res.headers.get('ratelimit-policy'), '"default";q=2;w=30')
  t.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
  t.same(await res.json(), {
    status: 429,
    code: 'too_many_requests',
    message: 'Too Many Requests',
    retryAfterSeconds: 20,
  })
  t.match(limiter.stats(), { allowed: 2, limited: 1, skipped: 0, storeFailures: 0 })
})

t.test(
  'rateLimit(): 500 concurrent requests with limit 100 get exactly 100 answers of 200 (memory store)',
  async (t) => {
    const { url } = await limited(t, { limit: 100, windowMs: 3_600_000 })
    const results = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const res = await fetch(url)
        await res.arrayBuffer()
        return { status: res.status, remaining: res.headers.get('ratelimit') }
      }),
    )
    t.equal(results.filter((r) => r.status === 200).length, 100)
    t.equal(results.filter((r) => r.status === 429).length, 400)
    const remaining = results
      .filter((r) => r.status === 200)
      .map((r) => Number(/r=(\d+)/.exec(r.remaining!)![1]))
      .sort((a, b) => a - b)
    t.same(
      remaining,
      Array.from({ length: 100 }, (_, i) => i),
      'each allowed request saw its own remaining',
    )
  },
)

t.test(
  'rateLimit(): remaining never increases within a window, and the window rolls over on the injected clock',
  async (t) => {
    let clock = 5_000_000
    const { url } = await limited(t, { limit: 5, windowMs: 10_000, store: memoryStore({ now: () => clock }) })
    const seen: number[] = []
    for (let i = 0; i < 8; i++) {
      clock += 1000
      const res = await fetch(url)
      await res.arrayBuffer()
      seen.push(Number(/r=(\d+)/.exec(res.headers.get('ratelimit')!)![1]))
    }
    t.same(seen, [4, 3, 2, 1, 0, 0, 0, 0])
    clock += 3000 // 10 s after the first request of the window
    const res = await fetch(url)
    t.equal(res.status, 200)
    t.equal(res.headers.get('ratelimit'), '"default";r=4;t=10')
  },
)

for (const algorithm of ['sliding-window', 'token-bucket'] as const) {
  t.test(
    `rateLimit(): ${algorithm} over HTTP: refuses past the limit, then lets requests through as quota returns`,
    async (t) => {
      let clock = 9_000_000
      const { url } = await limited(t, {
        limit: 4,
        windowMs: 4000,
        algorithm,
        store: memoryStore({ now: () => clock }),
      })
      t.same(await statuses(url, 5), [200, 200, 200, 200, 429])
      clock += algorithm === 'token-bucket' ? 1000 : 5000
      t.same(await statuses(url, 2), [200, 429])
    },
  )
}

t.test('rateLimit(): legacyHeaders adds X-RateLimit-*; headers: false drops the draft fields', async (t) => {
  const { url } = await limited(t, { limit: 5, windowMs: 60_000, legacyHeaders: true, headers: false })
  const before = Math.floor(Date.now() / 1000)
  const res = await fetch(url)
  t.equal(res.headers.get('x-ratelimit-limit'), '5')
  t.equal(res.headers.get('x-ratelimit-remaining'), '4')
  const reset = Number(res.headers.get('x-ratelimit-reset'))
  t.ok(reset >= before + 60 && reset <= before + 62, `reset ${reset} is epoch seconds one window ahead`)
  t.equal(res.headers.get('ratelimit'), null)
  t.equal(res.headers.get('ratelimit-policy'), null)
})

t.test('rateLimit(): the policy name appears in both fields', async (t) => {
  const { url } = await limited(t, { limit: 5, windowMs: 1500, name: 'burst' })
  const res = await fetch(url)
  t.equal(res.headers.get('ratelimit-policy'), '"burst";q=5;w=2')
  t.match(res.headers.get('ratelimit'), /^"burst";r=4;t=2$/)
})

t.test('rateLimit(): X-Forwarded-For from a peer never changes the key without proxyHeaders', async (t) => {
  const { url } = await limited(t, { limit: 2 })
  const spoofed = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '2001:db8::1']
  const got = []
  for (const ip of spoofed)
    got.push(
      (await httpRequest(url, { headers: { 'x-forwarded-for': ip, forwarded: `for=${ip}`, 'x-real-ip': ip } })).status,
    )
  t.same(got, [200, 200, 429, 429])
})

t.test(
  'rateLimit(): distinct IPv4 peers get distinct quotas (real source addresses 127.0.0.2 and 127.0.0.3)',
  async (t) => {
    const { url } = await limited(t, { limit: 1 })
    t.equal(await fromAddress(url, '127.0.0.2'), 200)
    t.equal(await fromAddress(url, '127.0.0.2', { 'x-forwarded-for': '127.0.0.3' }), 429)
    t.equal(await fromAddress(url, '127.0.0.3'), 200)
  },
)

t.test('rateLimit(): IPv6 addresses of one /64 share a key, however written; other /64s do not', async (t) => {
  const { url } = await limited(t, { limit: 2 }, ok, [asClient])
  const as = (ip: string) => httpRequest(url, { headers: { 'x-test-client': ip } }).then((r) => r.status)
  t.equal(await as('2001:db8:1:2::1'), 200)
  t.equal(await as('2001:DB8:1:2:FFFF:0:0:9'), 200)
  t.equal(await as('2001:0db8:0001:0002:abcd::42'), 429)
  t.equal(await as('2001:db8:1:3::1'), 200, 'the next /64 is another client')
  t.equal(await as('::ffff:192.0.2.7'), 200)
  t.equal(await as('192.0.2.7'), 200, 'an IPv4-mapped address is the IPv4 address')
  t.equal(await as('192.0.2.7'), 429)
})

t.test('rateLimit(): ipv6Subnet 48 groups a whole /48', async (t) => {
  const { url } = await limited(t, { limit: 1, ipv6Subnet: 48 }, ok, [asClient])
  const as = (ip: string) => httpRequest(url, { headers: { 'x-test-client': ip } }).then((r) => r.status)
  t.equal(await as('2001:db8:1:2::1'), 200)
  t.equal(await as('2001:db8:1:ffff::1'), 429)
  t.equal(await as('2001:db8:2::1'), 200)
})

t.test('rateLimit(): key "user" counts per user id, falling back to the address for anonymous requests', async (t) => {
  const fakeAuth = defineMiddleware(
    { name: 'fakeAuth' },
    (next) =>
      function fakeAuthHandler(req, res) {
        const user = req.headers['x-user']
        if (typeof user === 'string') userIdState.set(req, user)
        return next(req, res)
      },
  )
  const { url } = await limited(t, { limit: 1, key: 'user' }, ok, [fakeAuth])
  const as = (user?: string) => httpRequest(url, { headers: user ? { 'x-user': user } : {} }).then((r) => r.status)
  t.equal(await as('alice'), 200)
  t.equal(await as('alice'), 429)
  t.equal(await as('bob'), 200)
  t.equal(await as(), 200, 'anonymous: keyed by address')
  t.equal(await as(), 429)
})

t.test('rateLimit(): a sync or async key function chooses the key; over-long keys are hashed', async (t) => {
  const keys: string[] = []
  const spy: RateLimitStore = { ...memoryStore(), kind: 'spy' }
  const inner = memoryStore()
  spy.consume = (key, policy, limit, cost) => {
    keys.push(key)
    return inner.consume(key, policy, limit, cost)
  }
  const { url } = await limited(t, { limit: 1, store: spy, key: async (req) => String(req.headers['x-tenant'] ?? '') })
  const as = (tenant: string) => httpRequest(url, { headers: { 'x-tenant': tenant } }).then((r) => r.status)
  t.equal(await as('acme'), 200)
  t.equal(await as('acme'), 429)
  t.equal(await as('globex'), 200)
  t.equal(await as('x'.repeat(5000)), 200)
  t.equal(await as('x'.repeat(5000)), 429)
  t.same(keys.slice(0, 3), ['acme', 'acme', 'globex'])
  t.match(keys[3], /^sha256:[\w-]{43}$/)
  const { url: syncUrl } = await limited(t, { limit: 1, key: (req) => req.url!, name: 'sync' })
  t.same(await statuses(`${syncUrl}/a`, 2), [200, 429])
  t.same(await statuses(`${syncUrl}/b`, 1), [200])
})

t.test('rateLimit(): a limit function sets per-request quotas (per-tenant limits from a database)', async (t) => {
  const plans: Record<string, number> = { free: 1, pro: 3 }
  const { url } = await limited(t, {
    key: (req) => String(req.headers['x-tenant']),
    limit: async (req) => {
      await new Promise((ok) => setImmediate(ok))
      return plans[String(req.headers['x-tenant'])] ?? 0
    },
  })
  const as = (tenant: string) => httpRequest(url, { headers: { 'x-tenant': tenant } })
  const free = await as('free')
  t.equal(free.headers['ratelimit-policy'], '"default";q=1;w=60')
  t.equal((await as('free')).status, 429)
  const pro = [await as('pro'), await as('pro'), await as('pro'), await as('pro')]
  t.same(
    pro.map((r) => r.status),
    [200, 200, 200, 429],
  )
  t.equal(pro[0]!.headers['ratelimit-policy'], '"default";q=3;w=60')
  t.equal((await as('unknown')).status, 429, 'limit 0 refuses')
})

t.test('rateLimit(): costs weigh requests', async (t) => {
  const { url } = await limited(t, { limit: 10, cost: (req) => (req.url === '/export' ? 6 : 1) })
  t.equal((await fetch(`${url}/export`)).status, 200)
  const res = await fetch(`${url}/item`)
  t.equal(res.headers.get('ratelimit'), '"default";r=3;t=60')
  t.equal((await fetch(`${url}/export`)).status, 429)
  t.same(await statuses(`${url}/item`, 4), [200, 200, 200, 429])
})

t.test('rateLimit(): skip and exempt paths are not counted and get no headers', async (t) => {
  const { url, limiter } = await limited(t, {
    limit: 1,
    skip: async (req) => req.headers['x-internal'] === 'yes',
    exempt: ['/health', '/static/*'],
  })
  for (const path of ['/health', '/HEALTH', '/health/', '/static/app.js', '/health?probe=1']) {
    const res = await httpRequest(`${url}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.headers.ratelimit, undefined, path)
  }
  t.equal((await httpRequest(url, { headers: { 'x-internal': 'yes' } })).status, 200)
  t.equal((await httpRequest(`${url}/api`)).status, 200)
  t.equal((await rawGet(url, '/health/../api')).status, 429, 'dot segments cannot borrow an exemption')
  t.equal((await httpRequest(`${url}/%zz`)).status, 429, 'a path that cannot be normalised is limited')
  t.equal((await httpRequest(`${url}/healthz`)).status, 429)
  // Ambiguous targets are limited whatever their normal form: Express serves
  // /api/..%2fhealth as /api/:action, so an exemption would give unlimited attempts.
  for (const path of [
    '/api/..%2fhealth',
    '/api/login/..%2f..%2fhealth',
    '/api/x/../../health',
    '/api/%2e%2e',
    '//health',
    '/%68ealth',
    '/static/x/../y.css',
  ]) {
    t.equal((await rawGet(url, path)).status, 429, path)
  }
  t.match(limiter.stats(), { skipped: 6, allowed: 1, limited: 10 })
})

t.test('rateLimit(): ambiguousPaths "refuse" answers ambiguous targets 400, uncounted', async (t) => {
  const { url, limiter } = await limited(t, { limit: 1, exempt: ['/health'], ambiguousPaths: 'refuse' })
  for (const path of ['/api/..%2fhealth', '//health', '/api;x', '/%zz']) {
    const res = await rawGet(url, path)
    t.equal(res.status, 400, path)
    t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
  }
  t.equal((await rawGet(url, '/health')).status, 200)
  t.equal((await rawGet(url, '/api')).status, 200, 'the quota is untouched')
  t.match(limiter.stats(), { skipped: 1, allowed: 1, limited: 0 })
  const noExempt = await limited(t, { limit: 1, ambiguousPaths: 'refuse' })
  t.equal((await rawGet(noExempt.url, '/a/../b')).status, 400, 'without exempt paths too')
  t.throws(() => rateLimit({ ambiguousPaths: true as never }), {
    name: 'ConfigError',
    message: /rateLimit\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"/,
  })
})

t.test('rateLimit(): a sync skip predicate', async (t) => {
  const { url } = await limited(t, { limit: 1, skip: (req) => req.method === 'OPTIONS' })
  t.same(await statuses(url, 3, { method: 'OPTIONS' }), [200, 200, 200])
  t.same(await statuses(url, 2), [200, 429])
})

t.test('rateLimit(): refundIf gives the cost back, so only failed logins count', async (t) => {
  const { url } = await limited(t, { limit: 2, refundIf: (_req, res) => res.statusCode < 400 }, (req, res) => {
    res.statusCode = req.headers.authorization === 'good' ? 200 : 401
    res.end()
  })
  const login = (auth: string) => httpRequest(url, { headers: { authorization: auth } }).then((r) => r.status)
  for (let i = 0; i < 5; i++) t.equal(await login('good'), 200)
  t.equal(await login('bad'), 401)
  t.equal(await login('bad'), 401)
  t.equal(await login('bad'), 429)
  t.equal(await login('good'), 429, 'the address is blocked, whatever the password')
})

/** A store that fails on demand. */
function flakyStore(): RateLimitStore & { failing: boolean } {
  const inner = memoryStore()
  return {
    kind: 'flaky',
    failing: true,
    consume(key, policy, limit, cost) {
      return this.failing ? Promise.reject(new Error('store down')) : inner.consume(key, policy, limit, cost)
    },
    refund(key, policy, limit, cost) {
      return this.failing ? Promise.reject(new Error('store down')) : inner.refund(key, policy, limit, cost)
    },
    reset: (key, policy) => inner.reset(key, policy),
    close: () => inner.close(),
  }
}

function captureWarnings(t: Test) {
  const warnings: Error[] = []
  const listener = (w: Error) => {
    if (w.name === 'HttpOnionError') warnings.push(w)
  }
  silenceWarningOutput(t)
  process.on('warning', listener)
  t.teardown(() => {
    process.off('warning', listener)
  })
  return warnings
}

t.test(
  'rateLimit(): fail-open serves while the store fails, counts every failure and warns once per interval',
  async (t) => {
    const warnings = captureWarnings(t)
    const store = flakyStore()
    const { url, limiter } = await limited(t, { limit: 1, store })
    const res = await fetch(url)
    t.equal(res.status, 200)
    t.equal(res.headers.get('ratelimit-policy'), '"default";q=1;w=60', 'the policy is still announced')
    t.equal(res.headers.get('ratelimit'), null, 'but no remaining: it is unknown')
    t.same(await statuses(url, 9), Array(9).fill(200))
    await new Promise((ok) => setImmediate(ok))
    t.equal(limiter.stats().storeFailures, 10)
    t.equal(warnings.length, 1)
    t.match(warnings[0]!.message, /rateLimit\(\): the flaky store failed 1 time\(s\).*fail-open.*store down/)
    store.failing = false
    t.same(await statuses(url, 2), [200, 429], 'limiting resumes with the store')
  },
)

t.test('rateLimit(): fail-closed answers 503 with Retry-After while the store fails', async (t) => {
  const warnings = captureWarnings(t)
  const store = flakyStore()
  const { url, limiter } = await limited(t, {
    store,
    onStoreFailure: 'fail-closed',
    failureRetryAfter: 7,
    warningIntervalMs: 0,
  })
  const res = await fetch(url)
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '7')
  t.same(await res.json(), {
    status: 503,
    code: 'rate_limit_unavailable',
    message: 'Service Unavailable',
    retryAfterSeconds: 7,
  })
  await fetch(url).then((r) => r.arrayBuffer())
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 2, 'warningIntervalMs 0 warns on every failure')
  t.match(warnings[0]!.message, /fail-closed/)
  t.equal(limiter.stats().storeFailures, 2)
})

t.test('rateLimit(): a failing refund is counted as a store failure, never thrown', async (t) => {
  captureWarnings(t)
  const store = flakyStore()
  store.failing = false
  const { url, limiter } = await limited(t, {
    store,
    refundIf: () => {
      store.failing = true
      return true
    },
  })
  t.equal((await fetch(url)).status, 200)
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(limiter.stats().storeFailures, 1)
})

t.test('rateLimit(): a full memory store that refuses new keys answers 503 with Retry-After', async (t) => {
  const clock = 0
  const store = memoryStore({ maxKeys: 1, overflow: 'refuse', now: () => clock })
  const { url, limiter } = await limited(t, { store, limit: 5, windowMs: 10_000 }, ok, [asClient])
  const as = (ip: string) => httpRequest(url, { headers: { 'x-test-client': ip } })
  t.equal((await as('192.0.2.1')).status, 200)
  const refused = await as('192.0.2.2')
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '10')
  t.match(JSON.parse(refused.text), { code: 'rate_limit_capacity', retryAfterSeconds: 10 })
  t.equal((await as('192.0.2.1')).status, 200, 'known keys keep working')
  t.equal(limiter.stats().overflowRefused, 1)
})

t.test(
  'rateLimit(): key, limit and cost functions that misbehave reject (an error boundary answers 500)',
  async (t) => {
    const results: string[] = []
    const capture = (options: RateLimitOptions) => rateLimit(options)(ok)
    for (const options of [
      { key: () => 42 as unknown as string },
      { key: async () => undefined as unknown as string },
      { limit: async () => -1 },
      { limit: () => 1.5 },
      { cost: () => Number.NaN },
    ] as RateLimitOptions[]) {
      const url = await serve(t, (req, res) =>
        Promise.resolve(capture(options)(req, res)).catch((err: Error) => {
          results.push(err.message)
          res.statusCode = 500
          res.end()
        }),
      )
      t.equal((await fetch(url)).status, 500)
    }
    t.match(results, [
      /option "key" returned number; it must return a string/,
      /option "key" returned undefined/,
      /option "limit" returned -1; it must return an integer ≥ 0/,
      /option "limit" returned 1\.5/,
      /option "cost" returned NaN/,
    ])
  },
)

t.test('rateLimit(): resetKey() restores a client quota; stats() and close()', async (t) => {
  const { url, limiter } = await limited(t, { limit: 1 })
  t.same(await statuses(url, 2), [200, 429])
  await limiter.resetKey('127.0.0.1')
  t.same(await statuses(url, 2), [200, 429])
  t.match(limiter.stats(), { allowed: 2, limited: 2 })
  await limiter.close()
  const shared = memoryStore()
  const own = rateLimit({ store: shared })
  await own.close()
  t.ok(
    (await shared.consume('k', { name: 'x', algorithm: 'fixed-window', windowMs: 1000 }, 1, 1)).allowed,
    'a store you pass stays open',
  )
  await shared.close()
})

t.test('rateLimit(): limiters sharing a store and a name share counters; differing ones are refused', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const a = rateLimit({ store, limit: 2 })
  const b = rateLimit({ store, limit: 2 })
  const url = await serve(t, (req, res) => (req.url === '/a' ? a(ok) : b(ok))(req, res))
  t.same(await statuses(`${url}/a`, 1), [200])
  t.same(await statuses(`${url}/b`, 2), [200, 429])
  t.throws(() => rateLimit({ store, windowMs: 1000 }), {
    name: 'ConfigError',
    message: /option "name" must be a name not used on this store.*"default" counts fixed-window over 60000 ms/,
  })
  t.throws(() => rateLimit({ store, algorithm: 'token-bucket' }), { name: 'ConfigError' })
  t.doesNotThrow(() => rateLimit({ store, algorithm: 'token-bucket', name: 'smooth' }))
})

// The response cases every layer that touches the response covers (STYLE §7).
t.test(
  'rateLimit(): headers survive an empty end(), HEAD, 204, 304 and writeHead(status, headersObject)',
  async (t) => {
    const { url } = await limited(t, { limit: 100 }, (req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
        return
      }
      if (req.url === '/304') {
        res.statusCode = 304
        res.end()
        return
      }
      if (req.url === '/head') {
        res.writeHead(201, { 'x-custom': 'yes', 'content-type': 'text/plain' })
        res.end('made')
        return
      }
      res.end()
    })
    for (const [path, method, status] of [
      ['/', 'GET', 200],
      ['/', 'HEAD', 200],
      ['/204', 'GET', 204],
      ['/304', 'GET', 304],
      ['/head', 'GET', 201],
    ] as const) {
      const res = await httpRequest(`${url}${path}`, { method })
      t.equal(res.status, status, `${method} ${path}`)
      t.match(res.headers.ratelimit, /^"default";r=\d+;t=60$/, `${method} ${path}`)
      t.equal(res.headers['ratelimit-policy'], '"default";q=100;w=60')
    }
    const made = await httpRequest(`${url}/head`)
    t.equal(made.headers['x-custom'], 'yes')
    t.equal(made.text, 'made')
  },
)

t.test(
  'rateLimit(): a handler that throws: the error travels outward, the headers stay for the error answer',
  async (t) => {
    const limiter = rateLimit({ limit: 5 })
    const url = await serve(t, (req, res) =>
      Promise.resolve(
        limiter(() => {
          throw new Error('boom')
        })(req, res),
      ).catch((err: Error) => {
        res.statusCode = 500
        res.end(err.message)
      }),
    )
    const res = await fetch(url)
    t.equal(res.status, 500)
    t.equal(await res.text(), 'boom')
    t.equal(res.headers.get('ratelimit'), '"default";r=4;t=60')
  },
)

t.test('rateLimit(): a streamed body with backpressure passes through untouched', async (t) => {
  let drained = false
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const { url } = await limited(t, { limit: 5 }, (_req, res) => {
    const onDrain = () => {
      drained = true
    }
    void writeWithBackpressure(res, repeated(chunk, 64), { onDrain }).then(() => res.end())
  })
  const res = await fetch(url)
  t.equal(res.headers.get('ratelimit'), '"default";r=4;t=60')
  const reader = res.body!.getReader()
  await new Promise((ok) => setTimeout(ok, 50)) // a slow reader: the server must hit backpressure
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
  }
  t.equal(total, 64 * chunk.length)
  t.ok(drained, 'the handler saw write() return false and then drain')
})

t.test('rateLimit(): ordering constraints follow the key option', async (t) => {
  const named = (name: string) => defineMiddleware({ name }, (next) => next)
  // The constraints involving the limiter, in a stack that holds every layer they may name.
  const around = (limiter: Middleware) =>
    checkOrdering(
      ['proxyHeaders', 'cors', 'requestId', 'jwtAuth', 'apiKey', 'session']
        .map((n) => middlewareInfo(named(n)))
        .concat(middlewareInfo(limiter)),
    )
      .rules.filter((r) => r.outer === 'rateLimit' || r.inner === 'rateLimit')
      .map((r) => `${r.outer}>${r.inner}`)
      .sort()
  const byIp = middlewareInfo(rateLimit())
  t.equal(byIp.variant, 'key ip')
  t.same(around(rateLimit()), [
    'cors>rateLimit',
    'proxyHeaders>rateLimit',
    'rateLimit>apiKey',
    'rateLimit>jwtAuth',
    'rateLimit>session',
    'requestId>rateLimit',
  ])
  t.equal(byIp.security, true)
  t.match(byIp.detail, /100 per 60000 ms, fixed-window, by ip, memory store, fail-open/)
  t.equal(middlewareInfo(rateLimit({ key: 'user' })).variant, 'key user')
  t.same(around(rateLimit({ key: 'user' })), [
    'apiKey>rateLimit',
    'cors>rateLimit',
    'jwtAuth>rateLimit',
    'proxyHeaders>rateLimit',
    'requestId>rateLimit',
    'session>rateLimit',
  ])
  const byFunction = rateLimit({ key: (req: IncomingMessage) => String(req.headers['x-api-key']), limit: () => 5 })
  t.equal(middlewareInfo(byFunction).variant, 'key function')
  // Neither before nor after authentication: the library cannot know what a key function
  // reads. Inside proxyHeaders whatever the key, as it may read the address.
  t.same(around(byFunction), ['cors>rateLimit', 'proxyHeaders>rateLimit', 'requestId>rateLimit'])
  t.match(middlewareInfo(byFunction).detail, /limit\(req\) per 60000 ms, fixed-window, by key\(req\)/)

  const infos = (...layers: Middleware[]) => layers.map((l) => middlewareInfo(l))
  t.same(
    checkOrdering(
      infos(named('proxyHeaders'), named('cors'), rateLimit(), named('jwtAuth'), rateLimit({ key: 'user' })),
    ).violations,
    [],
  )
  const wrong = checkOrdering(infos(named('jwtAuth'), rateLimit(), named('proxyHeaders'))).violations
  t.same(wrong.map((v) => `${v.outer.name}>${v.inner.name}`).sort(), [
    // The stand-ins are named like the library's layers, so the rules between them apply too.
    'proxyHeaders>jwtAuth',
    'proxyHeaders>rateLimit',
    'rateLimit>jwtAuth',
  ])
  const userOutside = checkOrdering(infos(rateLimit({ key: 'user' }), named('jwtAuth'))).violations
  t.match(
    userOutside[0]!.message,
    /jwtAuth \(layer 2\) must wrap rateLimit \(layer 1\) because it counts per user, which jwtAuth identifies/,
  )
})

t.test('rateLimit(): config: every option is validated at construction', async (t) => {
  const bad: Array<[RateLimitOptions | Record<string, unknown>, RegExp]> = [
    [
      { windowMs: '1m' },
      /option "windowMs" must be an integer from 1 to .*received "1m" \(string\)\. Use 60_000 for one minute\./,
    ],
    [{ windowMs: 0 }, /option "windowMs" must be an integer from 1/],
    [{ limit: -1 }, /option "limit" must be an integer ≥ 0 or a function of the request; received -1 \(number\)/],
    [{ limit: 2.5 }, /option "limit" must be an integer ≥ 0/],
    [{ cost: '1' }, /option "cost" must be an integer ≥ 0 or a function/],
    [
      { algorithm: 'leaky-bucket' },
      /option "algorithm" must be one of "fixed-window", "sliding-window", "token-bucket"/,
    ],
    [
      { key: 'address' },
      /option "key" must be "ip", "user" or a function returning a key; received "address" \(string\)\. To count by something else, return it from a function/,
    ],
    [{ ipv6Subnet: 129 }, /option "ipv6Subnet" must be an integer from 32 to 64/],
    [
      { ipv6Subnet: 128 },
      /option "ipv6Subnet" must be an integer from 32 to 64; received 128 \(number\)\. Use 64, the prefix one customer.*Above 64, one customer gets a bucket per address/,
    ],
    [{ ipv6Subnet: 65 }, /option "ipv6Subnet" must be an integer from 32 to 64; received 65/],
    [{ ipv6Subnet: 31 }, /option "ipv6Subnet" must be an integer from 32 to 64; received 31 \(number\)\. Use 64/],
    [{ skip: true }, /option "skip" must be a function/],
    [{ exempt: ['health'] }, /option "exempt" must be path patterns.*Paths start with "\/"/],
    [{ exempt: [/admin/] }, /option "exempt" must be patterns whose RegExps start with \^/],
    [
      { store: {} },
      /option "store" must be a RateLimitStore.*received an object \(no keys\)\. Leave it unset for a memory store of this process, or pass redisStore/,
    ],
    [
      { name: 'has space' },
      /option "name" must be letters, digits.*received "has space" \(string\)\. Name the policy, e\.g\. "api" or "login"/,
    ],
    [{ name: '' }, /option "name" must be letters, digits/],
    [{ headers: 'yes' }, /option "headers" must be true or false/],
    [{ legacyHeaders: 1 }, /option "legacyHeaders" must be true or false/],
    [{ onStoreFailure: 'open' }, /option "onStoreFailure" must be one of "fail-open", "fail-closed"/],
    [
      { failureRetryAfter: 0 },
      /option "failureRetryAfter" must be an integer from 1 to 86400; received 0 \(number\)\. It is in seconds \(Retry-After\)/,
    ],
    [{ warningIntervalMs: -1 }, /option "warningIntervalMs" must be an integer ≥ 0/],
    [{ refundIf: 'never' }, /option "refundIf" must be a function/],
    [{ windowMS: 1000 }, /^rateLimit\(\): unknown option "windowMS"; did you mean "windowMs"\?$/],
  ]
  for (const [options, message] of bad) {
    t.throws(() => rateLimit(options as RateLimitOptions), { name: 'ConfigError', message }, JSON.stringify(options))
  }
  t.throws(() => rateLimit(null as unknown as RateLimitOptions), /rateLimit\(\): options must be an object/)
})

t.test(
  'rateLimit(): a custom store sees one policy object per limiter, with the limit and cost of each request',
  async (t) => {
    const calls: Array<[string, RateLimitPolicy, number, number]> = []
    const decision: RateLimitDecision = { allowed: true, remaining: 1, resetMs: 1500, retryAfterMs: 0 }
    const store: RateLimitStore = {
      kind: 'custom',
      consume: async (key, policy, limit, cost) => {
        calls.push([key, policy, limit, cost])
        return decision
      },
      refund: async () => undefined,
      reset: async () => undefined,
      close: async () => undefined,
    }
    const { url } = await limited(t, {
      store,
      limit: 7,
      cost: 2,
      windowMs: 2500,
      algorithm: 'sliding-window',
      name: 'api',
    })
    const res = await fetch(url)
    t.equal(res.headers.get('ratelimit'), '"api";r=1;t=2')
    t.equal(res.headers.get('ratelimit-policy'), '"api";q=7;w=3')
    await fetch(url)
    t.equal(calls.length, 2)
    t.equal(calls[0]![1], calls[1]![1], 'the same policy object')
    t.same(calls[0], ['127.0.0.1', { name: 'api', algorithm: 'sliding-window', windowMs: 2500 }, 7, 2])
  },
)

t.test(
  'rateLimit(): two limiters on one request each add their item; the legacy fields show the one with least left',
  async (t) => {
    const outer = rateLimit({ limit: 10, legacyHeaders: true })
    const inner = rateLimit({ limit: 3, windowMs: 1000, name: 'burst', legacyHeaders: true })
    const url = await serve(t, compose(outer, inner)(ok))
    const res = await httpRequest(url)
    t.equal(res.headers['ratelimit-policy'], '"default";q=10;w=60, "burst";q=3;w=1')
    t.equal(res.headers.ratelimit, '"default";r=9;t=60, "burst";r=2;t=1')
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], '2')
    const reversed = await serve(
      t,
      compose(
        rateLimit({ limit: 3, name: 'a', legacyHeaders: true }),
        rateLimit({ limit: 10, name: 'b', legacyHeaders: true }),
      )(ok),
    )
    const second = await httpRequest(reversed)
    t.equal(second.headers['x-ratelimit-limit'], '3', 'an inner limiter with more left does not overwrite')
    t.equal(second.headers['x-ratelimit-remaining'], '2')
  },
)

t.test('rateLimit(): fail-open with legacy headers still announces the limit', async (t) => {
  captureWarnings(t)
  const { url } = await limited(t, { store: flakyStore(), legacyHeaders: true, limit: async () => 4 })
  const res = await httpRequest(url)
  t.equal(res.status, 200)
  t.equal(res.headers['x-ratelimit-limit'], '4')
  t.equal(res.headers['x-ratelimit-remaining'], undefined)
  t.equal(res.headers['ratelimit-policy'], '"default";q=4;w=60')
})

t.test('rateLimit(): headers "draft-6" sends RateLimit-Limit, -Remaining, -Reset and an unnamed policy', async (t) => {
  const { url } = await limited(t, { limit: 2, windowMs: 60_000, headers: 'draft-6' })
  const first = await httpRequest(url)
  t.equal(first.headers['ratelimit-policy'], '2;w=60')
  t.equal(first.headers['ratelimit-limit'], '2')
  t.equal(first.headers['ratelimit-remaining'], '1')
  t.equal(first.headers['ratelimit-reset'], '60', 'delay-seconds, not a timestamp')
  t.equal(first.headers.ratelimit, undefined, 'no draft-11 field')
  await httpRequest(url)
  const refused = await httpRequest(url)
  t.equal(refused.status, 429)
  t.equal(refused.headers['ratelimit-remaining'], '0')
  t.equal(refused.headers['ratelimit-reset'], refused.headers['retry-after'])
})

t.test('rateLimit(): headers "draft-7" sends one RateLimit field of limit, remaining and reset', async (t) => {
  const { url } = await limited(t, { limit: 5, windowMs: 1500, headers: 'draft-7' })
  const res = await httpRequest(url)
  t.equal(res.headers['ratelimit-policy'], '5;w=2')
  t.equal(res.headers.ratelimit, 'limit=5, remaining=4, reset=2')
  t.equal(res.headers['ratelimit-limit'], undefined)
})

t.test('rateLimit(): draft-6 and draft-7 fields hold one policy: the one with the least left', async (t) => {
  for (const headers of ['draft-6', 'draft-7'] as const) {
    const wide = rateLimit({ name: 'wide', limit: 100, windowMs: 60_000, headers })
    const narrow = rateLimit({ name: 'narrow', limit: 3, windowMs: 1000, headers })
    t.teardown(() => Promise.all([wide.close(), narrow.close()]))
    for (const order of [
      [wide, narrow],
      [narrow, wide],
    ]) {
      const url = await serve(t, compose(...order)(ok))
      const res = await httpRequest(url)
      t.equal(res.headers['ratelimit-policy'], '3;w=1', `${headers}: the narrow limit wins, whatever the order`)
      if (headers === 'draft-6') t.equal(res.headers['ratelimit-limit'], '3')
      else t.match(res.headers.ratelimit, /^limit=3, remaining=\d, reset=1$/)
    }
  }
})

t.test('rateLimit(): config: headers takes a boolean or a draft name', async (t) => {
  t.throws(() => rateLimit({ headers: 'draft-8' as 'draft-7' }), {
    name: 'ConfigError',
    message:
      /option "headers" must be true or false, or one of "draft-11", "draft-7", "draft-6"; received "draft-8" \(string\)\. true is "draft-11"/,
  })
  const fine = rateLimit({ headers: 'draft-11' })
  t.ok(fine)
  await fine.close()
})

/** A limiter with a penalty on a memory store whose clock the test moves. */
async function penalised(t: Test, options: RateLimitOptions) {
  const clock = { now: 1_700_000_000_000 }
  const store = memoryStore({ now: () => clock.now })
  t.teardown(() => store.close())
  const { url, limiter } = await limited(t, { store, ...options })
  return { url, limiter, clock }
}

t.test('rateLimit(): penalty: a key that keeps exceeding its limit is blocked, each block twice as long', async (t) => {
  const { url, limiter, clock } = await penalised(t, {
    limit: 2,
    windowMs: 1000,
    penalty: { offences: 2, blockMs: 10_000, maxBlockMs: 25_000 },
  })
  t.same(await statuses(url, 3), [200, 200, 429])
  const second = await httpRequest(url)
  t.equal(second.status, 429)
  t.equal(second.headers['retry-after'], '10', 'the second refusal within periodMs (the window) starts a 10 s block')
  t.equal(second.headers.ratelimit, '"default";r=0;t=10')
  t.match(JSON.parse(second.text), { status: 429, code: 'too_many_requests', retryAfterSeconds: 10 })
  clock.now += 5000
  const blocked = await httpRequest(url)
  t.equal(blocked.status, 429, 'the window is over, the block is not')
  t.equal(blocked.headers['retry-after'], '5')
  clock.now += 5000
  t.same(await statuses(url, 4), [200, 200, 429, 429])
  clock.now += 19_999
  t.equal((await httpRequest(url)).headers['retry-after'], '1', 'the second block lasts 20 s')
  clock.now += 1
  t.same(await statuses(url, 4), [200, 200, 429, 429])
  clock.now += 24_999
  t.equal((await httpRequest(url)).status, 429, 'the third, 40 s, is capped at maxBlockMs (25 s)')
  clock.now += 1
  t.equal((await httpRequest(url)).status, 200)
  t.match(limiter.stats(), { blocked: 6, limited: 9, allowed: 7 })
  await limiter.resetKey('127.0.0.1')
  t.same(await statuses(url, 3), [200, 200, 429], 'resetKey() lifts the escalation too')
})

t.test(
  'rateLimit(): penalty: other clients are not blocked, and {} blocks for one window at the first refusal',
  async (t) => {
    const { url, clock } = await penalised(t, {
      limit: 1,
      windowMs: 60_000,
      penalty: {},
      key: (req) => String(req.headers['x-user']),
    })
    const as = (user: string) => ({ headers: { 'x-user': user } })
    t.same(await statuses(url, 2, as('a')), [200, 429])
    t.equal((await httpRequest(url, as('a'))).headers['retry-after'], '60')
    t.same(await statuses(url, 1, as('b')), [200])
    clock.now += 60_000
    t.same(await statuses(url, 1, as('a')), [200])
  },
)

t.test('rateLimit(): config: penalty', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ penalty: true }, /option "penalty" must be an object of settings or false; received true/],
    [{ penalty: { blockMs: 0 } }, /option "penalty\.blockMs" must be an integer from 1/],
    [{ penalty: { offences: 0 } }, /option "penalty\.offences" must be an integer from 1/],
    [
      { penalty: { blockMs: 60_000, maxBlockMs: 1000 } },
      /option "penalty\.maxBlockMs" must be at least penalty\.blockMs \(60000\); received 1000 \(number\)\. It caps the doubling blocks/,
    ],
    [{ penalty: { blokMs: 1 } }, /unknown option "penalty\.blokMs"; did you mean "penalty\.blockMs"\?/],
  ]
  for (const [options, message] of bad) {
    t.throws(() => rateLimit(options as RateLimitOptions), { name: 'ConfigError', message }, JSON.stringify(options))
  }
  const store: RateLimitStore = {
    kind: 'custom',
    consume: () => Promise.resolve({ allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 }),
    refund: () => Promise.resolve(),
    reset: () => Promise.resolve(),
    close: () => Promise.resolve(),
  }
  t.throws(() => rateLimit({ store, penalty: {} }), {
    name: 'ConfigError',
    message:
      /option "store" must be a store that applies penalties.*The custom store does not declare "penalties: true"/,
  })
  const shared = memoryStore()
  t.teardown(() => shared.close())
  rateLimit({ store: shared, name: 'login', penalty: { blockMs: 1000 } })
  t.throws(() => rateLimit({ store: shared, name: 'login', penalty: { blockMs: 2000 } }), {
    name: 'ConfigError',
    message: /option "name" must be a name not used on this store by a limiter counting differently.*with a penalty/,
  })
})
