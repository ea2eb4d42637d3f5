import { AsyncLocalStorage } from 'node:async_hooks'
import { request } from 'node:http'
import { Writable } from 'node:stream'
import { createGzip } from 'node:zlib'
import t, { type Test } from 'tap'
import {
  accessLog,
  compose,
  errorBoundary,
  HttpError,
  requestId,
  sendError,
  timeout,
  traceContext,
  type AccessLogEntry,
  type AccessLogOptions,
  type Middleware,
  type RawHandler,
} from '../../../lib/index.js'
import { defineMiddleware, originalUrlState, requestIdState, transformBody, userIdState } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { h2Request, serveH2 } from '../../helpers/h2.js'
import { openSocket, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { silenceWarningOutput } from '../../helpers/wait.js'
import { countEndListenerResources } from '../../helpers/async-resources.js'

/** Resolves once `check()` holds; polls on real I/O turns, fails after `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((ok) => setTimeout(ok, 2))
  }
}

/** A function sink collecting lines, parsed, plus the raw text. */
function collector() {
  const lines: string[] = []
  const entries: AccessLogEntry[] = []
  const sink = (line: string, entry: AccessLogEntry) => {
    lines.push(line)
    entries.push(entry)
  }
  const parsed = () => lines.map((l) => JSON.parse(l) as AccessLogEntry & Record<string, unknown>)
  return { sink, lines, entries, parsed }
}

/** Serve `handler` under accessLog() with a collecting sink; options merged in. */
async function logged(t: Test, handler: RawHandler, options: AccessLogOptions = {}, outer: Middleware[] = []) {
  const c = collector()
  const url = await serve(t, compose(...outer, accessLog({ sink: c.sink, ...options }))(handler))
  return { url, ...c }
}

/** Answers failures the way an error boundary does: 500 before headers, destroy after. */
const boundary: Middleware = defineMiddleware(
  { name: 'errorBoundary' },
  (next) =>
    async function boundaryHandler(req, res) {
      try {
        await next(req, res)
      } catch (err) {
        if (!res.headersSent) sendError(req, res, err instanceof HttpError ? err : new HttpError(500))
        else res.destroy(err as Error)
      }
    },
)

const asUser: Middleware = (next) => (req, res) => {
  userIdState.set(req, 'user-7')
  return next(req, res)
}

t.test('accessLog(): one line with every field, written when the exchange ends', async (t) => {
  const wall = 1_700_000_000_000
  const c = collector()
  let linesWhenHandlerReturned = -1
  const url = await serve(
    t,
    compose(
      requestId(),
      traceContext(),
      accessLog({ sink: c.sink, now: () => wall }),
      asUser,
    )((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.write('hello ')
      setTimeout(() => res.end('world'), 5)
      linesWhenHandlerReturned = c.lines.length
    }),
  )
  const received = await rawExchange(
    url,
    'GET /items/7?token=secret&q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1.0\r\nReferer: https://ref.example/\r\nConnection: close\r\n\r\n',
  )
  await until(() => c.lines.length === 1)
  t.equal(linesWhenHandlerReturned, 0)
  t.notMatch(c.lines[0], /\n/)
  const line = c.parsed()[0]!
  const head = received.toString('latin1')
  t.match(line, {
    level: 'info',
    method: 'GET',
    path: '/items/7',
    status: 200,
    outcome: 'finished',
    bytesIn: 0,
    bytesOut: received.length,
    clientIp: '127.0.0.1',
    requestId: /^[0-9a-f-]{36}$/,
    traceId: /^[0-9a-f]{32}$/,
    spanId: /^[0-9a-f]{16}$/,
    userId: 'user-7',
    userAgent: 'probe/1.0',
    referer: 'https://ref.example/',
  })
  t.ok(head.includes(`x-request-id: ${line.requestId}`))
  t.ok(line.durationMs >= line.ttfbMs! && line.ttfbMs! >= 0)
  t.ok(Math.abs(Date.parse(line.time) - (wall - line.durationMs)) <= 1)
  t.equal(line.error, undefined)
  t.same(Object.keys(line), [
    'time',
    'level',
    'method',
    'path',
    'status',
    'outcome',
    'durationMs',
    'ttfbMs',
    'bytesOut',
    'bytesIn',
    'clientIp',
    'requestId',
    'traceId',
    'spanId',
    'userId',
    'userAgent',
    'referer',
  ])
})

t.test('accessLog(): query "drop", "redact" and "keep"', async (t) => {
  const target = '/search?q=private+words&token=abc&flag'
  const paths: string[] = []
  for (const query of ['drop', 'redact', 'keep'] as const) {
    const { url, parsed, lines } = await logged(t, (_q, res) => res.end(), { query })
    await (await fetch(url + target)).text()
    await until(() => lines.length === 1)
    paths.push(parsed()[0]!.path)
  }
  t.same(paths, ['/search', '/search?q=[redacted]&token=[redacted]&flag', target])
})

t.test('accessLog(): logs the target as it arrived, even when an inner layer rewrites req.url', async (t) => {
  const mount: Middleware = (next) => (req, res) => {
    req.url = req.url!.replace(/^\/api/, '') || '/'
    return next(req, res)
  }
  const c = collector()
  const app = await serve(
    t,
    compose(accessLog({ sink: c.sink }), mount)((req, res) => res.end(req.url)),
  )
  t.equal(await (await fetch(`${app}/api/users`)).text(), '/users')
  await until(() => c.lines.length === 1)
  t.equal(c.parsed()[0]!.path, '/api/users')
  // A mount() outside the log rewrote req.url already, keeping the original in originalUrlState.
  const outerMount: Middleware = (next) => (req, res) => {
    originalUrlState.set(req, req.url!)
    req.url = req.url!.replace(/^\/v2/, '') || '/'
    return next(req, res)
  }
  const c2 = collector()
  const nested = await serve(
    t,
    compose(outerMount, accessLog({ sink: c2.sink, query: 'keep' }))((req, res) => res.end(req.url)),
  )
  t.equal(await (await fetch(`${nested}/v2/orders?page=2`)).text(), '/orders?page=2')
  await until(() => c2.lines.length === 1)
  t.equal(c2.parsed()[0]!.path, '/v2/orders?page=2')
})

t.test('accessLog(): level by status; sampling drops only info lines', async (t) => {
  const handler: RawHandler = (req, res) => {
    res.statusCode = Number(req.url!.slice(1))
    res.end()
  }
  const all = await logged(t, handler)
  for (const status of [200, 302, 404, 503]) await (await fetch(`${all.url}/${status}`, { redirect: 'manual' })).text()
  await until(() => all.lines.length === 4)
  t.same(
    all.parsed().map((l) => [l.status, l.level]),
    [
      [200, 'info'],
      [302, 'info'],
      [404, 'warn'],
      [503, 'error'],
    ],
  )

  const none = await logged(t, handler, { sampleRate: 0 })
  for (const status of [200, 201, 404, 500]) await (await fetch(`${none.url}/${status}`)).text()
  await until(() => none.lines.length === 2)
  await new Promise((ok) => setTimeout(ok, 20))
  t.same(
    none.parsed().map((l) => l.status),
    [404, 500],
  )

  const draws = [0.1, 0.7, 0.2, 0.9]
  const half = await logged(t, handler, { sampleRate: 0.5, random: () => draws.shift()! })
  for (const path of ['/200', '/201', '/202', '/203', '/400']) await (await fetch(half.url + path)).text()
  await until(() => half.lines.length === 3)
  t.same(
    half.parsed().map((l) => l.status),
    [200, 202, 400],
  )
})

t.test('accessLog(): a client aborting mid-stream is logged as 499 aborted', async (t) => {
  let stop = false
  t.teardown(() => {
    stop = true
  })
  const { url, lines, parsed } = await logged(t, (_q, res) => {
    const tick = () => {
      if (stop || res.destroyed) return
      res.write('x'.repeat(1024))
      setTimeout(tick, 1)
    }
    tick()
  })
  const socket = await openSocket(url)
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => socket.once('data', ok))
  socket.destroy()
  await until(() => lines.length === 1)
  const line = parsed()[0]!
  t.match(line, { status: 499, outcome: 'aborted', level: 'warn', path: '/stream' })
  t.ok(line.bytesOut! > 0)
  t.type(line.ttfbMs, 'number')
})

