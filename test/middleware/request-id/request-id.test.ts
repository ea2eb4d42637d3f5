import fc from 'fast-check'
import t from 'tap'
import {
  compose,
  getRequestId,
  HttpError,
  isRequestId,
  requestId,
  sendError,
  clientIdentity,
  tryGetRequestId,
  type Middleware,
  type RawHandler,
} from '../../../lib/index.js'
import { defineMiddleware, requestIdState, setClientIdentity } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { silenceWarningOutput } from '../../helpers/wait.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:=-'

const echoId: RawHandler = (req, res) => {
  res.end(getRequestId(req))
}

/** Stands in for proxyHeaders(): marks the request as forwarded by a trusted proxy. */
const viaProxy: Middleware = defineMiddleware(
  { name: 'proxyHeaders' },
  (next) =>
    function fakeProxy(req, res) {
      setClientIdentity(req, { ...clientIdentity(req), viaTrustedProxy: req.headers['x-test-proxy'] === '1' })
      return next(req, res)
    },
)

/** Answers its failures like an error boundary would, so a 500 goes through sendError. */
const boundary: Middleware = (next) =>
  async function boundaryHandler(req, res) {
    try {
      await next(req, res)
    } catch (err) {
      sendError(req, res, err instanceof HttpError ? err : new HttpError(500))
    }
  }

