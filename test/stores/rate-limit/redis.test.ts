import { spawn, type ChildProcess } from 'node:child_process'
import { request } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Cluster } from 'ioredis'
import t, { type Test } from 'tap'
import {
  compose,
  proxyHeaders,
  rateLimit,
  redisStore,
  type RateLimiter,
  type RateLimitPolicy,
} from '../../../lib/index.js'
import { clusterKeySlot } from '../../../lib/core.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, until } from '../../helpers/wait.js'
import { rateLimitStoreContract } from './contract.js'
import { startCluster, startClusterNode } from '../../helpers/redis-cluster.js'

// Outages must never leave a promise rejected with nobody listening.
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})

const redis = await startRedis(t)
let prefixes = 0
const nextPrefix = () => `r${prefixes++}:`

/** One GET on a fresh connection: status, the RateLimit header, body, and how long it took. */
function get(
  url: string,
): Promise<{ status: number; rateLimit: string | undefined; worker: string | undefined; body: string; ms: number }> {
  const started = performance.now()
  return new Promise((ok, fail) => {
    request(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => {
        body += d.toString()
      })
      res.on('end', () =>
        ok({
          status: res.statusCode!,
          rateLimit: res.headers.ratelimit as string | undefined,
          worker: res.headers['x-worker'] as string | undefined,
          body,
          ms: performance.now() - started,
        }),
      )
    })
      .on('error', fail)
      .end()
  })
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