t.test('accessLog(): a client gone before the headers: 499 without ttfbMs', async (t) => {
  const { url, lines, parsed } = await logged(t, () => undefined)
  const socket = await openSocket(url)
  socket.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => setTimeout(ok, 20))
  socket.destroy()
  await until(() => lines.length === 1)
  const line = parsed()[0]!
  t.match(line, { status: 499, outcome: 'aborted', clientIp: '127.0.0.1' })
  t.equal(line.ttfbMs, undefined)
})

t.test("accessLog(): a handler that throws: the boundary's 500, with the error message", async (t) => {
  const { url, lines, parsed } = await logged(
    t,
    async (req) => {
      if (req.url === '/sync') throw new TypeError('sync failure')
      await Promise.resolve()
      throw new Error('database unreachable')
    },
    {},
    [boundary],
  )
  t.equal((await fetch(url)).status, 500)
  t.equal((await fetch(`${url}/sync`)).status, 500)
  await until(() => lines.length === 2)
  t.match(parsed(), [
    { status: 500, outcome: 'finished', level: 'error', error: 'database unreachable' },
    { status: 500, level: 'error', error: 'sync failure' },
  ])
})

t.test('accessLog(): a handler failing after the headers: outcome error at level error', async (t) => {
  const { url, lines, parsed } = await logged(
    t,
    async (_req, res) => {
      res.write('partial')
      await new Promise((ok) => setTimeout(ok, 5))
      throw new Error('stream source failed')
    },
    {},
    [boundary],
  )
  await fetch(url)
    .then((r) => r.text())
    .catch(() => 'cut')
  await until(() => lines.length === 1)
  t.match(parsed()[0], { status: 200, outcome: 'error', level: 'error', error: 'stream source failed' })
})

