import t from 'tap'
import {
  clientIdentity,
  compose,
  getTrace,
  HttpError,
  propagationHeaders,
  requestContext,
  requestId,
  sendError,
  traceContext,
  tryGetTrace,
  type Middleware,
  type RawHandler,
  type TraceInfo,
} from '../../../lib/index.js'
import { defineMiddleware, setClientIdentity } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

const showTrace: RawHandler = (req, res) => {
  res.end(JSON.stringify(getTrace(req)))
}
const traceOf = async (res: Response) => (await res.json()) as TraceInfo

const viaProxy: Middleware = defineMiddleware(
  { name: 'proxyHeaders' },
  (next) =>
    function fakeProxy(req, res) {
      setClientIdentity(req, { ...clientIdentity(req), viaTrustedProxy: req.headers['x-test-proxy'] === '1' })
      return next(req, res)
    },
)

t.test('traceContext(): continues a valid traceparent with a new span of its own', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const trace = await traceOf(
    await fetch(url, { headers: { traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7' } }),
  )
  t.equal(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(trace.parentSpanId, '00f067aa0ba902b7')
  t.match(trace.spanId, /^[0-9a-f]{16}$/)
  t.not(trace.spanId, '00f067aa0ba902b7')
  t.equal(trace.sampled, true)
  t.equal(trace.traceState, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')
  const unsampled = await traceOf(await fetch(url, { headers: { traceparent: PARENT.replace(/01$/, '00') } }))
  t.equal(unsampled.sampled, false)
  t.equal(unsampled.traceState, undefined)
})

t.test('traceContext(): starts a new trace on a missing or invalid traceparent, dropping tracestate', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const invalid = [
    undefined,
    'garbage',
    PARENT.toUpperCase(),
    `${PARENT}-extra`,
    PARENT.replace('4bf92f3577b34da6a3ce929d0e0e4736', '0'.repeat(32)),
  ]
  const seen = new Set<string>()
  for (const traceparent of invalid) {
    const headers: Record<string, string> = { tracestate: 'a=b' }
    if (traceparent !== undefined) headers.traceparent = traceparent
    const trace = await traceOf(await fetch(url, { headers }))
    t.match(trace.traceId, /^[0-9a-f]{32}$/)
    t.not(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
    t.equal(trace.parentSpanId, undefined)
    t.equal(trace.traceState, undefined)
    t.equal(trace.sampled, true)
    seen.add(trace.traceId)
  }
  t.equal(seen.size, invalid.length)
})

t.test('traceContext(): a traceparent sent on two lines starts a new trace', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const res = parseRawResponse(
    await rawExchange(
      url,
      `GET / HTTP/1.1\r\nHost: x\r\ntraceparent: ${PARENT}\r\ntraceparent: ${PARENT}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal((JSON.parse(res.body.toString()) as TraceInfo).parentSpanId, undefined)
})

t.test('traceContext(): tracestate lines are combined; an invalid one is dropped whole', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const combined = parseRawResponse(
    await rawExchange(
      url,
      `GET / HTTP/1.1\r\nHost: x\r\ntraceparent: ${PARENT}\r\ntracestate: a=1\r\ntracestate: b=2\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.equal((JSON.parse(combined.body.toString()) as TraceInfo).traceState, 'a=1,b=2')
  const dup = await traceOf(await fetch(url, { headers: { traceparent: PARENT, tracestate: 'a=1,a=2' } }))
  t.equal(dup.traceState, undefined)
})

t.test('traceContext(): trustIncoming false and "proxy"', async (t) => {
  const never = await serve(t, compose(traceContext({ trustIncoming: false }))(showTrace))
  t.not(
    (await traceOf(await fetch(never, { headers: { traceparent: PARENT } }))).traceId,
    '4bf92f3577b34da6a3ce929d0e0e4736',
  )
  const proxy = await serve(t, compose(viaProxy, traceContext({ trustIncoming: 'proxy' }))(showTrace))
  t.not(
    (await traceOf(await fetch(proxy, { headers: { traceparent: PARENT } }))).traceId,
    '4bf92f3577b34da6a3ce929d0e0e4736',
  )
  t.equal(
    (await traceOf(await fetch(proxy, { headers: { traceparent: PARENT, 'x-test-proxy': '1' } }))).traceId,
    '4bf92f3577b34da6a3ce929d0e0e4736',
  )
})

t.test('traceContext(): sampleRate decides for new traces only', async (t) => {
  let draw = 0.5
  const url = await serve(t, compose(traceContext({ sampleRate: 0.25, random: () => draw }))(showTrace))
  t.equal((await traceOf(await fetch(url))).sampled, false)
  draw = 0.1
  t.equal((await traceOf(await fetch(url))).sampled, true)
  draw = 0.9
  t.equal((await traceOf(await fetch(url, { headers: { traceparent: PARENT } }))).sampled, true)
  const none = await serve(t, compose(traceContext({ sampleRate: 0 }))(showTrace))
  t.equal((await traceOf(await fetch(none))).sampled, false)
})

t.test("traceContext(): echo sends this span's traceparent on every response, errors included", async (t) => {
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
      traceContext({ echo: true }),
    )((req, res) => {
      if (req.url === '/fail') throw new Error('boom')
      if (req.url === '/204') {
        res.writeHead(204, { 'x-a': '1' })
        res.end()
        return
      }
      res.end(JSON.stringify(getTrace(req)))
    }),
  )
  const res = await fetch(url, { headers: { traceparent: PARENT } })
  const trace = await traceOf(res)
  t.equal(res.headers.get('traceparent'), `00-${trace.traceId}-${trace.spanId}-01`)
  for (const path of ['/fail', '/204']) {
    t.match(
      (await fetch(url + path, { headers: { traceparent: PARENT } })).headers.get('traceparent'),
      /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
      path,
    )
  }
  const head = await httpRequest(url, { method: 'HEAD' })
  t.match(head.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  const other = await serve(
    t,
    compose(traceContext({ echo: true, echoHeader: 'traceresponse', sampleRate: 0 }))((_q, res) => res.end()),
  )
  t.match((await fetch(other)).headers.get('traceresponse'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
  const quiet = await fetch(
    await serve(
      t,
      compose(traceContext())((_q, res) => res.end()),
    ),
    { headers: { traceparent: PARENT } },
  )
  t.equal(quiet.headers.get('traceparent'), null)
})

t.test('traceContext(): a streamed body with backpressure is untouched', async (t) => {
  const chunk = 'z'.repeat(64 * 1024)
  let sawBackpressure = false
  const url = await serve(
    t,
    compose(traceContext({ echo: true }))(async (_req, res) => {
      if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawBackpressure = true
      res.end()
    }),
  )
  const res = await fetch(url)
  t.match(res.headers.get('traceparent'), /^00-/)
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawBackpressure)
})

t.test("traceContext(): a second traceContext() stays in the first one's span", async (t) => {
  let inner: TraceInfo | undefined
  const url = await serve(
    t,
    compose(
      traceContext(),
      traceContext(),
    )((req, res) => {
      inner = getTrace(req)
      res.end()
    }),
  )
  await (await fetch(url, { headers: { traceparent: PARENT } })).text()
  t.equal(inner!.parentSpanId, '00f067aa0ba902b7')
})

t.test('propagationHeaders(): carries trace, tracestate and request id to the next service', async (t) => {
  // The next service: records what it received.
  let received: Record<string, string | string[] | undefined> = {}
  const downstream = await serve(t, (req, res) => {
    received = req.headers
    res.end()
  })
  let mine: TraceInfo | undefined
  let requestIdSent = ''
  const url = await serve(
    t,
    compose(
      requestId(),
      traceContext(),
    )(async (req, res) => {
      mine = getTrace(req)
      requestIdSent = String(res.getHeader('x-request-id') ?? '')
      await (await fetch(downstream, { headers: { ...propagationHeaders(req), accept: 'text/plain' } })).text()
      res.end()
    }),
  )
  await (await fetch(url, { headers: { traceparent: PARENT, tracestate: 'k=v' } })).text()
  t.equal(received.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${mine!.spanId}-01`)
  t.equal(received.tracestate, 'k=v')
  t.match(received['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(requestIdSent, '')
})

t.test('propagationHeaders(): options, missing state, and the current request of requestContext()', async (t) => {
  const results: Array<Record<string, string>> = []
  const url = await serve(
    t,
    compose(
      requestContext(),
      requestId({ generate: () => 'rid-1' }),
      traceContext({ sampleRate: 0 }),
    )(async (req, res) => {
      await new Promise((ok) => setImmediate(ok))
      results.push(propagationHeaders())
      results.push(propagationHeaders(req, { requestIdHeader: 'X-Correlation-Id' }))
      results.push(propagationHeaders(req, { requestIdHeader: false }))
      res.end()
    }),
  )
  await (await fetch(url)).text()
  t.match(results[0], { traceparent: /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'x-request-id': 'rid-1' })
  t.equal(results[0]!.tracestate, undefined)
  t.same(Object.keys(results[1]!).sort(), ['traceparent', 'x-correlation-id'])
  t.same(Object.keys(results[2]!), ['traceparent'])
  const bare = await serve(t, (req, res) => {
    res.end(JSON.stringify(propagationHeaders(req)))
  })
  t.same(await (await fetch(bare)).json(), {})
  t.throws(() => propagationHeaders({ headers: {} } as never, { requestIdHeader: 'bad header' }), {
    name: 'TypeError',
    message: /"requestIdHeader" must be a header name or false/,
  })
})

t.test('getTrace(): throws naming traceContext() when it is not mounted; tryGetTrace() is undefined', async (t) => {
  const url = await serve(t, (req, res) => {
    const tried = tryGetTrace(req)
    try {
      getTrace(req)
    } catch (err) {
      res.end(`${tried}|${(err as Error).message}`)
    }
  })
  t.match(
    await (await fetch(url)).text(),
    /^undefined\|getTrace\(\): no trace on this request; mount traceContext\(\) before this handler/,
  )
})

t.test('traceContext(): ordering: outside accessLog; inside proxyHeaders with trust "proxy"', async (t) => {
  const accessLog = defineMiddleware({ name: 'accessLog' }, (next) => next)
  t.throws(() => compose({ strict: true }, accessLog, traceContext()), {
    name: 'OrderingError',
    message: /traceContext \(layer 2\) must wrap accessLog/,
  })
  t.throws(() => compose({ strict: true }, traceContext({ trustIncoming: 'proxy' }), viaProxy), {
    name: 'OrderingError',
  })
  t.doesNotThrow(() => compose({ strict: true }, traceContext(), viaProxy))
})

t.test('traceContext(): config: rejects bad options with the option named', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [{ trustIncoming: 'always' }, /traceContext\(\): option "trustIncoming" must be one of true, false, "proxy"/],
    [{ sampleRate: 1.5 }, /option "sampleRate" must be a number from 0 to 1; received 1\.5/],
    [{ sampleRate: Number.NaN }, /option "sampleRate" must be a number from 0 to 1/],
    [{ echo: 1 }, /option "echo" must be true or false/],
    [{ echoHeader: 'trace parent' }, /option "echoHeader" must be a header name/],
    [
      { maxTraceStateLength: 100 },
      /option "maxTraceStateLength" must be an integer from 512 to 8192; received 100 \(number\)\. The spec asks/,
    ],
    [{ random: 0.5 }, /option "random" must be a function/],
    [
      { sampling: 1 },
      /^traceContext\(\): unknown option "sampling"; known options are trustIncoming, sampleRate, echo, echoHeader, maxTraceStateLength, random\.$/,
    ],
  ]
  for (const [options, message] of bad)
    t.throws(() => traceContext(options), { name: 'ConfigError', message }, JSON.stringify(options))
})
