import type { IncomingMessage } from 'node:http'
import t from 'tap'
import {
  addServerTiming,
  apiKey,
  compose,
  HttpError,
  sendError,
  timing,
  SERVER_TIMING_MAX_METRICS,
  type Middleware,
  type RawHandler,
} from '../../../lib/index.js'
import { arrivalTime, defineMiddleware, userIdState } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

// Most tests time anonymous requests, so they ask for Server-Timing to every client
// (serverTiming: true); the default, authenticated requests only, has its own tests below.

/**
 * A clock the handler moves: `elapse(req, ms)` makes "now" exactly `ms` after the request's
 * arrival, so durations are known without sleeping.
 */
function fakeClock() {
  let now = 0
  return {
    now: () => now,
    elapse: (req: IncomingMessage, ms: number) => {
      now = arrivalTime(req) + ms
    },
  }
}

t.test('timing(): sends Server-Timing total from arrival to headers', async (t) => {
  const clock = fakeClock()
  const url = await serve(
    t,
    compose(timing({ serverTiming: true, now: clock.now }))((req, res) => {
      clock.elapse(req, 12.345)
      res.end('ok')
    }),
  )
  const res = await fetch(url)
  t.equal(res.headers.get('server-timing'), 'total;dur=12.3')
  t.equal(res.headers.get('x-response-time'), null)
})

t.test('timing(): with the real clock, the total is a plausible duration', async (t) => {
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }))(async (_req, res) => {
      await new Promise((ok) => setImmediate(ok))
      res.end()
    }),
  )
  const header = (await fetch(url)).headers.get('server-timing')!
  const dur = Number(/^total;dur=(\d+\.\d)$/.exec(header)![1])
  t.ok(dur >= 0 && dur < 5000)
})

t.test('timing(): X-Response-Time alone, with digits and a custom metric name', async (t) => {
  const clock = fakeClock()
  const handler: RawHandler = (req, res) => {
    clock.elapse(req, 7.25)
    res.end()
  }
  const both = await fetch(
    await serve(
      t,
      compose(timing({ serverTiming: true, now: clock.now, responseTime: true, digits: 2, metricName: 'app' }))(
        handler,
      ),
    ),
  )
  t.equal(both.headers.get('server-timing'), 'app;dur=7.25')
  t.equal(both.headers.get('x-response-time'), '7.25ms')
  const only = await fetch(
    await serve(t, compose(timing({ now: clock.now, serverTiming: false, responseTime: true, digits: 0 }))(handler)),
  )
  t.equal(only.headers.get('server-timing'), null)
  t.equal(only.headers.get('x-response-time'), '7ms')
})

t.test('addServerTiming(): handler metrics go before the total, descriptions escaped or as tokens', async (t) => {
  const clock = fakeClock()
  const results: boolean[] = []
  const url = await serve(
    t,
    compose(timing({ serverTiming: true, now: clock.now }))((req, res) => {
      results.push(addServerTiming(req, { name: 'db', dur: 12.3456, desc: 'users' }))
      results.push(addServerTiming(req, { name: 'cache', desc: 'hit "warm" \\ path' }))
      results.push(addServerTiming(req, { name: 'miss' }))
      clock.elapse(req, 20)
      res.end()
      results.push(addServerTiming(req, { name: 'late', dur: 1 }))
    }),
  )
  const res = await fetch(url)
  t.equal(
    res.headers.get('server-timing'),
    'db;dur=12.346;desc=users, cache;desc="hit \\"warm\\" \\\\ path", miss, total;dur=20.0',
  )
  t.same(results, [true, true, true, false])
})

t.test('addServerTiming(): keeps a Server-Timing header an inner layer set itself', async (t) => {
  const clock = fakeClock()
  const url = await serve(
    t,
    compose(timing({ serverTiming: true, now: clock.now }))((req, res) => {
      clock.elapse(req, 1)
      res.setHeader('server-timing', 'cdn;dur=3')
      res.end()
    }),
  )
  t.equal((await fetch(url)).headers.get('server-timing'), 'cdn;dur=3, total;dur=1.0')
  const arrayUrl = await serve(
    t,
    compose(timing({ serverTiming: true, now: clock.now }))((req, res) => {
      clock.elapse(req, 2)
      res.setHeader('server-timing', ['a;dur=1', 'b;dur=2'])
      res.end()
    }),
  )
  t.equal((await fetch(arrayUrl)).headers.get('server-timing'), 'a;dur=1, b;dur=2, total;dur=2.0')
})