t.test('accessLog(): a response destroyed before its headers is a 500', async (t) => {
  const { url, lines, parsed } = await logged(t, (_req, res) => {
    res.destroy(new Error('gave up'))
  })
  await fetch(url).catch(() => undefined)
  await until(() => lines.length === 1)
  t.match(parsed()[0], { status: 500, outcome: 'error', level: 'error', error: 'gave up' })
})

t.test('accessLog(): a request answered by a timeout layer is logged once with its 503', async (t) => {
  // Stands in for timeout(): answers 503 after a deadline while the handler never does.
  const deadline: Middleware = (next) => (req, res) => {
    const timer = setTimeout(() => sendError(req, res, new HttpError(503, 'timed out', { code: 'timeout' })), 10)
    res.once('close', () => clearTimeout(timer))
    return next(req, res)
  }
  const c = collector()
  const app = await serve(
    t,
    compose(accessLog({ sink: c.sink }), deadline)(() => undefined),
  )
  t.equal((await fetch(app)).status, 503)
  await until(() => c.lines.length === 1)
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(c.lines.length, 1)
  t.match(c.parsed()[0], { status: 503, outcome: 'finished', level: 'error' })
})

t.test('accessLog(): bytesIn counts the body received, read or not, without consuming it', async (t) => {
  const { url, lines, parsed } = await logged(t, async (req, res) => {
    if (req.url === '/ignore') {
      res.end('ignored')
      return
    }
    let size = 0
    for await (const chunk of req) size += (chunk as Buffer).length
    res.end(String(size))
  })
  t.equal(await (await fetch(url, { method: 'POST', body: 'a'.repeat(5000) })).text(), '5000')
  await until(() => lines.length === 1)
  // Chunked: the count is of body bytes, without the chunk framing.
  const chunked = await rawExchange(
    url,
    'POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  )
  t.match(chunked.toString(), /\r\n\r\n(?:2\r\n)?11/)
  await until(() => lines.length === 2)
  await (await fetch(`${url}/ignore`, { method: 'POST', body: 'b'.repeat(300) })).text()
  await until(() => lines.length === 3)
  t.same(
    parsed().map((l) => l.bytesIn),
    [5000, 11, 300],
  )
})

t.test('accessLog(): bytesIn includes body bytes that arrived before the log layer ran', async (t) => {
  const c = collector()
  // An outer layer that waits before calling inward: the body is already buffered by then.
  const slow: Middleware = (next) => async (req, res) => {
    await new Promise((ok) => setTimeout(ok, 20))
    return next(req, res)
  }
  const url = await serve(
    t,
    compose(
      slow,
      accessLog({ sink: c.sink }),
    )(async (req, res) => {
      let size = 0
      for await (const chunk of req) size += (chunk as Buffer).length
      res.end(String(size))
    }),
  )
  t.equal(await (await fetch(url, { method: 'POST', body: 'c'.repeat(1000) })).text(), '1000')
  await until(() => c.lines.length === 1)
  t.equal(c.parsed()[0]!.bytesIn, 1000)
})

t.test('accessLog(): bytesOut is what went on the wire, after compression', async (t) => {
  const gzip: Middleware = (next) => (req, res) => {
    transformBody(res, () => {
      res.setHeader('content-encoding', 'gzip')
      return createGzip()
    })
    return next(req, res)
  }
  const c = collector()
  const url = await serve(
    t,
    compose(accessLog({ sink: c.sink }), gzip)((_q, res) => res.end('z'.repeat(100_000))),
  )
  const received = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await until(() => c.lines.length === 1)
  t.equal(c.parsed()[0]!.bytesOut, received.length)
  t.ok(received.length < 10_000)
})

t.test(
  'accessLog(): empty end(), HEAD, 204, 304, writeHead with headers, and a streamed body with backpressure',
  async (t) => {
    const chunk = 's'.repeat(64 * 1024)
    let sawBackpressure = false
    const { url, lines, parsed } = await logged(t, async (req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
        return
      }
      if (req.url === '/304') {
        res.writeHead(304, { etag: '"e"' })
        res.end()
        return
      }
      if (req.url === '/wh') {
        res.writeHead(201, { 'content-type': 'text/plain' })
        res.end('made')
        return
      }
      if (req.url === '/stream') {
        if ((await writeWithBackpressure(res, repeated(chunk, 32))) > 0) sawBackpressure = true
        res.end()
        return
      }
      res.end()
    })
    await (await fetch(url)).text()
    await httpRequest(url, { method: 'HEAD' })
    for (const path of ['/204', '/304', '/wh', '/stream']) await (await fetch(url + path)).arrayBuffer()
    await until(() => lines.length === 6)
    t.same(
      parsed().map((l) => [l.method, l.path, l.status, l.outcome]),
      [
        ['GET', '/', 200, 'finished'],
        ['HEAD', '/', 200, 'finished'],
        ['GET', '/204', 204, 'finished'],
        ['GET', '/304', 304, 'finished'],
        ['GET', '/wh', 201, 'finished'],
        ['GET', '/stream', 200, 'finished'],
      ],
    )
    t.ok(parsed()[5]!.bytesOut! > 32 * chunk.length)
    t.ok(sawBackpressure)
  },
)

