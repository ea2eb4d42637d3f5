import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import {
  bodyCapture,
  bodyLimit,
  compose,
  errorBoundary,
  getCapturedBody,
  tryGetCapturedBody,
  type BodyCaptureOptions,
  type CapturedBody,
  type ErrorReport,
  type RawHandler,
} from '../../../lib/index.js'
import { onResponseEnd } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket, parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { tick, until } from '../../helpers/wait.js'

/** Serve behind bodyCapture; resolves each exchange's captured body when it ends. */
async function capturing(t: Test, options: BodyCaptureOptions, handler: RawHandler = readAll) {
  const captured: CapturedBody[] = []
  const waiters: Array<(c: CapturedBody) => void> = []
  const recordAtEnd: RawHandler = (req, res) => {
    onResponseEnd(res, () => {
      const c = getCapturedBody(req)
      captured.push(c)
      waiters.shift()?.(c)
    })
    return handler(req, res)
  }
  const url = await serve(t, compose(bodyCapture(options))(recordAtEnd))
  const next = () => new Promise<CapturedBody>((ok) => waiters.push(ok))
  return { url, captured, next }
}

const readAll: RawHandler = async (req, res) => {
  const hash = createHash('sha256')
  let n = 0
  for await (const chunk of req) {
    hash.update(chunk as Buffer)
    n += (chunk as Buffer).length
  }
  res.end(`${n} ${hash.digest('hex')}`)
}

t.test('bodyCapture(): keeps the first maxBytes of a JSON body; the handler reads it whole', async (t) => {
  const { url, next } = await capturing(t, { maxBytes: 16 })
  const body = JSON.stringify({ user: 'ada', note: 'x'.repeat(5000) })
  const ended = next()
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(res.text, `${body.length} ${createHash('sha256').update(body).digest('hex')}`)
  const c = await ended
  t.equal(c.text(), body.slice(0, 16))
  t.equal(c.bytes.length, 16)
  t.equal(c.seenBytes, body.length)
  t.equal(c.truncated, true)
  t.equal(c.skipped, undefined)
})

t.test('bodyCapture(): a body shorter than maxBytes is kept whole, not truncated', async (t) => {
  const { url, next } = await capturing(t, {})
  const ended = next()
  await httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=1&b=2',
  })
  const c = await ended
  t.equal(c.text(), 'a=1&b=2')
  t.equal(c.truncated, false)
})

t.test('bodyCapture(): skips multipart, binary, untyped and encoded bodies by default', async (t) => {
  const { url, next } = await capturing(t, {})
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'content-type': 'multipart/form-data; boundary=x' }, 'content-type'],
    [{ 'content-type': 'application/octet-stream' }, 'content-type'],
    [{ 'content-type': 'image/png' }, 'content-type'],
    [{}, 'content-type'],
    [{ 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'content-encoding'],
  ]
  for (const [headers, reason] of cases) {
    const ended = next()
    const res = await httpRequest(url, { method: 'POST', headers, body: 'secret payload' })
    t.match(res.text, /^14 /, 'the handler still reads it all')
    const c = await ended
    t.equal(c.skipped, reason, JSON.stringify(headers))
    t.equal(c.bytes.length, 0)
  }
})

t.test('bodyCapture(): type patterns: text/*, application/*+json, case and parameters ignored', async (t) => {
  const { url, next } = await capturing(t, { contentTypes: ['text/*', 'application/*+json', 'application/csp-report'] })
  for (const type of ['text/csv', 'TEXT/Plain; charset=utf-8', 'application/vnd.api+json', 'application/csp-report']) {
    const ended = next()
    await httpRequest(url, { method: 'POST', headers: { 'content-type': type }, body: 'kept' })
    t.equal((await ended).text(), 'kept', type)
  }
  const ended = next()
  await httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not listed' })
  t.equal((await ended).skipped, 'content-type')
  const all = await capturing(t, { contentTypes: ['*/*'] })
  const anyEnded = all.next()
  await httpRequest(all.url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'bin' })
  t.equal((await anyEnded).text(), 'bin')
})