if (redis) {
  const client = redis.client()
  rateLimitStoreContract(
    'redisStore()',
    async (now) => redisStore({ client, prefix: nextPrefix(), now, commandTimeoutMs: 10_000 }),
    { propertyRuns: 40 },
  )

  t.test(
    'redisStore(): 500 concurrent requests with limit 100 get exactly 100 answers of 200, on Redis time',
    async (t) => {
      for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
        const limiter = rateLimit({
          limit: 100,
          windowMs: 3_600_000,
          algorithm,
          store: redisStore({
            client: redis.client({ enableAutoPipelining: true }),
            prefix: nextPrefix(),
            commandTimeoutMs: 10_000,
          }),
        })
        const url = await serve(
          t,
          limiter((_req, res) => res.end()),
        )
        const results = await Promise.all(
          Array.from({ length: 500 }, () =>
            fetch(url).then(async (r) => {
              await r.arrayBuffer()
              return r.status
            }),
          ),
        )
        t.equal(results.filter((s) => s === 200).length, 100, algorithm)
        t.equal(results.filter((s) => s === 429).length, 400, algorithm)
        t.equal(limiter.stats().storeFailures, 0)
      }
    },
  )

  for (const [workers, algorithm] of [
    [2, 'fixed-window'],
    [4, 'token-bucket'],
  ] as const) {
    t.test(
      `redisStore(): ${workers} node:cluster workers sharing one Redis allow exactly 100 in total (${algorithm})`,
      { timeout: 180_000 },
      async (t) => {
        {
          const app = await startClusterApp(t, redis, workers, algorithm)
          const results = await Promise.all(Array.from({ length: 500 }, () => get(`http://127.0.0.1:${app.port}/`)))
          const allowed = results.filter((r) => r.status === 200)
          t.equal(allowed.length, 100, `${algorithm}: exactly 100 allowed across ${workers} processes`)
          t.equal(results.filter((r) => r.status === 429).length, 400)
          t.equal(new Set(results.map((r) => r.worker)).size, workers, 'every worker answered some')
        }
      },
    )
  }

  t.test('redisStore(): every key gets an expiry covering its state, and keys carry the hash tag', async (t) => {
    const prefix = nextPrefix()
    const store = redisStore({ client, prefix, commandTimeoutMs: 10_000 })
    const windowMs = 60_000
    for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
      const policy: RateLimitPolicy = { name: 'ttl', algorithm, windowMs }
      await store.consume('203.0.113.9', policy, 10, 3)
      await store.refund('203.0.113.9', policy, 10, 1)
      await store.consume('never', policy, 10, 0)
      await store.consume('refused', policy, 10, 11)
    }
    const keys = (await client.keys(`${prefix}*`)).sort()
    t.same(
      keys,
      [`${prefix}{ttl:203.0.113.9}:f`, `${prefix}{ttl:203.0.113.9}:s`, `${prefix}{ttl:203.0.113.9}:t`],
      'hits that cost nothing or are refused write nothing',
    )
    for (const key of keys) {
      const ttl = await client.pttl(key)
      const max = key.endsWith(':s') ? 2 * windowMs : windowMs
      t.ok(ttl > 0 && ttl <= max, `${key}: ttl ${ttl} within (0, ${max}]`)
    }
    t.equal(store.keyFor('a}b', { name: 'ttl', algorithm: 'fixed-window', windowMs }), `${prefix}{ttl:a%7Db}:f`)
  })

  t.test(
    'redisStore(): penalty state sits beside the counter, in its hash slot, and expires when it no longer matters',
    async (t) => {
      const prefix = nextPrefix()
      const store = redisStore({ client, prefix, commandTimeoutMs: 10_000 })
      const penalty = { offences: 1, periodMs: 1000, blockMs: 30_000, maxBlockMs: 120_000, forgetMs: 600_000 }
      const policy: RateLimitPolicy = { name: 'pen', algorithm: 'fixed-window', windowMs: 60_000, penalty }
      await store.consume('a{b}', policy, 1, 1)
      t.match(await store.consume('a{b}', policy, 1, 1), { allowed: false, blocked: true, retryAfterMs: 30_000 })
      const counter = `${prefix}{pen:a%7Bb%7D}:f`
      const blocked = `${prefix}{pen:a%7Bb%7D}:b`
      t.same((await client.keys(`${prefix}*`)).sort(), [blocked, counter])
      t.equal(clusterKeySlot(blocked), clusterKeySlot(counter), 'one slot: one script may touch both')
      t.match(await client.hgetall(blocked), { o: '0', l: '1' })
      const ttl = await client.pttl(blocked)
      t.ok(ttl > 600_000 && ttl <= 630_000, `ttl ${ttl}: the block (30 s) plus forgetMs (600 s)`)
      await store.reset('a{b}', policy)
      t.same(await client.keys(`${prefix}*`), [], 'reset deletes both')
    },
  )

  t.test('redisStore(): a lockout started through one server refuses the key on another', async (t) => {
    const prefix = nextPrefix()
    const make = () =>
      rateLimit({
        name: 'login',
        limit: 2,
        windowMs: 60_000,
        penalty: { blockMs: 120_000 },
        store: redisStore({ client: redis.client(), prefix, commandTimeoutMs: 10_000 }),
      })
    const a = await serve(
      t,
      make()((_req, res) => res.end()),
    )
    const b = await serve(
      t,
      make()((_req, res) => res.end()),
    )
    t.equal((await get(a)).status, 200)
    t.equal((await get(b)).status, 200)
    const refused = await get(a)
    t.equal(refused.status, 429)
    t.equal(refused.rateLimit, '"login";r=0;t=120', 'the first refusal starts a 120 s lockout')
    const elsewhere = await get(b)
    t.equal(elsewhere.status, 429)
    t.match(elsewhere.rateLimit, /^"login";r=0;t=1(19|20)$/, 'the other server sees the lockout')
    t.match(JSON.parse(elsewhere.body), { code: 'too_many_requests' })
  })

  t.test('redisStore(): SCRIPT FLUSH is transparent: the script is reloaded and counting goes on', async (t) => {
    const limiter = rateLimit({ limit: 5, store: redisStore({ client, prefix: nextPrefix() }) })
    const url = await serve(
      t,
      limiter((_req, res) => res.end()),
    )
    t.equal((await get(url)).rateLimit, '"default";r=4;t=60')
    await redis.client().script('FLUSH')
    t.equal((await get(url)).rateLimit, '"default";r=3;t=60')
    t.equal((await get(url)).rateLimit, '"default";r=2;t=60')
    t.equal(limiter.stats().storeFailures, 0)
  })

  t.test('redisStore(): works on an ioredis Cluster, one slot per script', { timeout: 60_000 }, async (t) => {
    const port = await startClusterNode(t)
    if (port === undefined) return
    const cluster = new Cluster([{ host: '127.0.0.1', port }], { enableAutoPipelining: true })
    cluster.on('error', () => undefined)
    t.teardown(() => cluster.disconnect())
    await new Promise<void>((ok, fail) => {
      cluster.once('ready', ok)
      cluster.once('error', fail)
    })
    const limiter = rateLimit({
      limit: 100,
      windowMs: 3_600_000,
      store: redisStore({ client: cluster, commandTimeoutMs: 10_000 }),
    })
    const url = await serve(
      t,
      limiter((_req, res) => res.end()),
    )
    const results = await Promise.all(
      Array.from({ length: 300 }, () =>
        fetch(url).then(async (r) => {
          await r.arrayBuffer()
          return r.status
        }),
      ),
    )
    t.equal(results.filter((s) => s === 200).length, 100)
    t.equal(limiter.stats().storeFailures, 0)
    const store = redisStore({ client: cluster, prefix: 'contract:', commandTimeoutMs: 10_000 })
    for (const algorithm of ['sliding-window', 'token-bucket'] as const) {
      const decision = await store.consume('{weird}key', { name: 'c', algorithm, windowMs: 1000 }, 2, 1)
      t.match(decision, { allowed: true, remaining: 1 }, algorithm)
    }
  })

  t.test('redisStore(): config', async (t) => {
    t.throws(() => redisStore({ client: undefined }), {
      name: 'ConfigError',
      message:
        /redisStore\(\): option "client" must be an ioredis Redis or Cluster instance; received undefined \(undefined\)\. Pass your client/,
    })
    t.throws(() => redisStore({ client: {} as never }), { name: 'ConfigError', message: /option "client"/ })
    t.throws(() => redisStore({ client, prefix: 'app{x}:' }), {
      name: 'ConfigError',
      message:
        /option "prefix" must be printable text without spaces or braces.*Braces would make the prefix the Cluster hash tag/,
    })
    t.throws(() => redisStore({ client, prefix: 'a b' }), { name: 'ConfigError', message: /option "prefix"/ })
    t.throws(() => redisStore({ client, commandTimeoutMs: 0 }), {
      name: 'ConfigError',
      message: /option "commandTimeoutMs" must be an integer from 1 to 60000/,
    })
    t.throws(() => redisStore({ client, maxInFlight: 0 }), {
      name: 'ConfigError',
      message:
        /option "maxInFlight" must be an integer from 1 to 1000000; received 0 \(number\)\. Use 1000 \(the default\).*bounds the hits a frozen Redis runs late/,
    })
    t.throws(() => redisStore({ client, maxInFlight: 1.5 }), {
      name: 'ConfigError',
      message: /option "maxInFlight" must be an integer from 1 to 1000000; received 1\.5/,
    })
    t.throws(() => redisStore({ client, now: 'yes' as never }), {
      name: 'ConfigError',
      message: /option "now" must be a function/,
    })
    t.throws(() => redisStore({ client, timeout: 5 } as never), {
      name: 'ConfigError',
      message:
        'redisStore(): unknown option "timeout"; known options are client, prefix, commandTimeoutMs, maxInFlight, now.',
    })
  })

  t.test('redisStore(): close() makes refund and reset reject too, and leaves the client to its owner', async (t) => {
    const own = redis.client()
    const store = redisStore({ client: own })
    await store.close()
    const policy: RateLimitPolicy = { name: 'x', algorithm: 'fixed-window', windowMs: 1000 }
    await t.rejects(store.refund('k', policy, 1, 1), /closed/)
    await t.rejects(store.reset('k', policy), /closed/)
    t.equal(await own.ping(), 'PONG')
  })

  t.test("redisStore(): a reply that is not the script's is a store failure", async (t) => {
    const store = redisStore({ client, prefix: nextPrefix() })
    const policy: RateLimitPolicy = { name: 'x', algorithm: 'fixed-window', windowMs: 1000 }
    // A key of another type makes the script fail: the store rejects, it does not throw.
    await client.set(store.keyFor('k', policy), 'not a hash')
    await t.rejects(store.consume('k', policy, 1, 1), /WRONGTYPE/)
  })

  t.test(
    'rateLimit() through proxyHeaders(): X-Forwarded-For from an untrusted peer never changes the key',
    async (t) => {
      const limiter = rateLimit({ limit: 2, store: redisStore({ client, prefix: nextPrefix() }) })
      const url = await serve(
        t,
        compose(proxyHeaders({ trustedProxies: ['10.0.0.0/8'] }), limiter)((_req, res) => res.end()),
      )
      const statuses = []
      for (const ip of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) {
        statuses.push((await fetch(url, { headers: { 'x-forwarded-for': ip } })).status)
      }
      t.same(statuses, [200, 200, 429], 'the peer 127.0.0.1 is not a trusted proxy: its header is ignored')
    },
  )

  t.test(
    'rateLimit() through proxyHeaders(): behind a trusted proxy, a forged leftmost entry changes nothing and a /64 is one client',
    async (t) => {
      const limiter = rateLimit({ limit: 2, store: redisStore({ client, prefix: nextPrefix() }) })
      const url = await serve(
        t,
        compose(proxyHeaders({ trustedProxies: ['loopback'] }), limiter)((_req, res) => res.end()),
      )
      const as = (xff: string) => fetch(url, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status)
      t.equal(await as('6.6.6.6, 2001:db8:5:6::1'), 200)
      t.equal(await as('7.7.7.7, 2001:db8:5:6:ffff::2'), 200)
      t.equal(await as('2001:db8:5:6::3'), 429, 'one /64, one quota, whatever is forged to the left')
      t.equal(await as('2001:db8:5:7::1'), 200)
    },
  )

  t.test(
    'rateLimit() on Redis: killed (SIGKILL) mid-run and restarted: every request answered in time, limiting resumes within 2 s',
    { timeout: 60_000 },
    async (t) => {
      const server = await startRedis(t)
      if (!server) return
      const app = await outageApp(t, server)
      await app.expectLimited(t, 'before the outage')
      const during = app.run()
      await sleep(300)
      await server.kill()
      await sleep(800)
      await server.restart()
      const restartedAt = performance.now()
      const resumedAt = await app.waitForLimiting()
      await app.stop(during)
      t.ok(
        resumedAt - restartedAt <= 2000,
        `limiting resumed ${Math.round(resumedAt - restartedAt)} ms after the restart`,
      )
      app.check(t)
    },
  )

  t.test(
    'rateLimit() on Redis: paused (SIGSTOP) past the command timeout: answers within the timeout, limiting resumes within 2 s',
    { timeout: 60_000 },
    async (t) => {
      const server = await startRedis(t)
      if (!server) return
      const app = await outageApp(t, server)
      await app.expectLimited(t, 'before the pause')
      const during = app.run()
      await sleep(300)
      server.pause()
      await sleep(1000)
      server.resume()
      const resumed = performance.now()
      const resumedAt = await app.waitForLimiting()
      await app.stop(during)
      t.ok(resumedAt - resumed <= 2000, `limiting resumed ${Math.round(resumedAt - resumed)} ms after SIGCONT`)
      app.check(t)
      t.ok(
        app.results.some((r) => r.ms >= TIMEOUT_MS && r.ms <= TIMEOUT_MS + MARGIN_MS),
        'some requests waited out the timeout',
      )
    },
  )

  t.test(
    'rateLimit() on Redis: no Redis at start is not a crash; limiting starts once Redis is up',
    { timeout: 60_000 },
    async (t) => {
      const server = await startRedis(t)
      if (!server) return
      await server.kill()
      const app = await outageApp(t, server)
      const during = app.run()
      await sleep(600)
      await server.restart()
      const startedAt = performance.now()
      const resumedAt = await app.waitForLimiting()
      await app.stop(during)
      t.ok(
        resumedAt - startedAt <= 2000,
        `limiting started ${Math.round(resumedAt - startedAt)} ms after Redis came up`,
      )
      t.ok(
        app.results.some((r) => r.rateLimit === undefined),
        'requests were served before Redis was up',
      )
      app.check(t)
    },
  )

  t.test(
    'rateLimit() on Redis frozen (SIGSTOP): hits past maxInFlight fail at once, and on wake at most maxInFlight late hits count',
    { timeout: 60_000 },
    async (t) => {
      const server = await startRedis(t)
      if (!server) return
      const own = server.client()
      captureWarnings(t) // the limiter reports its store failures; they are the point here
      const store = redisStore({ client: own, prefix: 'frozen:', commandTimeoutMs: 150, maxInFlight: 10 })
      const limiter = rateLimit({
        name: 'frozen',
        limit: 1000,
        windowMs: 3_600_000,
        onStoreFailure: 'fail-open',
        store,
      })
      const url = await serve(
        t,
        limiter((_req, res) => res.end()),
      )
      const status = () =>
        fetch(url).then(async (r) => {
          await r.arrayBuffer()
          return r.status
        })
      for (let i = 0; i < 3; i++) t.equal(await status(), 200)
      const policy: RateLimitPolicy = { name: 'frozen', algorithm: 'fixed-window', windowMs: 3_600_000 }
      const counted = async () => Number(await own.hget(store.keyFor('127.0.0.1', policy), 'c'))
      t.equal(await counted(), 3)

      server.pause()
      let resumed = false
      t.teardown(() => {
        if (!resumed) server.resume()
      })
      const during = await Promise.all(Array.from({ length: 60 }, status))
      t.ok(
        during.every((s) => s === 200),
        'fail-open: all 60 served while Redis is frozen',
      )
      t.equal(limiter.stats().storeFailures, 60, 'each one a store failure: 10 timed out, 50 refused at once')
      const started = performance.now()
      await t.rejects(store.consume('127.0.0.1', policy, 1000, 1), { name: 'RedisBusyError', code: 'ERR_REDIS_BUSY' })
      t.ok(performance.now() - started < 150, 'past the cap a hit fails at once, without waiting commandTimeoutMs')

      server.resume()
      resumed = true
      t.equal(await own.ping(), 'PONG', 'Redis awake: the queued commands, sent before the ping, have run')
      t.equal(await counted(), 13, 'the 3 hits before, plus the 10 capped ones that ran late; not the 60 of the freeze')
      t.equal(await status(), 200)
      t.equal(await counted(), 14, 'counting goes on')
    },
  )

  t.test(
    'redisStore() on a Redis Cluster with a master down: its keys fail at once, the other masters serve; it is used again once back',
    { timeout: 60_000 },
    async (t) => {
      const masters = await startCluster(t, 3)
      if (!masters) return
      const cluster = new Cluster([{ host: '127.0.0.1', port: masters.ports[0]! }])
      cluster.on('error', () => undefined)
      t.teardown(() => cluster.disconnect())
      await new Promise<void>((ok, fail) => {
        cluster.once('ready', ok)
        cluster.once('error', fail)
      })
      const store = redisStore({ client: cluster, prefix: 'down:', commandTimeoutMs: 400 })
      const policy: RateLimitPolicy = { name: 'c', algorithm: 'fixed-window', windowMs: 3_600_000 }
      const keyOn = (master: number): string => {
        const [from, to] = masters.ranges[master]!
        for (let n = 0; ; n++) {
          const slot = clusterKeySlot(store.keyFor(`client-${n}`, policy))
          if (slot >= from && slot < to) return `client-${n}`
        }
      }
      const healthy = keyOn(0)
      const doomed = keyOn(2)
      t.match(await store.consume(healthy, policy, 10, 1), { allowed: true, remaining: 9 })
      t.match(await store.consume(doomed, policy, 10, 1), { allowed: true, remaining: 9 })

      await masters.kill(2)
      const downPort = masters.ports[2]!
      await until(() => !cluster.nodes('master').some((n) => n.options.port === downPort && n.status === 'ready'))
      const timings: number[] = []
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        await t.rejects(store.consume(doomed, policy, 10, 1), {
          name: 'RedisUnavailableError',
          message: new RegExp(
            `redisStore\\(\\): consume: the Cluster master of this key, 127\\.0\\.0\\.1:${downPort}, is not connected`,
          ),
        })
        timings.push(performance.now() - started)
      }
      t.ok(
        Math.max(...timings) < 100,
        `refused at once (${timings.map(Math.round).join(', ')} ms), not after the 400 ms deadline`,
      )
      t.match(
        await store.consume(healthy, policy, 10, 1),
        { allowed: true, remaining: 8 },
        'the healthy master still serves',
      )

      await masters.restart(2)
      // Hits keep coming; one a second goes through as the probe, and finds the master back.
      let back: unknown
      for (let i = 0; i < 50 && back === undefined; i++) {
        back = await store.consume(doomed, policy, 10, 1).catch(() => undefined)
        if (back === undefined) await sleep(100)
      }
      t.match(back, { allowed: true }, 'the master is used again once back')
      t.match(await store.consume(doomed, policy, 10, 1), { allowed: true }, 'and stays in use')
    },
  )

  t.test('redisStore(): no unhandled rejection through all of it', async (t) => {
    await sleep(300) // abandoned commands settle late
    t.same(unhandled, [])
  })
}