t.test('accessLog(): headers logged on request, with redaction, selection and a bound', async (t) => {
  const { url, lines, parsed } = await logged(
    t,
    (_q, res) => {
      res.setHeader('set-cookie', ['sid=secret; HttpOnly', 'b=2'])
      res.setHeader('x-served-by', 'edge-1')
      res.end()
    },
    {
      requestHeaders: true,
      responseHeaders: ['x-served-by', 'set-cookie', 'x-absent'],
      redactHeaders: ['authorization', 'cookie', 'set-cookie', 'x-api-key'],
    },
  )
  const many: Record<string, string> = {}
  for (let i = 0; i < 80; i++) many[`x-h${i}`] = String(i)
  await (
    await fetch(url, {
      headers: {
        authorization: 'Bearer secret',
        cookie: 'sid=secret',
        'x-api-key': 'k-secret',
        'x-long': 'l'.repeat(3000),
        ...many,
      },
    })
  ).text()
  await until(() => lines.length === 1)
  t.notMatch(lines[0], /secret/)
  const line = parsed()[0]!
  t.equal(line.requestHeaders!.authorization, '[redacted]')
  t.equal(line.requestHeaders!['x-api-key'], '[redacted]')
  t.equal(Object.keys(line.requestHeaders!).length, 64)
  t.same(line.responseHeaders, { 'x-served-by': 'edge-1', 'set-cookie': '[redacted]' })
  const long = await logged(t, (_q, res) => res.end(), { requestHeaders: ['x-long'] })
  await (await fetch(long.url, { headers: { 'x-long': 'l'.repeat(3000) } })).text()
  await until(() => long.lines.length === 1)
  t.equal(long.parsed()[0]!.requestHeaders!['x-long'], `${'l'.repeat(1024)}…`)
})

