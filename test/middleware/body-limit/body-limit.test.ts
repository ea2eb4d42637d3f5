import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, gzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import {
  bodyLimit,
  compose,
  decodedSizeLimit,
  errorBoundary,
  HttpError,
  type ErrorReport,
  type RawHandler,
} from '../../../lib/index.js'
import { onResponseStart } from '../../../lib/core.js'
import { h2Request, serveH2 } from '../../helpers/h2.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket, parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { silenceWarningOutput, tick, until } from '../../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

const LIMIT = 1000

/** What the handler saw: bytes read, and the error its stream failed with. */
interface Seen {
  bytes: number
  error: unknown
  socket: Socket | undefined
  calls: number
}

/** A handler that reads the whole body and answers with its length. */
function reader(seen: Seen): RawHandler {
  return async (req, res) => {
    seen.calls++
    seen.socket = req.socket
    try {
      for await (const chunk of req) seen.bytes += (chunk as Buffer).length
    } catch (err) {
      seen.error = err
      throw err
    }
    res.end(`read ${seen.bytes}`)
  }
}

async function limited(t: Test, limit = LIMIT) {
  const seen: Seen = { bytes: 0, error: undefined, socket: undefined, calls: 0 }
  const reports: ErrorReport[] = []
  const url = await serve(
    t,
    compose(
      errorBoundary({
        onError: (r) => {
          reports.push(r)
        },
      }),
      bodyLimit({ limit }),
    )(reader(seen)),
  )
  return { url, seen, reports }
}