t.test('bodyCapture(): redact rewrites the copy, never the body the handler reads', async (t) => {
  const calls: number[] = []
  const { url, next } = await capturing(
    t,
    {
      redact: (bytes) => {
        calls.push(bytes.length)
        return bytes.toString().replace(/"password":"[^"]*"/, '"password":"***"')
      },
    },
    async (req, res) => {
      await readAll(req, res)
      // Read twice after the body is complete: one redact call.
      onResponseEnd(res, () => {
        getCapturedBody(req)
        getCapturedBody(req)
      })
    },
  )
  const body = JSON.stringify({ user: 'ada', password: 'hunter2' })
  const ended = next()
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(res.text, `${body.length} ${createHash('sha256').update(body).digest('hex')}`)
  const c = await ended
  t.equal(c.text(), '{"user":"ada","password":"***"}')
  t.same(calls, [body.length], 'redacted once: a later read reuses the snapshot')
})

t.test('bodyCapture(): never reads ahead: a handler that reads nothing leaves the stream untouched', async (t) => {
  let req!: IncomingMessage
  const url = await serve(
    t,
    compose(bodyCapture({ maxBytes: 1 << 20 }))((r) => {
      req = r
    }),
  )
  const socket = await openSocket(url)
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n')
  const chunk = `4000\r\n${'z'.repeat(0x4000)}\r\n`
  for (let i = 0; i < 64; i++) socket.write(chunk)
  await tick(100)
  const c = getCapturedBody(req)
  t.equal(req.readableFlowing, null, 'not switched to flowing mode')
  t.ok(c.seenBytes <= 128 * 1024, `only what the parser pushed before stopping (${c.seenBytes} of 1 MiB sent)`)
  t.equal(c.bytes.length, c.seenBytes)
  socket.destroy()
})

t.test('bodyCapture(): a slow reader gets every byte, at its own pace; the copy stays bounded', async (t) => {
  const { url, next } = await capturing(t, { maxBytes: 100 }, async (req, res) => {
    const hash = createHash('sha256')
    let n = 0
    for await (const chunk of req) {
      hash.update(chunk as Buffer)
      n += (chunk as Buffer).length
      await tick(1)
    }
    res.end(`${n} ${hash.digest('hex')}`)
  })
  const body = Buffer.alloc(3 * 1024 * 1024, 'q')
  const ended = next()
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
  t.equal(res.text, `${body.length} ${createHash('sha256').update(body).digest('hex')}`)
  const c = await ended
  t.equal(c.bytes.length, 100)
  t.equal(c.seenBytes, body.length)
})

t.test('bodyCapture(): the prefix is in the error report of a handler that failed mid-body', async (t) => {
  const reports: ErrorReport[] = []
  const url = await serve(
    t,
    compose(
      errorBoundary({
        onError: (r) => {
          reports.push(r)
        },
      }),
      bodyCapture(),
    )(async (req) => {
      for await (const chunk of req) if ((chunk as Buffer).includes('"bad"')) throw new Error('invalid item')
    }),
  )
  const res = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"items":["ok","bad"]}',
  })
  t.equal(res.status, 500)
  t.equal(tryGetCapturedBody(reports[0]!.req)?.text(), '{"items":["ok","bad"]}')
})

t.test('bodyCapture(): a bodiless request has an empty capture, not a skip', async (t) => {
  const { url, next } = await capturing(t, {})
  const ended = next()
  await httpRequest(url)
  const c = await ended
  t.equal(c.bytes.length, 0)
  t.equal(c.skipped, undefined)
  t.equal(c.truncated, false)
})

/**
 * A layer that awaits until Node has buffered `bytes` of the body, as a store lookup lets it;
 * `passed()` tells when it went on (the next layer runs in the same turn).
 */
function awaitBuffered(bytes: number) {
  let went = false
  const layer = (next: RawHandler): RawHandler =>
    async function awaitsHandler(req, res) {
      await until(() => req.readableLength >= bytes)
      went = true
      return next(req, res)
    }
  return Object.assign(layer, { passed: () => went })
}

t.test('bodyCapture(): behind a layer that awaits, a body buffered with the head is captured whole', async (t) => {
  let c: CapturedBody | undefined
  let buffered = -1
  let read = ''
  const url = await serve(
    t,
    compose(
      awaitBuffered(5),
      bodyCapture(),
    )(async (req, res) => {
      buffered = req.readableLength
      for await (const chunk of req) read += String(chunk)
      c = getCapturedBody(req)
      res.end()
    }),
  )
  // One write: the body arrives in the packet of the head.
  await rawExchange(
    url,
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  )
  t.equal(buffered, 5, 'the body was buffered before bodyCapture ran')
  t.equal(read, 'hello', 'the handler still reads the whole body')
  t.equal(c?.skipped, undefined)
  t.equal(c?.text(), 'hello')
  t.equal(c?.seenBytes, 5)
  t.equal(c?.truncated, false)
})