t.test(
  'accessLog(): the id requestId() decided is written as it is; one replaced by other code is escaped',
  async (t) => {
    const replaced = 'other"code\\id\u2028'
    const c = collector()
    const url = await serve(
      t,
      compose(
        requestId({ trustIncoming: true }),
        accessLog({ sink: c.sink }),
      )((req, res) => {
        // requestIdState is public: code after requestId() may put anything there.
        if (req.url === '/replaced') requestIdState.set(req, replaced)
        res.end('ok')
      }),
    )
    const kept = await httpRequest(`${url}/kept`, { headers: { 'x-request-id': 'abc.DEF_1:2=3-4' } })
    await httpRequest(`${url}/replaced`)
    await until(() => c.lines.length === 2)
    const byPath = new Map(c.parsed().map((line, i) => [line.path, { line, text: c.lines[i]! }]))
    t.equal(kept.headers['x-request-id'], 'abc.DEF_1:2=3-4')
    t.match(byPath.get('/kept')!.text, /"requestId":"abc\.DEF_1:2=3-4"/)
    const other = byPath.get('/replaced')!
    t.equal(other.line.requestId, replaced)
    t.match(other.text, /"requestId":"other\\"code\\\\id\\u2028"/)
  },
)

t.test('accessLog(): one parseable line of bounded size whatever the request carries', async (t) => {
  const { url, lines, parsed } = await logged(
    t,
    () => {
      throw new Error('multi\nline\r\n\x1b[31merror')
    },
    { maxFieldLength: 100, query: 'keep' },
    [boundary],
  )
  // Latin-1 bytes (Node's parser refuses C0 controls and DEL, but lets obs-text through):
  // a C1 CSI (0x9b, a terminal escape) and ordinary accents.
  const ua = 'agent\x9b31m caf\xe9 \x85end'
  await rawExchange(
    url,
    Buffer.from(
      `GET /${'p'.repeat(5000)}?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: ${ua}\r\nConnection: close\r\n\r\n`,
      'latin1',
    ),
  )
  await until(() => lines.length === 1)
  const text = lines[0]!
  t.notMatch(text, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
  t.match(text, /agent\\u009b31m café \\u0085end/)
  const line = parsed()[0]!
  t.equal(line.path, `/${'p'.repeat(99)}…`)
  t.equal(line.userAgent, ua)
  t.equal(line.error, 'multi\nline\r\n\x1b[31merror')
  t.ok(text.length < 1000)
})

t.test(
  'accessLog(): a throwing function sink never reaches the request; drops are reported on the next line',
  async (t) => {
    const lines: string[] = []
    let fail = 2
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    silenceWarningOutput(t)
    process.on('warning', onWarning)
    t.teardown(() => {
      process.off('warning', onWarning)
    })
    const url = await serve(
      t,
      compose(
        accessLog({
          sink: (line) => {
            if (fail-- > 0) throw new Error('sink down')
            lines.push(line)
          },
        }),
      )((_q, res) => res.end('fine')),
    )
    for (let i = 0; i < 3; i++) t.equal(await (await fetch(url)).text(), 'fine')
    await until(() => lines.length === 1)
    t.equal((JSON.parse(lines[0]!) as AccessLogEntry).droppedLines, 2)
    await new Promise((ok) => setImmediate(ok))
    t.equal(warnings.filter((w) => /accessLog\(\) sink: sink down/.test(w.message)).length, 1)
  },
)

/** A Writable that takes lines but calls back only when released: backpressure on demand. */
class HeldSink extends Writable {
  readonly lines: string[] = []
  readonly #held: Array<() => void> = []
  constructor() {
    super({ highWaterMark: 1, decodeStrings: false })
  }
  override _write(chunk: string, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.split('\n').filter(Boolean))
    this.#held.push(callback)
  }
  release(): void {
    for (const callback of this.#held.splice(0)) callback()
  }
}

t.test('accessLog(): under backpressure lines queue up to the bound, the rest are dropped and counted', async (t) => {
  const sink = new HeldSink()
  const url = await serve(
    t,
    compose(accessLog({ sink, maxBufferedLines: 2 }))((req, res) => res.end(req.url)),
  )
  const logged = () => sink.lines.map((l) => JSON.parse(l) as AccessLogEntry)
  for (let i = 1; i <= 6; i++) t.equal(await (await fetch(`${url}/${i}`)).text(), `/${i}`)
  // Line 1 went to the stream, which pushes back; 2 and 3 wait; 4, 5 and 6 are dropped.
  await new Promise((ok) => setTimeout(ok, 10))
  t.same(
    logged().map((l) => l.path),
    ['/1'],
  )
  sink.release()
  await until(() => sink.lines.length === 3)
  t.same(
    logged().map((l) => l.path),
    ['/1', '/2', '/3'],
  )
  sink.release()
  await new Promise((ok) => setImmediate(ok))
  await (await fetch(`${url}/7`)).text()
  await until(() => sink.lines.length === 4)
  t.match(logged()[3], { path: '/7', droppedLines: 3 })
  t.equal(logged().filter((l) => l.droppedLines !== undefined).length, 1)
})

t.test('accessLog(): a Writable sink that fails is reported once; requests go on', async (t) => {
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback(new Error('disk full'))
    },
  })
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const url = await serve(
    t,
    compose(accessLog({ sink }))((_q, res) => res.end('ok')),
  )
  for (let i = 0; i < 3; i++) t.equal(await (await fetch(url)).text(), 'ok')
  await until(() => warnings.some((w) => /accessLog\(\) sink: disk full/.test(w.message)))
  await new Promise((ok) => setTimeout(ok, 10))
  t.equal(warnings.filter((w) => /accessLog\(\) sink/.test(w.message)).length, 1)
  t.ok(sink.destroyed)
})