const chunked = (...sizes: number[]) =>
  sizes.map((n) => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`).join('') + '0\r\n\r\n'
const post = (headers: string, body: string) =>
  `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n${body}`

t.test(
  'bodyLimit(): Content-Length at the limit passes; one byte over is refused before the handler runs',
  async (t) => {
    const { url, seen } = await limited(t)
    const ok = parseRawResponse(await rawExchange(url, post(`Content-Length: ${LIMIT}\r\n`, 'x'.repeat(LIMIT))))
    t.equal(ok.status, 200)
    t.equal(ok.body.toString(), `read ${LIMIT}`)
    seen.calls = 0
    const over = parseRawResponse(
      await rawExchange(url, post(`Content-Length: ${LIMIT + 1}\r\n`, 'x'.repeat(LIMIT + 1))),
    )
    t.equal(over.status, 413)
    t.equal(over.headers.connection, 'close')
    t.same(JSON.parse(over.body.toString()), {
      limit: LIMIT,
      status: 413,
      code: 'content_too_large',
      message: `The request body exceeds the limit of ${LIMIT} bytes`,
    })
    t.equal(seen.calls, 0, 'the handler never ran')
  },
)

t.test(
  'bodyLimit(): a declared length over the limit is answered before any body byte is sent, and the connection closed',
  async (t) => {
    const { url, seen } = await limited(t)
    const socket = await openSocket(url)
    let text = ''
    socket.on('data', (d: Buffer) => {
      text += d.toString()
    })
    // Headers only: the client waits for the verdict before sending 10 MB.
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n')
    await new Promise((ok) => socket.once('close', ok))
    t.match(text, /^HTTP\/1\.1 413 /)
    t.match(text, /connection: close/i)
    t.equal(seen.calls, 0)
  },
)

t.test('bodyLimit(): a Content-Length beyond 2^53 is refused, not misread', async (t) => {
  const { url } = await limited(t, Number.MAX_SAFE_INTEGER)
  const res = parseRawResponse(await rawExchange(url, post('Content-Length: 9007199254740993\r\n', '')))
  t.equal(res.status, 413)
})

t.test('bodyLimit(): chunked at exactly the limit passes; limit + 1 fails the stream with a 413', async (t) => {
  const { url, seen, reports } = await limited(t)
  const ok = parseRawResponse(await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(600, 400))))
  t.equal(ok.status, 200)
  t.equal(ok.body.toString(), `read ${LIMIT}`)
  seen.bytes = 0
  const over = parseRawResponse(await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(600, 401))))
  t.equal(over.status, 413)
  t.equal(over.headers.connection, 'close')
  t.equal(seen.bytes, 600, 'the chunk crossing the limit was never delivered')
  await until(() => seen.error !== undefined && reports.length > 0)
  t.type(seen.error, HttpError)
  t.equal((seen.error as HttpError).status, 413)
  t.equal((seen.error as HttpError).code, 'content_too_large')
  t.equal(reports.length, 1, 'the handler failing on the stream error is reported once')
  t.equal(reports[0]!.action, 'none', 'and not answered twice')
})

t.test('bodyLimit(): a lying Content-Length delivers at most the declared bytes', async (t) => {
  const { url, seen } = await limited(t)
  // Claims 10, sends 5000: the parser reads the rest as a next request (and refuses it).
  const raw = await rawExchange(url, post('Content-Length: 10\r\n', 'x'.repeat(10) + 'y'.repeat(5000)))
  t.match(raw.toString(), /^HTTP\/1\.1 (200|400) /)
  await until(() => seen.bytes >= 10)
  t.equal(seen.bytes, 10)
  // Claims 500, sends 10 and hangs up: the handler's stream fails, nothing was invented.
  seen.bytes = 0
  const socket = await openSocket(url)
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n' + 'x'.repeat(10))
  for (let i = 0; i < 200 && seen.bytes < 10; i++) await tick(2)
  socket.destroy()
  for (let i = 0; i < 200 && !seen.error; i++) await tick(2)
  t.equal(seen.bytes, 10)
  t.ok(seen.error, 'the handler saw the request abort')
})

t.test(
  'bodyLimit(): a chunked flood is cut off: 413, connection closed, little more than the limit read',
  async (t) => {
    const { url, seen } = await limited(t, 64 * 1024)
    const socket = await openSocket(url)
    let text = ''
    let closed = false
    let sent = 0
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
    })
    socket.on('error', () => undefined) // the reset after the answer
    socket.on('close', () => {
      closed = true
    })
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    const frame = Buffer.from(`4000\r\n${'f'.repeat(0x4000)}\r\n`)
    const pump = () => {
      while (!closed && sent < 100_000_000 && socket.write(frame)) sent += frame.length
    }
    socket.on('drain', pump)
    pump()
    await new Promise((ok) => socket.once('close', ok))
    t.match(text, /^HTTP\/1\.1 413 /)
    t.ok(seen.bytes <= 64 * 1024)
    const read = seen.socket!.bytesRead
    t.ok(read < 64 * 1024 + 256 * 1024, `the server read ${read} bytes of the ${sent} sent`)
    t.ok(sent > read, 'the client was stopped, not drained')
  },
)

t.test('bodyLimit(): a slow drip crosses the limit and is cut off at the crossing', async (t) => {
  const { url, seen } = await limited(t)
  const socket = await openSocket(url)
  let text = ''
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1')
  })
  socket.on('error', () => undefined)
  let closed = false
  socket.on('close', () => {
    closed = true
  })
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
  for (let i = 0; i < 30 && !closed; i++) {
    socket.write(`64\r\n${'d'.repeat(100)}\r\n`)
    await tick(3)
  }
  await new Promise((ok) => (closed ? ok(undefined) : socket.once('close', ok)))
  t.match(text, /^HTTP\/1\.1 413 /)
  t.equal(seen.bytes, LIMIT, 'every byte up to the limit, none after')
})

t.test('bodyLimit(): once the answer is streaming, an overflow cuts the connection', async (t) => {
  let failure: unknown
  const url = await serve(
    t,
    bodyLimit({ limit: LIMIT })(async (req: IncomingMessage, res) => {
      res.setHeader('content-type', 'text/plain')
      res.flushHeaders()
      try {
        for await (const chunk of req) res.write(chunk)
        res.end()
      } catch (err) {
        failure = err
      }
    }),
  )
  const raw = await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(500, 500, 500))).catch(() =>
    Buffer.alloc(0),
  )
  const text = raw.toString('latin1')
  t.match(text, /^HTTP\/1\.1 200/)
  t.notOk(text.endsWith('0\r\n\r\n'), 'the echo is visibly broken')
  await until(() => failure !== undefined)
  t.equal((failure as HttpError).status, 413)
})

t.test('bodyLimit(): bytes buffered before it ran (an earlier layer awaited) are counted', async (t) => {
  const seen: Seen = { bytes: 0, error: undefined, socket: undefined, calls: 0 }
  const slowLayer =
    (next: RawHandler): RawHandler =>
    async (req, res) => {
      await tick(30)
      return next(req, res)
    }
  const url = await serve(
    t,
    compose(errorBoundary({ onError: () => undefined }), slowLayer, bodyLimit({ limit: LIMIT }))(reader(seen)),
  )
  const res = parseRawResponse(await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(3000))))
  t.equal(res.status, 413)
  t.equal(seen.calls, 0)
})

t.test('bodyLimit(): when the 413 cannot be written (a listener throws), the connection is cut', async (t) => {
  const url = await serve(
    t,
    compose(bodyLimit({ limit: LIMIT }))(async (req, res) => {
      onResponseStart(res, () => {
        throw new Error('listener broke')
      })
      for await (const _ of req) void _
      res.end()
    }),
  )
  const raw = await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(600, 600))).catch(() =>
    Buffer.alloc(0),
  )
  t.equal(raw.length, 0, 'nothing was answered')
})

t.test(
  'bodyLimit(): a body left unread after a quick answer is still counted: a flood is cut, a small one drained',
  async (t) => {
    const url = await serve(
      t,
      bodyLimit({ limit: LIMIT })((_req, res) => res.end('answered without reading')),
    )
    const socket = await openSocket(url)
    let text = ''
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
    })
    socket.on('error', () => undefined)
    let closed = false
    socket.on('close', () => {
      closed = true
    })
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    while (!text.includes('answered without reading')) await tick(5)
    for (let i = 0; i < 40 && !closed; i++) {
      socket.write(`64\r\n${'d'.repeat(100)}\r\n`)
      await tick(2)
    }
    for (let i = 0; i < 100 && !closed; i++) await tick(5)
    t.equal(closed, true, 'the connection was closed once the unread body crossed the limit')
    // Within the limit, the rest is drained and the connection serves the next request.
    const kept = await openSocket(url)
    let keptText = ''
    kept.on('data', (d: Buffer) => {
      keptText += d.toString('latin1')
    })
    kept.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    while (!keptText.includes('answered without reading')) await tick(5)
    kept.write(`64\r\n${'d'.repeat(100)}\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    await new Promise((ok) => kept.once('close', ok))
    t.equal((keptText.match(/answered without reading/g) ?? []).length, 2)
  },
)