const TIMEOUT_MS = 200
const MARGIN_MS = 400

/**
 * Two limiters on one server and one Redis: /open fails open, /closed fails closed.
 * `run()` sends requests to both, alternately, until stopped, recording every answer.
 */
async function outageApp(t: Test, server: RedisServer) {
  const client = server.client()
  const warnings: string[] = []
  const onWarning = (w: Error) => {
    if (w.name === 'HttpOnionError') warnings.push(w.message)
  }
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const make = (name: string, onStoreFailure: 'fail-open' | 'fail-closed'): RateLimiter =>
    rateLimit({ name, limit: 1_000_000, onStoreFailure, store: redisStore({ client, commandTimeoutMs: TIMEOUT_MS }) })
  const open = make('open', 'fail-open')
  const closed = make('closed', 'fail-closed')
  // Timed on the server, from the handler's start to the response's end: what the
  // failure policy controls, without the client's own scheduling under a loaded machine.
  const results: Array<{ path: string; status: number; rateLimit: string | undefined; ms: number }> = []
  let recording = false
  const url = await serve(t, (req, res) => {
    const started = performance.now()
    if (recording) {
      res.on('finish', () =>
        results.push({
          path: req.url!,
          status: res.statusCode,
          rateLimit: res.getHeader('ratelimit') as string | undefined,
          ms: performance.now() - started,
        }),
      )
    }
    return (req.url === '/closed' ? closed : open)((_q, r) => r.end('ok'))(req, res)
  })
  let running = false
  // This process also runs the client and, under a loaded machine, stalls now and then:
  // a stall delays the timeout's own timer, so it is added to the margin, measured.
  const stalls = monitorEventLoopDelay({ resolution: 10 })
  return {
    results,
    async expectLimited(t: Test, when: string) {
      t.match((await get(`${url}/open`)).rateLimit, /r=\d+/, when)
    },
    run(): Promise<void> {
      running = true
      recording = true
      stalls.enable()
      return (async () => {
        for (let i = 0; running; i++) await get(`${url}${i % 2 === 0 ? '/open' : '/closed'}`)
      })()
    },
    /** When a request was limited again, both limiters having answered from Redis. */
    async waitForLimiting(): Promise<number> {
      for (;;) {
        const a = await get(`${url}/open`)
        const b = await get(`${url}/closed`)
        if (a.rateLimit !== undefined && b.status === 200) return performance.now()
        await sleep(20)
      }
    },
    async stop(loop: Promise<void>) {
      running = false
      await loop
      recording = false
      stalls.disable()
    },
    check(t: Test) {
      const slowest = Math.max(...results.map((r) => r.ms))
      const stall = stalls.max / 1e6
      t.ok(
        slowest <= TIMEOUT_MS + MARGIN_MS + stall,
        `every answer within ${TIMEOUT_MS} + ${MARGIN_MS} ms (+ ${Math.round(stall)} ms of event-loop stall): slowest ${Math.round(slowest)} ms of ${results.length}`,
      )
      t.ok(
        results.filter((r) => r.path === '/open').every((r) => r.status === 200),
        'fail-open: every request served',
      )
      const closedStatuses = new Set(results.filter((r) => r.path === '/closed').map((r) => r.status))
      t.ok(
        [...closedStatuses].every((s) => s === 200 || s === 503),
        `fail-closed: 200 or 503 only (${[...closedStatuses]})`,
      )
      t.ok(closedStatuses.has(503), 'fail-closed refused during the outage')
      t.ok(open.stats().storeFailures > 0 && closed.stats().storeFailures > 0, 'failures counted')
      t.ok(warnings.length >= 1 && warnings.length <= 2, `warned at most once per limiter (${warnings.length})`)
    },
  }
}

/** The cluster app of fixtures/redis-cluster-app.ts, stopped when `t` ends. */
async function startClusterApp(
  t: Test,
  server: RedisServer,
  workers: number,
  algorithm: string,
): Promise<{ port: number }> {
  const fixture = fileURLToPath(new URL('./fixtures/redis-cluster-app.ts', import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, fixture], {
    env: {
      ...process.env,
      WORKERS: String(workers),
      REDIS_PORT: String(server.port),
      PREFIX: nextPrefix(),
      ALGORITHM: algorithm,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  t.teardown(() => stopChild(child))
  const ready = await new Promise<{ port: number; ports: number }>((ok, fail) => {
    child.on('message', (m: { type: string; port: number; ports: number }) => {
      if (m.type === 'ready') ok(m)
    })
    child.once('exit', (code) => fail(new Error(`cluster app exited with ${code}`)))
  })
  t.equal(ready.ports, 1, 'the workers share one port')
  return ready
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((ok) => child.once('exit', ok))
  child.send({ type: 'stop' })
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}