t.test(
  'accessLog(): 200 concurrent requests, some aborted mid-stream, some throwing: one valid line each',
  async (t) => {
    const { sink, lines } = collector()
    const stopAll = { stop: false }
    t.teardown(() => {
      stopAll.stop = true
    })
    const app = compose(
      errorBoundary({ onError: () => undefined }),
      requestId(),
      accessLog({ sink }),
    )(async (req, res) => {
      const [, kind] = req.url!.split('/')
      if (kind === 'throw') {
        await new Promise((ok) => setImmediate(ok))
        throw new Error(`failed ${req.url}`)
      }
      if (kind === 'abort') {
        // Streams until the client goes away.
        const tick = () => {
          if (stopAll.stop || res.destroyed) return
          res.write('a'.repeat(512))
          setTimeout(tick, 2)
        }
        tick()
        return
      }
      res.write('part one,')
      await new Promise((ok) => setImmediate(ok))
      res.end('part two')
    })
    const url = await serve(t, app)
    const kindOf = (i: number) => (i % 5 === 0 ? 'abort' : i % 7 === 0 ? 'throw' : 'ok')
    const headerIds = new Map<string, string>()
    const exchange = (i: number) =>
      new Promise<void>((ok, fail) => {
        const path = `/${kindOf(i)}/${i}`
        const req = request(`${url}${path}`, { agent: false }, (res) => {
          headerIds.set(path, String(res.headers['x-request-id']))
          if (kindOf(i) === 'abort') {
            res.once('data', () => {
              req.destroy()
              ok()
            })
            return
          }
          res.resume()
          res.on('end', () => ok())
        })
        req.on('error', (err) => (kindOf(i) === 'abort' ? ok() : fail(err)))
        req.end()
      })
    await Promise.all(Array.from({ length: 200 }, (_, i) => exchange(i)))
    await until(() => lines.length >= 200, 10_000)
    await new Promise((ok) => setTimeout(ok, 50))
    t.equal(lines.length, 200, 'exactly one line per request')
    const parsed = lines.map((line) => JSON.parse(line) as AccessLogEntry)
    const ids = new Set(parsed.map((l) => l.requestId))
    t.equal(ids.size, 200, 'ids are unique')
    t.equal(new Set(parsed.map((l) => l.path)).size, 200, 'every request logged')
    let mismatches = 0
    let wrongShape = 0
    for (const line of parsed) {
      if (headerIds.get(line.path) !== line.requestId) mismatches++
      const kind = line.path.split('/')[1]
      const expected =
        kind === 'abort'
          ? { status: 499, outcome: 'aborted' }
          : kind === 'throw'
            ? { status: 500, outcome: 'finished', error: `failed ${line.path}` }
            : { status: 200, outcome: 'finished' }
      if (Object.entries(expected).some(([k, v]) => (line as unknown as Record<string, unknown>)[k] !== v)) wrongShape++
    }
    t.equal(mismatches, 0, 'ids match the response headers')
    t.equal(wrongShape, 0, 'aborted ones are 499/aborted, thrown ones 500 with their error, others 200')
    t.equal(parsed.filter((l) => l.outcome === 'aborted').length, 40)
    t.same(
      new Set(parsed.map((l) => l.clientIp)),
      new Set(['127.0.0.1']),
      'the client address, also of aborted exchanges',
    )
  },
)

