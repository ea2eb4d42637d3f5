import fc from 'fast-check'
import t from 'tap'
import {
  clientIdentity, compose, defineMiddleware, formatTraceparent, getTrace, HttpError, parseTraceparent, parseTracestate,
  propagationHeaders, requestContext, requestId, sendError, setClientIdentity, traceContext, tryGetTrace,
  type Middleware, type RawHandler, type TraceInfo,
} from '../../lib/index.js'
import { httpRequest } from '../helpers/http.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'
import { serve } from '../helpers/serve.js'

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const HEX = '0123456789abcdef'
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...HEX), minLength: length, maxLength: length })
const traceIdArb = hex(32).filter((s) => /[^0]/.test(s))
const spanIdArb = hex(16).filter((s) => /[^0]/.test(s))

const showTrace: RawHandler = (req, res) => { res.end(JSON.stringify(getTrace(req))) }
const traceOf = async (res: Response) => (await res.json()) as TraceInfo

const viaProxy: Middleware = defineMiddleware({ name: 'proxyHeaders' }, (next) => function fakeProxy(req, res) {
  setClientIdentity(req, { ...clientIdentity(req), viaTrustedProxy: req.headers['x-test-proxy'] === '1' })
  return next(req, res)
})

t.test('traceContext(): continues a valid traceparent with a new span of its own', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const trace = await traceOf(await fetch(url, { headers: { traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7' } }))
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
  const invalid = [undefined, 'garbage', PARENT.toUpperCase(), `${PARENT}-extra`, PARENT.replace('4bf92f3577b34da6a3ce929d0e0e4736', '0'.repeat(32))]
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
  const res = parseRawResponse(await rawExchange(url, `GET / HTTP/1.1\r\nHost: x\r\ntraceparent: ${PARENT}\r\ntraceparent: ${PARENT}\r\nConnection: close\r\n\r\n`))
  t.equal((JSON.parse(res.body.toString()) as TraceInfo).parentSpanId, undefined)
})

t.test('traceContext(): tracestate lines are combined; an invalid one is dropped whole', async (t) => {
  const url = await serve(t, compose(traceContext())(showTrace))
  const combined = parseRawResponse(await rawExchange(url,
    `GET / HTTP/1.1\r\nHost: x\r\ntraceparent: ${PARENT}\r\ntracestate: a=1\r\ntracestate: b=2\r\nConnection: close\r\n\r\n`))
  t.equal((JSON.parse(combined.body.toString()) as TraceInfo).traceState, 'a=1,b=2')
  const dup = await traceOf(await fetch(url, { headers: { traceparent: PARENT, tracestate: 'a=1,a=2' } }))
  t.equal(dup.traceState, undefined)
})

t.test('traceContext(): trustIncoming false and "proxy"', async (t) => {
  const never = await serve(t, compose(traceContext({ trustIncoming: false }))(showTrace))
  t.not((await traceOf(await fetch(never, { headers: { traceparent: PARENT } }))).traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  const proxy = await serve(t, compose(viaProxy, traceContext({ trustIncoming: 'proxy' }))(showTrace))
  t.not((await traceOf(await fetch(proxy, { headers: { traceparent: PARENT } }))).traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal((await traceOf(await fetch(proxy, { headers: { traceparent: PARENT, 'x-test-proxy': '1' } }))).traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
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

t.test('traceContext(): echo sends this span\'s traceparent on every response, errors included', async (t) => {
  const boundary: Middleware = (next) => async (req, res) => {
    try { await next(req, res) } catch { sendError(req, res, new HttpError(500)) }
  }
  const url = await serve(t, compose(boundary, traceContext({ echo: true }))((req, res) => {
    if (req.url === '/fail') throw new Error('boom')
    if (req.url === '/204') { res.writeHead(204, { 'x-a': '1' }); res.end(); return }
    res.end(JSON.stringify(getTrace(req)))
  }))
  const res = await fetch(url, { headers: { traceparent: PARENT } })
  const trace = await traceOf(res)
  t.equal(res.headers.get('traceparent'), `00-${trace.traceId}-${trace.spanId}-01`)
  for (const path of ['/fail', '/204']) {
    t.match((await fetch(url + path, { headers: { traceparent: PARENT } })).headers.get('traceparent'), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, path)
  }
  const head = await httpRequest(url, { method: 'HEAD' })
  t.match(head.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  const other = await serve(t, compose(traceContext({ echo: true, echoHeader: 'traceresponse', sampleRate: 0 }))((_q, res) => res.end()))
  t.match((await fetch(other)).headers.get('traceresponse'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
  const quiet = await fetch(await serve(t, compose(traceContext())((_q, res) => res.end())), { headers: { traceparent: PARENT } })
  t.equal(quiet.headers.get('traceparent'), null)
})

t.test('traceContext(): a streamed body with backpressure is untouched', async (t) => {
  const chunk = 'z'.repeat(64 * 1024)
  let sawBackpressure = false
  const url = await serve(t, compose(traceContext({ echo: true }))(async (_req, res) => {
    for (let i = 0; i < 64; i++) {
      if (!res.write(chunk)) { sawBackpressure = true; await new Promise((ok) => res.once('drain', ok)) }
    }
    res.end()
  }))
  const res = await fetch(url)
  t.match(res.headers.get('traceparent'), /^00-/)
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawBackpressure)
})

t.test('traceContext(): a second traceContext() stays in the first one\'s span', async (t) => {
  let inner: TraceInfo | undefined
  const url = await serve(t, compose(traceContext(), traceContext())((req, res) => { inner = getTrace(req); res.end() }))
  await (await fetch(url, { headers: { traceparent: PARENT } })).text()
  t.equal(inner!.parentSpanId, '00f067aa0ba902b7')
})

t.test('propagationHeaders(): carries trace, tracestate and request id to the next service', async (t) => {
  // The next service: records what it received.
  let received: Record<string, string | string[] | undefined> = {}
  const downstream = await serve(t, (req, res) => { received = req.headers; res.end() })
  let mine: TraceInfo | undefined
  let requestIdSent = ''
  const url = await serve(t, compose(requestId(), traceContext())(async (req, res) => {
    mine = getTrace(req)
    requestIdSent = String(res.getHeader('x-request-id') ?? '')
    await (await fetch(downstream, { headers: { ...propagationHeaders(req), accept: 'text/plain' } })).text()
    res.end()
  }))
  await (await fetch(url, { headers: { traceparent: PARENT, tracestate: 'k=v' } })).text()
  t.equal(received.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${mine!.spanId}-01`)
  t.equal(received.tracestate, 'k=v')
  t.match(received['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(requestIdSent, '')
})

t.test('propagationHeaders(): options, missing state, and the current request of requestContext()', async (t) => {
  const results: Array<Record<string, string>> = []
  const url = await serve(t, compose(requestContext(), requestId({ generate: () => 'rid-1' }), traceContext({ sampleRate: 0 }))(async (req, res) => {
    await new Promise((ok) => setImmediate(ok))
    results.push(propagationHeaders())
    results.push(propagationHeaders(req, { requestIdHeader: 'X-Correlation-Id' }))
    results.push(propagationHeaders(req, { requestIdHeader: false }))
    res.end()
  }))
  await (await fetch(url)).text()
  t.match(results[0], { traceparent: /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'x-request-id': 'rid-1' })
  t.equal(results[0]!.tracestate, undefined)
  t.same(Object.keys(results[1]!).sort(), ['traceparent', 'x-correlation-id'])
  t.same(Object.keys(results[2]!), ['traceparent'])
  const bare = await serve(t, (req, res) => { res.end(JSON.stringify(propagationHeaders(req))) })
  t.same(await (await fetch(bare)).json(), {})
  t.throws(() => propagationHeaders({ headers: {} } as never, { requestIdHeader: 'bad header' }), { name: 'TypeError', message: /"requestIdHeader" must be a header name or false/ })
})

t.test('getTrace(): throws naming traceContext() when it is not mounted; tryGetTrace() is undefined', async (t) => {
  const url = await serve(t, (req, res) => {
    const tried = tryGetTrace(req)
    try { getTrace(req) } catch (err) { res.end(`${tried}|${(err as Error).message}`) }
  })
  t.match(await (await fetch(url)).text(), /^undefined\|getTrace\(\): no trace on this request; mount traceContext\(\) before this handler/)
})

t.test('traceContext(): ordering: outside accessLog; inside proxyHeaders with trust "proxy"', async (t) => {
  const accessLog = defineMiddleware({ name: 'accessLog' }, (next) => next)
  t.throws(() => compose({ strict: true }, accessLog, traceContext()), { name: 'OrderingError', message: /traceContext \(layer 2\) must wrap accessLog/ })
  t.throws(() => compose({ strict: true }, traceContext({ trustIncoming: 'proxy' }), viaProxy), { name: 'OrderingError' })
  t.doesNotThrow(() => compose({ strict: true }, traceContext(), viaProxy))
})

t.test('parseTraceparent(): round trip of every valid version-00 header (property)', async (t) => {
  fc.assert(fc.property(traceIdArb, spanIdArb, fc.integer({ min: 0, max: 255 }), (traceId, parentId, flags) => {
    const header = formatTraceparent(traceId, parentId, flags)
    const parsed = parseTraceparent(header)
    return header.length === 55 && parsed !== undefined && parsed.version === '00' && parsed.traceId === traceId &&
      parsed.parentId === parentId && parsed.flags === flags && parsed.sampled === ((flags & 1) === 1) &&
      formatTraceparent(parsed.traceId, parsed.parentId, parsed.flags) === header
  }))
  t.pass()
})

t.test('parseTraceparent(): rejects every malformed shape (property)', async (t) => {
  const valid = fc.tuple(traceIdArb, spanIdArb, hex(2)).map(([a, b, f]) => ({ a, b, f }))
  const mutations: Array<[string, fc.Arbitrary<string>]> = [
    ['version ff', valid.map(({ a, b, f }) => `ff-${a}-${b}-${f}`)],
    ['all-zero trace id', fc.tuple(spanIdArb, hex(2)).map(([b, f]) => `00-${'0'.repeat(32)}-${b}-${f}`)],
    ['all-zero parent id', fc.tuple(traceIdArb, hex(2)).map(([a, f]) => `00-${a}-${'0'.repeat(16)}-${f}`)],
    ['version 00 with more', fc.tuple(valid, fc.string({ maxLength: 10 })).map(([{ a, b, f }, more]) => `00-${a}-${b}-${f}-${more}`)],
    ['version 00 with trailing characters', fc.tuple(valid, fc.string({ minLength: 1, maxLength: 10 })).map(([{ a, b, f }, more]) => `00-${a}-${b}-${f}${more}`)],
    ['an upper-case digit', valid.chain(({ a, b, f }) => fc.nat(a.length - 1).filter((i) => /[a-f]/.test(a[i]!))
      .map((i) => `00-${a.slice(0, i)}${a[i]!.toUpperCase()}${a.slice(i + 1)}-${b}-${f}`))],
    ['a non-hex character', fc.tuple(valid, fc.nat(54), fc.constantFrom('g', 'z', ' ', '_', 'G', '+', '\u00e9')).map(([{ a, b, f }, i, c]) => {
      const s = `00-${a}-${b}-${f}`
      return `${s.slice(0, i)}${s[i] === '-' ? 'x' : c}${s.slice(i + 1)}`
    })],
    ['a field of the wrong length', fc.tuple(valid, fc.constantFrom(0, 1, 2, 3), fc.boolean()).map(([{ a, b, f }, field, longer]) => {
      const fields = ['00', a, b, f]
      fields[field] = longer ? `${fields[field]}a` : fields[field]!.slice(1)
      return fields.join('-')
    })],
    ['a wrong separator', fc.tuple(valid, fc.constantFrom('_', ' ', '.', ':', '')).map(([{ a, b, f }, sep]) => `00${sep}${a}-${b}-${f}`)],
    ['a future version whose prefix runs on', fc.tuple(valid, fc.constantFrom('0', 'x', '.')).map(([{ a, b, f }, c]) => `01-${a}-${b}-${f}${c}more`)],
    ['anything short', fc.string({ maxLength: 54 })],
  ]
  for (const [label, arb] of mutations) {
    fc.assert(fc.property(arb, (header) => parseTraceparent(header) === undefined), { numRuns: 200 })
    t.pass(label)
  }
  t.equal(parseTraceparent(undefined), undefined)
})

t.test('parseTraceparent(): reads a future version by the version-00 layout', async (t) => {
  t.match(parseTraceparent(`cc-${PARENT.slice(3)}`), { version: 'cc', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sampled: true })
  t.match(parseTraceparent(`cc-${PARENT.slice(3)}-what-the-future-holds`), { version: 'cc', parentId: '00f067aa0ba902b7' })
  t.match(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03'), { flags: 3, sampled: true })
})

t.test('parseTracestate(): validation, normalisation and trimming', async (t) => {
  t.equal(parseTracestate(' a=1 ,\t, b@sys=x y , c-*/_9=~ '), 'a=1,b@sys=x y,c-*/_9=~')
  // Spaces around a member are OWS, not part of its value.
  t.equal(parseTracestate('a=ends '), 'a=ends')
  t.equal(parseTracestate(''), undefined)
  t.equal(parseTracestate(' , '), undefined)
  t.equal(parseTracestate(undefined), undefined)
  for (const bad of ['A=1', '1a=1', 'a=', 'a=b,c', 'a=x=y', 'a=b\u00e9', 'a=in=side', 'a=1,a=2', `${'k'.repeat(257)}=v`, `a=${'v'.repeat(257)}`, 'a@Sys=1', 'a@b@c=1']) {
    t.equal(parseTracestate(bad), undefined, bad)
  }
  const members32 = Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')
  t.equal(parseTracestate(members32), members32)
  t.equal(parseTracestate(`${members32},k32=v`), undefined)
  // Longer than 512: members over 128 characters go first, then members from the end.
  const big = `big=${'b'.repeat(200)}`
  const small = Array.from({ length: 31 }, (_, i) => `s${String(i).padStart(2, '0')}=${'v'.repeat(16)}`)
  const trimmed = parseTracestate([small[0], big, ...small.slice(1)].join(','))!
  t.notMatch(trimmed, /big=/)
  t.ok(trimmed.length <= 512)
  t.ok(trimmed.startsWith(`s00=${'v'.repeat(16)},s01=`))
  t.equal(trimmed.split(',').length, 24)
  const v250 = 'v'.repeat(250)
  t.equal(parseTracestate(`a=${v250},b=${v250},d=${v250},c=1`, 512), `a=${v250},b=${v250},c=1`)
})

t.test('parseTracestate(): accepts every well-formed list and keeps it (property)', async (t) => {
  const keyChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-*/')
  const key = fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), fc.string({ unit: keyChar, maxLength: 20 })).map(([a, b]) => a + b)
  const valueChar = fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x2c && c !== 0x3d).map((c) => String.fromCharCode(c))
  const value = fc.tuple(fc.string({ unit: valueChar, maxLength: 12 }), valueChar.filter((c) => c !== ' ')).map(([a, b]) => a + b)
  fc.assert(fc.property(fc.uniqueArray(key, { minLength: 1, maxLength: 10 }), fc.array(value, { minLength: 10, maxLength: 10 }), (keys, values) => {
    const list = keys.map((k, i) => `${k}=${values[i]}`).join(',')
    return parseTracestate(list) === list
  }))
  t.pass()
})

t.test('traceContext(): config: rejects bad options with the option named', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [{ trustIncoming: 'always' }, /traceContext\(\): option "trustIncoming" must be one of true, false, "proxy"/],
    [{ sampleRate: 1.5 }, /option "sampleRate" must be a number from 0 to 1; received 1\.5/],
    [{ sampleRate: Number.NaN }, /option "sampleRate" must be a number from 0 to 1/],
    [{ echo: 1 }, /option "echo" must be true or false/],
    [{ echoHeader: 'trace parent' }, /option "echoHeader" must be a header name/],
    [{ maxTraceStateLength: 100 }, /option "maxTraceStateLength" must be an integer from 512 to 8192; received 100 \(number\)\. The spec asks/],
    [{ random: 0.5 }, /option "random" must be a function/],
    [{ sampling: 1 }, /must be a known option/],
  ]
  for (const [options, message] of bad) t.throws(() => traceContext(options), { name: 'ConfigError', message }, JSON.stringify(options))
})