const raw = (url: string, headerLines: string) =>
  rawExchange(url, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${headerLines}Connection: close\r\n\r\n`, 'latin1'))

t.test('requestId(): an id other code set is echoed only after the header checks', async (t) => {
  // requestIdState is public: an id set before requestId() runs is kept, and must not go
  // into the head unchecked (Node writes its header map without checking it again).
  const presets: Middleware = (next) => (req, res) => {
    requestIdState.set(req, req.headers['x-bad'] === '1' ? 'a\r\nx-injected: 1' : 'other code id')
    return next(req, res)
  }
  const url = await serve(t, compose(boundary, presets, requestId())(echoId))
  const good = await fetch(url)
  t.equal(
    good.headers.get('x-request-id'),
    'other code id',
    'a valid header value outside the id alphabet still goes out',
  )
  const bad = parseRawResponse(await raw(url, 'x-bad: 1\r\n'))
  t.equal(bad.status, 500, "Node's check refuses it, and the boundary answers")
  t.equal(bad.headers['x-injected'], undefined)
})

t.test('requestId(): mints a UUID v7, stores it and echoes it in x-request-id', async (t) => {
  const url = await serve(t, compose(requestId())(echoId))
  const res = await fetch(url)
  const body = await res.text()
  t.match(body, UUID_V7)
  t.equal(res.headers.get('x-request-id'), body)
  const second = await (await fetch(url)).text()
  t.not(second, body)
  // Time-ordered: a later id sorts after an earlier one.
  t.ok(second > body)
})

t.test(
  'requestId(): ids minted across a refill of the random pool stay valid, unique and in creation order',
  async (t) => {
    const url = await serve(t, compose(requestId())(echoId))
    const ids: string[] = []
    for (let i = 0; i < 300; i++) ids.push(await (await fetch(url)).text())
    t.ok(ids.every((id) => UUID_V7.test(id)))
    t.equal(new Set(ids).size, ids.length)
    t.same([...ids].sort(), ids, 'sorting by id is sorting by creation')
  },
)

t.test('requestId(): by default ignores a client id when no trusted proxy forwarded the request', async (t) => {
  const url = await serve(t, compose(viaProxy, requestId())(echoId))
  const direct = await fetch(url, { headers: { 'x-request-id': 'client-chosen' } })
  t.match(await direct.text(), UUID_V7)
  t.not(direct.headers.get('x-request-id'), 'client-chosen')
  const proxied = await fetch(url, { headers: { 'x-request-id': 'from-proxy-1', 'x-test-proxy': '1' } })
  t.equal(await proxied.text(), 'from-proxy-1')
  t.equal(proxied.headers.get('x-request-id'), 'from-proxy-1')
})

t.test('requestId(): trustIncoming true keeps a valid id, false never does', async (t) => {
  const always = await serve(t, compose(requestId({ trustIncoming: true }))(echoId))
  t.equal(
    await (await fetch(always, { headers: { 'x-request-id': 'Root=1-abc:def_9.z' } })).text(),
    'Root=1-abc:def_9.z',
  )
  const never = await serve(t, compose(viaProxy, requestId({ trustIncoming: false }))(echoId))
  t.match(await (await fetch(never, { headers: { 'x-request-id': 'abc', 'x-test-proxy': '1' } })).text(), UUID_V7)
})

t.test('requestId(): replaces invalid incoming ids and never echoes them', async (t) => {
  const url = await serve(t, compose(requestId({ trustIncoming: true }))(echoId))
  const cases: Array<[string, string]> = [
    ['too long', `X-Request-Id: ${'a'.repeat(129)}\r\n`],
    ['a space', 'X-Request-Id: a b\r\n'],
    ['non-ASCII', 'X-Request-Id: caf\xe9\r\n'],
    ['an ANSI escape without ESC', 'X-Request-Id: [31mred\r\n'],
    ['empty', 'X-Request-Id: \r\n'],
    ['quotes and commas', 'X-Request-Id: "a",b\r\n'],
    ['several lines', 'X-Request-Id: one\r\nX-Request-Id: two\r\n'],
  ]
  for (const [label, lines] of cases) {
    const res = parseRawResponse(await raw(url, lines))
    t.equal(res.status, 200, label)
    t.match(res.headers['x-request-id'], UUID_V7, label)
    t.equal(res.body.toString(), res.headers['x-request-id'], label)
  }
  // Exactly 128 characters is still kept.
  const max = 'b'.repeat(128)
  t.equal(parseRawResponse(await raw(url, `X-Request-Id: ${max}\r\n`)).headers['x-request-id'], max)
})

t.test('requestId(): a control character never reaches the handler or the response', async (t) => {
  const url = await serve(t, compose(requestId({ trustIncoming: true }))(echoId))
  // Node's parser refuses the request itself (400); either way the value is never echoed.
  const bytes = await raw(url, 'X-Request-Id: \x1b[31mred\r\n')
  t.notMatch(bytes.toString('latin1'), /\x1b/)
})

t.test('requestId(): incomingHeaders accepts other names; the first one present decides', async (t) => {
  const url = await serve(
    t,
    compose(requestId({ trustIncoming: true, incomingHeaders: ['x-request-id', 'x-correlation-id'] }))(echoId),
  )
  const correlated = await fetch(url, { headers: { 'x-correlation-id': 'corr-1' } })
  t.equal(await correlated.text(), 'corr-1')
  t.equal(correlated.headers.get('x-request-id'), 'corr-1')
  t.equal(
    await (await fetch(url, { headers: { 'x-request-id': 'req-1', 'x-correlation-id': 'corr-1' } })).text(),
    'req-1',
  )
  // A present but invalid first choice is replaced, not skipped in favour of the second.
  t.match(
    await (await fetch(url, { headers: { 'x-request-id': 'bad id', 'x-correlation-id': 'corr-1' } })).text(),
    UUID_V7,
  )
})

t.test('requestId(): a custom header name and maxLength', async (t) => {
  const url = await serve(t, compose(requestId({ header: 'X-Trace-Tag', trustIncoming: true, maxLength: 4 }))(echoId))
  const short = await fetch(url, { headers: { 'x-trace-tag': 'abcd' } })
  t.equal(short.headers.get('x-trace-tag'), 'abcd')
  t.equal(short.headers.get('x-request-id'), null)
  t.match(await (await fetch(url, { headers: { 'x-trace-tag': 'abcde' } })).text(), UUID_V7)
})

t.test('requestId(): echoes the id on refusals of inner layers and on a boundary 500', async (t) => {
  const refuse: Middleware = (next) => (req, res) => {
    if (req.url === '/401') {
      sendError(req, res, new HttpError(401))
      return
    }
    return next(req, res)
  }
  const url = await serve(
    t,
    compose(
      boundary,
      requestId(),
      refuse,
    )(() => {
      throw new Error('boom')
    }),
  )
  for (const [path, status] of [
    ['/401', 401],
    ['/500', 500],
  ] as const) {
    const res = await fetch(url + path)
    t.equal(res.status, status)
    const body = (await res.json()) as { requestId: string }
    t.match(body.requestId, UUID_V7)
    t.equal(res.headers.get('x-request-id'), body.requestId)
  }
})

t.test('requestId(): echoes on empty end(), HEAD, 204, 304 and writeHead with headers', async (t) => {
  const url = await serve(
    t,
    compose(requestId())((req, res) => {
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
      // The handler's own value loses: the outer layer has the last word at response start.
      if (req.url === '/head') {
        res.writeHead(200, { 'x-request-id': 'handler-set', 'content-length': 5 })
        res.end()
        return
      }
      res.end()
    }),
  )
  for (const path of ['/', '/204', '/304']) {
    const res = await fetch(url + path)
    t.match(res.headers.get('x-request-id'), UUID_V7, path)
  }
  const head = await httpRequest(`${url}/head`, { method: 'HEAD' })
  t.match(head.headers['x-request-id'], UUID_V7)
  t.equal(head.headers['content-length'], '5')
})

t.test('requestId(): a handler that throws gets its 500 from the outer layer with the id', async (t) => {
  const url = await serve(
    t,
    compose(
      boundary,
      requestId(),
    )(async () => {
      throw new HttpError(503, 'later')
    }),
  )
  const res = await fetch(url)
  t.equal(res.status, 503)
  t.equal(res.headers.get('x-request-id'), ((await res.json()) as { requestId: string }).requestId)
})

t.test('requestId(): a streamed body with backpressure keeps the header and every byte', async (t) => {
  const chunk = 'x'.repeat(64 * 1024)
  let sawBackpressure = false
  const url = await serve(
    t,
    compose(requestId())(async (_req, res) => {
      if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawBackpressure = true
      res.end()
    }),
  )
  const res = await fetch(url)
  t.match(res.headers.get('x-request-id'), UUID_V7)
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawBackpressure)
})

t.test('requestId(): echo false stores the id without sending it', async (t) => {
  const res = await fetch(await serve(t, compose(requestId({ echo: false }))(echoId)))
  t.match(await res.text(), UUID_V7)
  t.equal(res.headers.get('x-request-id'), null)
})

t.test('requestId(): a second requestId() keeps the id the first chose', async (t) => {
  const res = await fetch(await serve(t, compose(requestId(), requestId({ generate: () => 'inner' }))(echoId)))
  const body = await res.text()
  t.match(body, UUID_V7)
  t.equal(res.headers.get('x-request-id'), body)
})

t.test('requestId(): a custom generator; one failing at run time is reported once and replaced', async (t) => {
  let n = 0
  const url = await serve(
    t,
    compose(requestId({ generate: () => (++n === 1 ? 'first-check' : n % 2 ? 'bad id' : `id-${n}`) }))(echoId),
  )
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  t.equal(await (await fetch(url)).text(), 'id-2')
  t.match(await (await fetch(url)).text(), UUID_V7)
  t.equal(await (await fetch(url)).text(), 'id-4')
  t.match(await (await fetch(url)).text(), UUID_V7)
  await new Promise((ok) => setImmediate(ok))
  const ours = warnings.filter((w) => /requestId\(\) generate/.test(w.message))
  t.equal(ours.length, 1)
  t.match(ours[0]!.message, /"bad id" \(string\), not a valid request id/)
})

t.test(
  'getRequestId(): throws naming requestId() when it is not mounted; tryGetRequestId() is undefined',
  async (t) => {
    let tried: unknown = 'unset'
    const res = await fetch(
      await serve(t, (req, res) => {
        tried = tryGetRequestId(req)
        try {
          getRequestId(req)
        } catch (err) {
          res.end((err as Error).message)
        }
      }),
    )
    t.equal(tried, undefined)
    t.match(await res.text(), /getRequestId\(\): no requestId on this request; mount requestId\(\) before this handler/)
  },
)

t.test('requestId(): ordering: outside accessLog, inside proxyHeaders only when trust is "proxy"', async (t) => {
  const accessLog = defineMiddleware({ name: 'accessLog' }, (next) => next)
  t.throws(() => compose({ strict: true }, accessLog, requestId()), {
    name: 'OrderingError',
    message: /requestId \(layer 2\) must wrap accessLog/,
  })
  t.throws(() => compose({ strict: true }, requestId(), viaProxy), {
    name: 'OrderingError',
    message: /proxyHeaders \(layer 2\) must wrap requestId/,
  })
  t.doesNotThrow(() => compose({ strict: true }, requestId({ trustIncoming: true }), viaProxy))
  t.match(compose(viaProxy, requestId(), accessLog).explain(), /ok\s+requestId wraps accessLog/)
})

t.test('isRequestId(): accepts 1 to 128 characters of the alphabet (property)', async (t) => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 128 }),
      (id) => isRequestId(id) && isRequestId(id, id.length) && !isRequestId(id, id.length - 1),
    ),
  )
  t.pass()
})

t.test(
  'isRequestId(): rejects any value with a character outside the alphabet, too long, or empty (property)',
  async (t) => {
    const valid = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 60 })
    const outside = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !ALPHABET.includes(c))
    fc.assert(fc.property(valid, outside, valid, (a, bad, b) => !isRequestId(a + bad + b)))
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 129, maxLength: 300 }),
        (id) => !isRequestId(id) && !isRequestId(id, 1000),
      ),
    )
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== 'string'),
        (v) => !isRequestId(v),
      ),
    )
    t.notOk(isRequestId(''))
  },
)

t.test(
  'requestId(): over HTTP, a sent value is kept exactly when valid and never echoed otherwise (property)',
  async (t) => {
    const url = await serve(t, compose(requestId({ trustIncoming: true }))(echoId))
    // Values a client can put in a header line: visible ASCII, Latin-1 and spaces, no CR/LF.
    const headerSafe = fc.string({
      unit: fc
        .integer({ min: 0x20, max: 0xff })
        .filter((c) => c !== 0x7f)
        .map((c) => String.fromCharCode(c)),
      maxLength: 140,
    })
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(headerSafe, fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 130 })),
        async (sent) => {
          const res = parseRawResponse(await raw(url, `X-Request-Id: ${sent}\r\n`))
          const echoed = res.headers['x-request-id']!
          // Node trims surrounding spaces of a header value before anyone sees it.
          const seen = sent.replace(/^[ \t]+|[ \t]+$/g, '')
          if (isRequestId(seen)) return echoed === seen
          return UUID_V7.test(echoed) && echoed !== seen
        },
      ),
      { numRuns: 60 },
    )
    t.pass()
  },
)

t.test('requestId(): config: rejects bad options with the option named', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [
      { header: 'x request id' },
      /requestId\(\): option "header" must be a header name.*received "x request id" \(string\)\. Give a header name such as "x-request-id"/,
    ],
    [{ incomingHeaders: 'x-request-id' }, /option "incomingHeaders" must be an array/],
    [{ incomingHeaders: ['ok', 'bad name'] }, /option "incomingHeaders\[1\]" must be a header name/],
    [{ incomingHeaders: [] }, /option "incomingHeaders" must be a non-empty array .* set trustIncoming: false instead/],
    [{ trustIncoming: 'yes' }, /option "trustIncoming" must be one of true, false, "proxy"; received "yes"/],
    [{ maxLength: 0 }, /option "maxLength" must be an integer from 1 to 128; received 0 \(number\)/],
    [{ maxLength: 129 }, /option "maxLength" must be an integer from 1 to 128; received 129/],
    [{ maxLength: 1.5 }, /option "maxLength" must be an integer from 1 to 128/],
    [{ generate: 'uuid' }, /option "generate" must be a function; received "uuid"/],
    [
      { generate: () => 'has space' },
      /option "generate" must be a function returning 1 to 128 characters .*received "has space"/,
    ],
    [
      {
        generate: () => {
          throw new Error('no entropy')
        },
      },
      /option "generate" must be a function returning an id; received a function\. It threw .*no entropy/,
    ],
    [{ echo: 'yes' }, /option "echo" must be true or false/],
    [{ headers: 'x' }, /^requestId\(\): unknown option "headers"; did you mean "header"\?$/],
  ]
  for (const [options, message] of bad)
    t.throws(() => requestId(options), { name: 'ConfigError', message }, JSON.stringify(options))
})