t.test(
  'accessLog(): ordering: inside errorBoundary, proxyHeaders, requestId, traceContext; outside refusing layers',
  async (t) => {
    const named = (name: string) => defineMiddleware({ name }, (next) => next)
    for (const outer of ['errorBoundary', 'proxyHeaders', 'requestId', 'traceContext']) {
      t.throws(
        () => compose({ strict: true }, accessLog({ sink: () => undefined }), named(outer)),
        { name: 'OrderingError', message: new RegExp(`${outer} \\(layer 2\\) must wrap accessLog`) },
        outer,
      )
    }
    for (const inner of ['rateLimit', 'jwtAuth', 'timeout', 'cors']) {
      t.throws(
        () => compose({ strict: true }, named(inner), accessLog({ sink: () => undefined })),
        { name: 'OrderingError', message: new RegExp(`accessLog \\(layer 2\\) must wrap ${inner}`) },
        inner,
      )
    }
    t.doesNotThrow(() =>
      compose(
        { strict: true },
        named('errorBoundary'),
        named('proxyHeaders'),
        requestId(),
        traceContext(),
        accessLog({ sink: () => undefined }),
        named('rateLimit'),
      ),
    )
  },
)

t.test('accessLog(): the default sink is process.stdout', async (t) => {
  // Constructing with no sink must not throw or write; the docs example test runs it for real.
  t.doesNotThrow(() => accessLog())
})

t.test('accessLog(): config: rejects bad options with the option named', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [
      { sink: 'stdout' },
      /accessLog\(\): option "sink" must be a Writable stream or a function .*received "stdout" \(string\)\. For a file use fs\.createWriteStream/,
    ],
    [{ sink: null }, /option "sink" must be a Writable stream or a function/],
    [{ query: 'hide' }, /option "query" must be one of "drop", "redact", "keep"; received "hide"/],
    [{ sampleRate: 2 }, /option "sampleRate" must be a number from 0 to 1; received 2/],
    [{ requestHeaders: 'all' }, /option "requestHeaders" must be true, false or an array of header names/],
    [{ responseHeaders: ['ok', 'not ok'] }, /option "responseHeaders\[1\]" must be a header name/],
    [{ redactHeaders: 'authorization' }, /option "redactHeaders" must be an array/],
    [{ redactHeaders: ['a b'] }, /option "redactHeaders\[0\]" must be a header name/],
    [{ maxFieldLength: 8 }, /option "maxFieldLength" must be an integer from 16 to 65536; received 8/],
    [{ maxBufferedLines: -1 }, /option "maxBufferedLines" must be an integer from 0 to 1000000/],
    [{ now: 'now' }, /option "now" must be a function/],
    [{ random: 1 }, /option "random" must be a function/],
    [{ upgradeClose: 'yes' }, /option "upgradeClose" must be true or false; received "yes"/],
    [{ sampleRatio: 1 }, /^accessLog\(\): unknown option "sampleRatio"; did you mean "sampleRate"\?$/],
  ]
  for (const [options, message] of bad)
    t.throws(() => accessLog(options), { name: 'ConfigError', message }, JSON.stringify(options))
})

t.test('accessLog(): used without compose, a sync throw is noted and rethrown', async (t) => {
  const c = collector()
  const handler = accessLog({ sink: c.sink })(() => {
    throw new Error('raw throw')
  })
  // serve() answers 599 for a handler that rejects without answering.
  const res = await fetch(await serve(t, async (req, res) => handler(req, res)))
  t.equal(res.status, 599)
  await until(() => c.lines.length === 1)
  t.match(c.parsed()[0], { status: 599, level: 'error', error: 'raw throw' })
})