t.test('addServerTiming(): returns false without timing() and past the metric limit', async (t) => {
  const seen: boolean[] = []
  const bare = await serve(t, (req, res) => {
    seen.push(addServerTiming(req, { name: 'x', dur: 1 }))
    res.end()
  })
  await (await fetch(bare)).text()
  t.same(seen, [false])
  let accepted = 0
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }))((req, res) => {
      for (let i = 0; i < SERVER_TIMING_MAX_METRICS + 5; i++) if (addServerTiming(req, { name: `m${i}` })) accepted++
      res.end()
    }),
  )
  const header = (await fetch(url)).headers.get('server-timing')!
  t.equal(accepted, SERVER_TIMING_MAX_METRICS)
  t.equal(header.split(', ').length, SERVER_TIMING_MAX_METRICS + 1)
})

t.test('addServerTiming(): throws on metrics that could break the header', async (t) => {
  let failures: string[] = []
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }))((req, res) => {
      const attempts: unknown[] = [
        null,
        { name: 'bad name' },
        { name: 'x,y' },
        { name: '' },
        { name: 'db', dur: -1 },
        { name: 'db', dur: Number.NaN },
        { name: 'db', dur: '12' },
        { name: 'db', desc: 'line\r\nInjected: yes' },
        { name: 'db', desc: 'caf\u00e9' },
        { name: 'db', desc: 'x'.repeat(257) },
      ]
      failures = attempts.map((metric) => {
        try {
          addServerTiming(req, metric as never)
          return 'accepted'
        } catch (err) {
          return `${(err as Error).name}: ${(err as Error).message}`
        }
      })
      res.end()
    }),
  )
  const res = await fetch(url)
  t.equal(res.headers.get('server-timing')!.startsWith('total;dur='), true)
  t.equal(failures.length, 10)
  for (const failure of failures) t.match(failure, /^TypeError: addServerTiming\(\): /)
  t.match(failures[1], /metric name must be a token/)
  t.match(failures[4], /"dur" of metric "db" must be a finite number of milliseconds ≥ 0; received -1/)
  t.match(failures[7], /"desc" of metric "db" must be at most 256 characters of printable ASCII/)
})

t.test('timing(): on empty end(), HEAD, 204, 304 and writeHead with headers', async (t) => {
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }))((req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
        return
      }
      if (req.url === '/304') {
        res.writeHead(304, { etag: '"x"' })
        res.end()
        return
      }
      if (req.url === '/wh') {
        res.writeHead(201, { 'content-type': 'text/plain', 'server-timing': 'app;dur=1' })
        res.end('made')
        return
      }
      res.end()
    }),
  )
  for (const path of ['/', '/204', '/304'])
    t.match((await fetch(url + path)).headers.get('server-timing'), /^total;dur=\d+\.\d$/, path)
  const created = await fetch(`${url}/wh`)
  t.equal(created.status, 201)
  t.match(created.headers.get('server-timing'), /^app;dur=1, total;dur=\d+\.\d$/)
  const head = await httpRequest(url, { method: 'HEAD' })
  t.match(head.headers['server-timing'], /^total;dur=/)
})

t.test('timing(): the error answer of an outer layer is timed, with the metrics added before the throw', async (t) => {
  const boundary: Middleware = (next) => async (req, res) => {
    try {
      await next(req, res)
    } catch {
      sendError(req, res, new HttpError(500))
    }
  }
  const url = await serve(
    t,
    compose(
      boundary,
      timing({ serverTiming: true }),
    )(async (req) => {
      addServerTiming(req, { name: 'db', dur: 3 })
      throw new Error('boom')
    }),
  )
  const res = await fetch(url)
  t.equal(res.status, 500)
  t.match(res.headers.get('server-timing'), /^db;dur=3, total;dur=\d+\.\d$/)
})

t.test('timing(): a streamed body with backpressure: headers at the first write, every byte delivered', async (t) => {
  const chunk = 'y'.repeat(64 * 1024)
  let sawBackpressure = false
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }))(async (_req, res) => {
      if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawBackpressure = true
      res.end()
    }),
  )
  const res = await fetch(url)
  t.match(res.headers.get('server-timing'), /^total;dur=/)
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawBackpressure)
})

t.test('timing(): measures from the first layer that asked for the arrival time', async (t) => {
  const clock = fakeClock()
  let outerArrival = 0
  // An outer layer pins the arrival, then spends (fake) time before calling inward.
  const early: Middleware = (next) => (req, res) => {
    outerArrival = arrivalTime(req)
    return next(req, res)
  }
  const url = await serve(
    t,
    compose(
      early,
      timing({ serverTiming: true, now: clock.now }),
    )((req, res) => {
      t.equal(arrivalTime(req), outerArrival)
      clock.elapse(req, 40)
      res.end()
    }),
  )
  t.equal((await fetch(url)).headers.get('server-timing'), 'total;dur=40.0')
})