t.test('bodyLimit(): bodiless requests and small bodies pass untouched; an unread body is fine', async (t) => {
  const url = await serve(
    t,
    bodyLimit({ limit: LIMIT })((req, res) => {
      if (req.url === '/ignore') {
        res.end('ignored')
        return
      }
      res.end(req.method)
    }),
  )
  t.equal((await httpRequest(url)).text, 'GET')
  t.equal((await httpRequest(`${url}/ignore`, { method: 'POST', body: 'x'.repeat(500) })).text, 'ignored')
  const chunkedIgnored = parseRawResponse(
    await rawExchange(
      url.replace(/$/, ''),
      post('Transfer-Encoding: chunked\r\n', chunked(300)).replace('POST /', 'POST /ignore'),
    ),
  )
  t.equal(chunkedIgnored.body.toString(), 'ignored')
})

t.test('bodyLimit(): limit 0 refuses any body but accepts Content-Length: 0', async (t) => {
  const { url } = await limited(t, 0)
  t.equal(parseRawResponse(await rawExchange(url, post('Content-Length: 0\r\n', ''))).status, 200)
  t.equal(parseRawResponse(await rawExchange(url, post('Content-Length: 1\r\n', 'x'))).status, 413)
  t.equal(parseRawResponse(await rawExchange(url, post('Transfer-Encoding: chunked\r\n', chunked(1)))).status, 413)
})

