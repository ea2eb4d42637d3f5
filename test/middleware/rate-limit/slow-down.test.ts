import type { Socket } from 'node:net'
import t, { type Test } from 'tap'
import {
  compose,
  rateLimit,
  timeout,
  type Middleware,
  type RateLimitOptions,
  type RawHandler,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { fakeTimers } from '../../helpers/timers.js'
import { until } from '../../helpers/wait.js'

/** A limiter in slow-down mode on fake timers, in front of a handler that counts its calls. */
async function slowed(t: Test, options: RateLimitOptions, outer: Middleware[] = []) {
  const clock = fakeTimers()
  const limiter = rateLimit({
    limit: 10,
    windowMs: 60_000,
    ...options,
    slowDown: { delayAfter: 2, delayMs: 100, maxDelayMs: 250, timers: clock.timers, ...options.slowDown },
  })
  t.teardown(() => limiter.close())
  const calls = { n: 0 }
  const handler: RawHandler = (_req, res) => {
    calls.n++
    res.end('ok')
  }
  const url = await serve(t, compose(...outer, limiter)(handler))
  return { url, limiter, calls, ...clock }
}

/** A GET on a raw socket, left open; resolves once the request is written. */
async function pendingGet(url: string): Promise<Socket> {
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  return socket
}

t.test('rateLimit(): slowDown: requests past delayAfter wait delayMs per unit past, at most maxDelayMs', async (t) => {
  const { url, pending, fire, calls, limiter } = await slowed(t, {})
  t.equal((await httpRequest(url)).status, 200)
  t.equal((await httpRequest(url)).status, 200)
  t.equal(pending.size, 0, 'the first delayAfter requests are served at once')
  const delays: number[] = []
  for (let i = 0; i < 3; i++) {
    const answer = httpRequest(url)
    await until(() => pending.size === 1)
    t.equal(calls.n, 2 + i, 'the handler has not run while the request waits')
    delays.push(...fire())
    const res = await answer
    t.equal(res.status, 200)
    t.equal(res.headers.ratelimit, `"default";r=${7 - i};t=60`, 'the headers describe the decision, as without delay')
  }
  t.same(delays, [100, 200, 250], 'one more delayMs per unit past delayAfter, capped at maxDelayMs')
  t.match(limiter.stats(), { allowed: 5, delayed: 3, limited: 0 })
})

t.test('rateLimit(): slowDown: limit still refuses, at once', async (t) => {
  const { url, pending, fire } = await slowed(t, { limit: 3 })
  await httpRequest(url)
  await httpRequest(url)
  const third = httpRequest(url)
  await until(() => pending.size === 1)
  fire()
  t.equal((await third).status, 200)
  const refused = await httpRequest(url)
  t.equal(refused.status, 429)
  t.equal(pending.size, 0, 'a refusal does not wait')
})

t.test('rateLimit(): slowDown: a client that goes away cancels its wait: no timer, no handler', async (t) => {
  const { url, pending, calls, limiter } = await slowed(t, { slowDown: { delayAfter: 0 } })
  const socket = await pendingGet(url)
  await until(() => pending.size === 1)
  socket.destroy()
  await until(() => pending.size === 0)
  t.equal(calls.n, 0, 'the handler never ran')
  t.match(limiter.stats(), { delayed: 1, allowed: 1 })
})

t.test("rateLimit(): slowDown: timeout()'s deadline ends the wait with its own answer", async (t) => {
  const deadline = fakeTimers()
  const { url, pending, calls } = await slowed(t, { slowDown: { delayAfter: 0 } }, [
    timeout({ ms: 1000, timers: deadline.timers }),
  ])
  const answer = httpRequest(url)
  await until(() => pending.size === 1 && deadline.pending.size === 1)
  t.same(deadline.fire(), [1000])
  const res = await answer
  t.equal(res.status, 503, 'timeout() answered')
  await until(() => pending.size === 0)
  t.equal(calls.n, 0, 'the handler never ran')
})

t.test('rateLimit(): slowDown: a free request (cost 0) never waits', async (t) => {
  const { url, pending, fire } = await slowed(t, { cost: (req) => (req.url === '/free' ? 0 : 1) })
  for (let i = 0; i < 2; i++) await httpRequest(url)
  const third = httpRequest(url)
  await until(() => pending.size === 1)
  fire()
  await third
  t.equal((await httpRequest(`${url}/free`)).status, 200)
  t.equal(pending.size, 0)
})

t.test('rateLimit(): slowDown: a handler error after the wait reaches the layers outside', async (t) => {
  const clock = fakeTimers()
  const limiter = rateLimit({ slowDown: { delayAfter: 0, timers: clock.timers } })
  t.teardown(() => limiter.close())
  const seen: unknown[] = []
  const catcher: Middleware = (next) => async (req, res) => {
    try {
      await next(req, res)
    } catch (err) {
      seen.push(err)
      res.statusCode = 500
      res.end()
    }
  }
  const url = await serve(
    t,
    compose(
      catcher,
      limiter,
    )(() => {
      throw new Error('boom')
    }),
  )
  const answer = httpRequest(url)
  await until(() => clock.pending.size === 1)
  clock.fire()
  t.equal((await answer).status, 500)
  t.match(seen, [{ message: 'boom' }])
})

t.test('rateLimit(): slowDown: config', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [
      { limit: 5, slowDown: { delayAfter: 5 } },
      /option "slowDown\.delayAfter" must be below limit \(5\); received 5.*raise limit/,
    ],
    [{ slowDown: { delayAfter: -1 } }, /option "slowDown\.delayAfter" must be an integer ≥ 0/],
    [{ slowDown: { delayMs: 0 } }, /option "slowDown\.delayMs" must be an integer from 1/],
    [
      { slowDown: { delayMs: 500, maxDelayMs: 100 } },
      /option "slowDown\.maxDelayMs" must be an integer from 500 .*at least delayMs/,
    ],
    [{ slowDown: { timers: {} } }, /option "slowDown\.timers\.setTimeout" must be a function/],
    [{ slowDown: true }, /option "slowDown" must be an object of settings or false; received true/],
    [{ slowDown: { delay: 5 } }, /unknown option "slowDown\.delay"; did you mean "slowDown\.delay(Ms|After)"\?/],
  ]
  for (const [options, message] of bad) {
    t.throws(() => rateLimit(options as RateLimitOptions), { name: 'ConfigError', message }, JSON.stringify(options))
  }
  const fine = rateLimit({ limit: (req) => (req.url === '/' ? 1 : 2), slowDown: { delayAfter: 5 } })
  t.ok(fine, 'with a limit function, delayAfter cannot be checked against it')
  await fine.close()
})