t.test('bodyCapture(): bytes buffered before it ran come first, the rest follows in order', async (t) => {
  let resolve!: (c: CapturedBody) => void
  const captured = new Promise<CapturedBody>((ok) => {
    resolve = ok
  })
  const early = awaitBuffered(6)
  const url = await serve(
    t,
    compose(
      early,
      bodyCapture({ maxBytes: 10 }),
    )(async (req, res) => {
      onResponseEnd(res, () => resolve(getCapturedBody(req)))
      for await (const _ of req) void _
      res.end()
    }),
  )
  const socket = await openSocket(url)
  t.teardown(() => socket.destroy())
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nearly-')
  await until(early.passed)
  t.ok(early.passed(), 'bodyCapture ran after the first bytes were buffered')
  socket.write('late-and-more')
  const c = await captured
  t.equal(c.text(), 'early-late')
  t.equal(c.seenBytes, 16)
  t.equal(c.truncated, true)
})

t.test('bodyCapture(): buffered text it cannot give back as bytes (setEncoding) is skipped, saying why', async (t) => {
  let c: CapturedBody | undefined
  const url = await serve(
    t,
    compose(
      (next) => (req, res) => {
        req.setEncoding('utf8')
        return next(req, res)
      },
      awaitBuffered(5),
      bodyCapture(),
    )(async (req, res) => {
      c = getCapturedBody(req)
      for await (const _ of req) void _
      res.end()
    }),
  )
  await rawExchange(
    url,
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  )
  t.equal(c?.skipped, 'buffered before capture')
  t.equal(c?.bytes.length, 0)
  t.equal(c?.seenBytes, 5)
})

t.test('bodyCapture(): behind bodyLimit, the chunk crossing the limit is never copied', async (t) => {
  let c: CapturedBody | undefined
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      bodyLimit({ limit: 10 }),
      bodyCapture({ maxBytes: 100 }),
    )(async (req, res) => {
      onResponseEnd(res, () => {
        c = getCapturedBody(req)
      })
      for await (const _ of req) void _
      res.end()
    }),
  )
  const res = parseRawResponse(
    await rawExchange(
      url,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '8\r\n12345678\r\n8\r\nabcdefgh\r\n0\r\n\r\n',
    ),
  )
  t.equal(res.status, 413)
  await until(() => c !== undefined)
  t.equal(c?.text(), '12345678')
})

t.test('bodyCapture(): getCapturedBody without bodyCapture() says what to mount', async (t) => {
  let message = ''
  let tried: CapturedBody | undefined
  const url = await serve(t, (req, res) => {
    try {
      getCapturedBody(req)
    } catch (err) {
      message = (err as Error).message
    }
    tried = tryGetCapturedBody(req)
    res.end()
  })
  await httpRequest(url)
  t.match(message, /no capturedBody on this request; mount bodyCapture\(\) before this handler/)
  t.equal(tried, undefined)
})

t.test('bodyCapture(): explain() shows its bound', async (t) => {
  t.match(
    compose(bodyCapture({ maxBytes: 64, redact: (b) => b })).explain(),
    /bodyCapture \(64 bytes of 7 content types, redacted\)/,
  )
})

t.test('bodyCapture(): config: rejects bad options', async (t) => {
  t.throws(() => bodyCapture({ maxBytes: 0 }), {
    name: 'ConfigError',
    message: /bodyCapture\(\): option "maxBytes" must be an integer from 1 to 1073741824; received 0/,
  })
  t.throws(() => bodyCapture({ contentTypes: 'text/*' as never }), {
    name: 'ConfigError',
    message: /option "contentTypes" must be an array/,
  })
  t.throws(() => bodyCapture({ contentTypes: ['json'] }), {
    name: 'ConfigError',
    message: /option "contentTypes" must be media types like/,
  })
  t.throws(() => bodyCapture({ contentTypes: ['*/json'] }), {
    name: 'ConfigError',
    message: /option "contentTypes" must be media types/,
  })
  t.throws(() => bodyCapture({ redact: 'mask' as never }), {
    name: 'ConfigError',
    message: /option "redact" must be a function/,
  })
  t.throws(() => bodyCapture({ limit: 5 } as never), {
    name: 'ConfigError',
    message: /^bodyCapture\(\): unknown option "limit"; known options are maxBytes, contentTypes, redact\.$/,
  })
})