t.test(
  'bodyLimit(): over HTTP/2, a body without content-length is counted and refused without connection headers',
  async (t) => {
    const url = await serveH2(
      t,
      compose(
        errorBoundary({ onError: () => undefined }),
        bodyLimit({ limit: LIMIT }),
      )(async (req, res) => {
        let n = 0
        for await (const chunk of req) n += (chunk as Buffer).length
        res.end(`read ${n}`)
      }),
    )
    const ok = await h2Request(url, { ':method': 'POST' }, 'x'.repeat(LIMIT))
    t.equal(ok.text, `read ${LIMIT}`)
    const over = await h2Request(url, { ':method': 'POST' }, 'x'.repeat(LIMIT * 5)).catch((err: Error) => err)
    t.notOk(over instanceof Error, 'the answer arrives before the stream is closed')
    if (!(over instanceof Error)) {
      t.equal(over.status, 413)
      t.equal(over.headers.connection, undefined)
    }
    const declared = await h2Request(
      url,
      { ':method': 'POST', 'content-length': String(LIMIT + 1) },
      'x'.repeat(LIMIT + 1),
    ).catch((err: Error) => err)
    t.equal((declared as { status: number }).status, 413)
  },
)

t.test('decodedSizeLimit(): a gzip bomb within the wire limit is stopped at the decoded limit', async (t) => {
  const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024))
  t.ok(bomb.length < 64 * 1024, `50 MB of zeros gzip to ${bomb.length} bytes`)
  let decoded = 0
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      bodyLimit({ limit: 64 * 1024 }),
    )(async (req, res) => {
      await pipeline(
        req,
        createGunzip(),
        decodedSizeLimit(1024 * 1024),
        new Writable({
          write(chunk: Buffer, _e, done) {
            decoded += chunk.length
            done()
          },
        }),
      )
      res.end('inflated')
    }),
  )
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: bomb })
  t.equal(res.status, 413)
  t.match(res.text, /The decoded request body exceeds the limit of 1048576 bytes/)
  t.ok(decoded <= 1024 * 1024)
  const small = await httpRequest(url, { method: 'POST', body: gzipSync('hello') })
  t.equal(small.text, 'inflated')
})

t.test('bodyLimit(): passes responses through: empty end, HEAD, 204, 304, writeHead with headers', async (t) => {
  const url = await serve(
    t,
    compose(bodyLimit())((req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else if (req.url === '/writehead') {
        res.writeHead(201, { 'x-given': 'yes' })
        res.end()
      } else if (req.url === '/throw') throw new Error('boom')
      else res.end()
    }),
  )
  const get = (path: string, method = 'GET') =>
    rawExchange(url, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(parseRawResponse)
  t.equal((await get('/')).body.length, 0)
  t.equal((await get('/', 'HEAD')).status, 200)
  t.equal((await get('/204')).status, 204)
  t.equal((await get('/304')).status, 304)
  t.equal((await get('/writehead')).headers['x-given'], 'yes')
  t.equal((await get('/throw')).status, 599, 'a throw passes through to the layer outside')
})

t.test('bodyLimit(): declares its place: inside errorBoundary, before bodyCapture; a security layer', async (t) => {
  const explained = compose(errorBoundary(), bodyLimit({ limit: 10 })).explain()
  t.match(explained, /bodyLimit \(10 bytes\)/)
  t.match(explained, /ok\s+errorBoundary wraps bodyLimit/)
})

t.test('bodyLimit(): config: rejects bad options', async (t) => {
  t.throws(() => bodyLimit({ limit: -1 }), {
    name: 'ConfigError',
    message: /bodyLimit\(\): option "limit" must be an integer ≥ 0; received -1 \(number\)\. Give bytes/,
  })
  t.throws(() => bodyLimit({ limit: '1mb' as never }), {
    name: 'ConfigError',
    message: /option "limit" must be an integer ≥ 0; received "1mb"/,
  })
  t.throws(() => bodyLimit({ max: 5 } as never), {
    name: 'ConfigError',
    message: /^bodyLimit\(\): unknown option "max"; known options are limit\.$/,
  })
  t.throws(() => decodedSizeLimit(1.5), {
    name: 'ConfigError',
    message: /decodedSizeLimit\(\): option "limit" must be an integer/,
  })
})