t.test('accessLog(): with the real errorBoundary and timeout, a timed-out request is one line', async (t) => {
  // Timers the test fires by hand: no waiting for a deadline.
  const pending: Array<() => void> = []
  const timers = {
    setTimeout: (callback: (arg: never) => void, _ms: number, arg: never) => {
      pending.push(() => callback(arg))
      return pending.length
    },
    clearTimeout: () => undefined,
  }
  const fire = () => {
    for (const run of pending.splice(0)) run()
  }
  const c = collector()
  const app = compose(
    errorBoundary({ onError: () => undefined }),
    requestId(),
    accessLog({ sink: c.sink }),
    timeout({ ms: 1000, maxDurationMs: 2000, timers }),
  )((req, res) => {
    if (req.url === '/stall') res.write('started')
    // Neither answers nor ends: the deadline (or the maximum duration) must.
  })
  const url = await serve(t, app)
  const slow = fetch(`${url}/slow`)
  await until(() => pending.length > 0)
  fire()
  const answered = await slow
  t.equal(answered.status, 503)
  await answered.text()
  await until(() => c.lines.length === 1)
  t.match(c.parsed()[0], {
    path: '/slow',
    status: 503,
    outcome: 'finished',
    level: 'error',
    requestId: answered.headers.get('x-request-id'),
  })

  const stalled = await fetch(`${url}/stall`)
  const body = stalled.text().catch(() => 'cut')
  // The deadline passes while the body is already streaming (left alone), then the
  // maximum duration cuts the connection.
  await until(() => {
    fire()
    return c.lines.length === 2
  })
  await body
  await until(() => c.lines.length === 2)
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(c.lines.length, 2)
  t.match(c.parsed()[1], { path: '/stall', status: 200, outcome: 'error', level: 'error', error: /maximum duration/ })
})

t.test('accessLog(): over HTTP/2, body bytes are counted and bytesOut is absent', async (t) => {
  const c = collector()
  const url = await serveH2(
    t,
    compose(
      requestId(),
      accessLog({ sink: c.sink }),
    )(async (req, res) => {
      let size = 0
      for await (const chunk of req) size += (chunk as Buffer).length
      res.end(String(size))
    }),
  )
  const res = await h2Request(`${url}/upload`, { ':method': 'POST' }, 'h'.repeat(3000))
  t.equal(res.text, '3000')
  await until(() => c.lines.length === 1)
  const line = c.parsed()[0]!
  t.match(line, {
    method: 'POST',
    path: '/upload',
    status: 200,
    outcome: 'finished',
    bytesIn: 3000,
    requestId: res.headers['x-request-id'],
  })
  t.equal(line.bytesOut, undefined)
})

t.test(
  "accessLog(): a function sink runs in the request's async context; a stream sink's lines are made without one",
  async (t) => {
    const als = new AsyncLocalStorage<string>()
    const made = countEndListenerResources(t)
    // The store is set outside the log layer, as a request-context layer would.
    const inRequestContext: Middleware = (next) => (req, res) => als.run(`request ${req.url}`, () => next(req, res))
    const stores: Array<string | undefined> = []
    const functionSink = await serve(
      t,
      compose(
        inRequestContext,
        accessLog({
          sink: () => {
            stores.push(als.getStore())
          },
        }),
      )((_req, res) => res.end()),
    )
    await (await fetch(`${functionSink}/f`)).text()
    await until(() => stores.length === 1)
    t.same(stores, ['request /f'], 'the user code of a function sink sees the request context')
    t.equal(made.count, 1, 'its listener carries one async resource')

    const lines: string[] = []
    const streamSink = await serve(
      t,
      compose(
        inRequestContext,
        accessLog({
          sink: new Writable({
            write(chunk, _encoding, done) {
              lines.push(...String(chunk).trim().split('\n'))
              done()
            },
          }),
        }),
      )((_req, res) => res.end()),
    )
    for (const path of ['/s1', '/s2']) await (await fetch(streamSink + path)).text()
    await until(() => lines.length === 2)
    t.same(
      lines.map((l) => (JSON.parse(l) as AccessLogEntry).path),
      ['/s1', '/s2'],
    )
    t.equal(made.count, 1, 'a stream sink adds no async resource per request')
  },
)