t.test('timing(): a second timing() in the same stack sends one total', async (t) => {
  const url = await serve(
    t,
    compose(timing({ serverTiming: true }), timing({ serverTiming: true }))((_req, res) => res.end()),
  )
  t.match((await fetch(url)).headers.get('server-timing'), /^total;dur=\d+\.\d$/)
})

t.test('timing(): by default Server-Timing goes only to requests an identity layer authenticated', async (t) => {
  const KEY = 'k'.repeat(32)
  const clock = fakeClock()
  const url = await serve(
    t,
    compose(
      timing({ now: clock.now, responseTime: true }),
      apiKey({ keys: [{ key: KEY, id: 'client-a' }], optional: true }),
    )((req, res) => {
      addServerTiming(req, { name: 'db', dur: 2, desc: 'users' })
      clock.elapse(req, 5)
      res.end()
    }),
  )
  const anonymous = await fetch(url)
  t.equal(anonymous.status, 200)
  t.equal(anonymous.headers.get('server-timing'), null, 'an anonymous client gets no backend timings')
  t.equal(anonymous.headers.get('x-response-time'), '5.0ms', 'X-Response-Time, asked for explicitly, is unchanged')
  const known = await fetch(url, { headers: { 'x-api-key': KEY } })
  t.equal(known.headers.get('server-timing'), 'db;dur=2;desc=users, total;dur=5.0', 'an authenticated client gets them')
  const refused = await fetch(url, { headers: { 'x-api-key': 'x'.repeat(32) } })
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('server-timing'), null, 'a refused credential gets none either')
})

t.test('timing(): serverTiming "authenticated" follows userIdState, whoever sets it; explain() says so', async (t) => {
  const identify = defineMiddleware({ name: 'identify' }, (next) => (req, res) => {
    if (req.headers['x-user'] === 'ada') userIdState.set(req, 'ada')
    return next(req, res)
  })
  const stack = compose(timing({ serverTiming: 'authenticated' }), identify)
  const url = await serve(
    t,
    stack((_req, res) => res.end()),
  )
  t.equal((await fetch(url)).headers.get('server-timing'), null)
  t.match((await fetch(url, { headers: { 'x-user': 'ada' } })).headers.get('server-timing'), /^total;dur=\d+\.\d$/)
  t.match(stack.explain(), /timing \(Server-Timing \(authenticated\)\)/)
  t.match(compose(timing({ serverTiming: true })).explain(), /timing \(Server-Timing\)/)
})

t.test('timing(): ordering: wraps the layers whose time it counts', async (t) => {
  const rateLimit = defineMiddleware({ name: 'rateLimit' }, (next) => next)
  t.throws(() => compose({ strict: true }, rateLimit, timing()), {
    name: 'OrderingError',
    message: /timing \(layer 2\) must wrap rateLimit .* the total must include the time spent in it/,
  })
  t.doesNotThrow(() => compose({ strict: true }, timing(), rateLimit))
})

t.test('timing(): config: rejects bad options with the option named', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [
      { serverTiming: 'yes' },
      /timing\(\): option "serverTiming" must be true, false or "authenticated"; received "yes" \(string\)\. Use "authenticated" \(the default\)/,
    ],
    [{ serverTiming: 'always' }, /option "serverTiming" must be true, false or "authenticated"/],
    [{ responseTime: 1 }, /option "responseTime" must be true or false/],
    [
      { serverTiming: false },
      /option "serverTiming" must be true when responseTime is false; received false \(boolean\)\. With both headers off/,
    ],
    [
      { metricName: 'total time' },
      /option "metricName" must be a metric name \(RFC 9110 token.*received "total time" \(string\)\. Use letters, digits and "-", e\.g\. "total"/,
    ],
    [{ metricName: '' }, /option "metricName" must be a metric name/],
    [{ digits: 7 }, /option "digits" must be an integer from 0 to 6; received 7/],
    [{ digits: -1 }, /option "digits" must be an integer from 0 to 6/],
    [{ now: 5 }, /option "now" must be a function/],
    [{ serverTimings: true }, /^timing\(\): unknown option "serverTimings"; did you mean "serverTiming"\?$/],
  ]
  for (const [options, message] of bad)
    t.throws(() => timing(options), { name: 'ConfigError', message }, JSON.stringify(options))
})
