import { spawn } from 'node:child_process'
import { createHook } from 'node:async_hooks'
import { createHash, randomBytes } from 'node:crypto'
import { request, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import * as zlib from 'node:zlib'
import express from 'express'
import fc from 'fast-check'
import t from 'tap'
import {
  compose,
  compressibleTypes,
  compression,
  compressionDefaults,
  flushResponse,
  HttpError,
  sendError,
  zstdSupported,
  type CompressionOptions,
  type Encoding,
  type RawHandler,
} from '../../../lib/index.js'
import { defineMiddleware, onResponseEnd } from '../../../lib/core.js'
import { httpRequest, type HttpResult } from '../../helpers/http.js'
import { openSocket } from '../../helpers/raw.js'
import { launchBrowser } from '../../helpers/browser.js'
import { requireProgram } from '../../helpers/requirements.js'
import { serve } from '../../helpers/serve.js'
import { collectGarbage } from '../../helpers/gc.js'
import { writeWithBackpressure } from '../../helpers/backpressure.js'
import { until } from '../../helpers/wait.js'

const offered: Encoding[] = zstdSupported ? ['br', 'zstd', 'gzip', 'deflate'] : ['br', 'gzip', 'deflate']
const text = 'The quick brown fox jumps over the lazy dog. '.repeat(200) // 9,000 bytes

type Decoder = (body: Buffer) => Buffer
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: Decoder }).zstdDecompressSync
const decoders: Record<string, Decoder> = {
  br: zlib.brotliDecompressSync,
  gzip: zlib.gunzipSync,
  'x-gzip': zlib.gunzipSync,
  deflate: zlib.inflateSync,
  ...(zstdDecompressSync ? { zstd: zstdDecompressSync } : {}),
}
const streamDecoders: Record<string, () => Duplex> = {
  br: zlib.createBrotliDecompress,
  gzip: zlib.createGunzip,
  deflate: zlib.createInflate,
  ...(zstdSupported ? { zstd: (zlib as unknown as { createZstdDecompress: () => Duplex }).createZstdDecompress } : {}),
}

/** The body as the handler wrote it: the response decoded by its Content-Encoding. */
function decoded(res: HttpResult): Buffer {
  const coding = res.headers['content-encoding']
  return coding === undefined ? res.body : decoders[coding]!(res.body)
}

const get = (url: string, acceptEncoding?: string, method = 'GET') =>
  httpRequest(url, { method, headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } })

/** A handler under compression() that sends `body` as `type`, with Content-Length when asked. */
function textHandler(body: string | Buffer, { type = 'text/plain; charset=utf-8', length = false } = {}): RawHandler {
  return compose(compression())((_req, res) => {
    if (type) res.setHeader('content-type', type)
    if (length) res.setHeader('content-length', Buffer.byteLength(body))
    res.end(body)
  })
}

t.test('compression(): compresses with each coding, drops Content-Length, varies on Accept-Encoding', async (t) => {
  const url = await serve(t, textHandler(text, { length: true }))
  for (const encoding of offered) {
    const res = await get(url, encoding)
    t.equal(res.headers['content-encoding'], encoding)
    // The identity Content-Length is dropped; a body handed over whole goes out with its
    // compressed length (zstd, which has no one-call encoder here, streams without one).
    t.equal(res.headers['content-length'], encoding === 'zstd' ? undefined : String(res.body.length))
    t.equal(res.headers.vary, 'Accept-Encoding')
    t.ok(res.body.length < text.length / 10, `${encoding}: ${res.body.length} bytes`)
    t.equal(decoded(res).toString(), text)
  }
})

t.test('compression(): round trip of random bodies in random chunkings, for each coding (property)', async (t) => {
  let current: { chunks: Uint8Array[]; length: boolean } = { chunks: [], length: false }
  const url = await serve(
    t,
    compose(compression({ threshold: 64 }))(async (_req, res) => {
      const { chunks, length } = current
      res.setHeader('content-type', 'application/json')
      if (length)
        res.setHeader(
          'content-length',
          chunks.reduce((n, c) => n + c.length, 0),
        )
      await writeWithBackpressure(res, chunks)
      res.end()
    }),
  )
  await fc.assert(
    fc.asyncProperty(
      fc
        .uint8Array({ maxLength: 40_000 })
        .chain((body) =>
          fc.tuple(
            fc.constant(body),
            fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, body.length - 1) }), { maxLength: 12 }),
          ),
        ),
      fc.boolean(),
      fc.constantFrom(...offered),
      fc.boolean(),
      async ([body, cuts], length, encoding, compressible) => {
        const bytes = compressible
          ? Buffer.from(Buffer.from(body).toString('base64').slice(0, body.length))
          : Buffer.from(body)
        const points = [0, ...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length]
        current = { chunks: points.slice(1).map((end, i) => bytes.subarray(points[i]!, end)), length }
        const res = await get(url, `${encoding}, identity;q=0.5`)
        const expected = bytes.length >= 64 ? encoding : undefined
        if (res.headers['content-encoding'] !== expected)
          throw new Error(`coding ${res.headers['content-encoding']} for ${bytes.length} bytes`)
        if (!decoded(res).equals(bytes)) throw new Error('decoded body differs')
        if (expected === undefined && res.headers['content-length'] !== String(bytes.length))
          throw new Error('no exact Content-Length')
        if (expected !== undefined && res.headers['content-length'] !== undefined)
          throw new Error('Content-Length kept')
        if (res.headers.vary !== 'Accept-Encoding') throw new Error(`Vary: ${res.headers.vary}`)
      },
    ),
    { numRuns: 120 },
  )
  t.pass('every body decoded to the bytes written')
})

t.test('compression(): the negotiation table, end to end', async (t) => {
  const url = await serve(t, textHandler(text))
  const table: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['gzip;q=0', undefined],
    ['gzip;q=0, br', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['gzip, br', 'br'],
    ['gzip, deflate', 'gzip'],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['identity;q=0', undefined],
    ['identity', undefined],
    ['gzip;q=0.5, identity', undefined],
    ['bgzip', undefined],
    ['gzipx, brotli', undefined],
    ['x-gzip', 'x-gzip'],
    ['GZIP', 'gzip'],
    ['gzip;q=abc', undefined],
  ]
  for (const [header, expected] of table) {
    const res = await get(url, header)
    t.equal(res.status, 200, `${header}: never 406`)
    t.equal(res.headers['content-encoding'], expected, `Accept-Encoding: ${JSON.stringify(header)}`)
    t.equal(decoded(res).toString(), text)
    t.equal(res.headers.vary, 'Accept-Encoding')
  }
})

t.test('compression(): notAcceptable "refuse" answers 406 when nothing is acceptable, identity included', async (t) => {
  let calls = 0
  const url = await serve(
    t,
    compose(compression({ notAcceptable: 'refuse', encodings: ['br', 'gzip'] }))((_req, res) => {
      calls++
      res.setHeader('content-type', 'text/plain')
      res.end(text)
    }),
  )
  // RFC 9110 §12.5.3: identity;q=0 (or *;q=0 without identity) and no acceptable coding.
  for (const header of ['identity;q=0', '*;q=0', 'deflate, identity;q=0', 'zstd, *;q=0', 'gzip;q=0, identity;q=0']) {
    const res = await get(url, header)
    t.equal(res.status, 406, `${header}: 406`)
    t.equal(res.headers['content-encoding'], undefined, 'the refusal itself is unencoded')
    t.equal(res.headers.vary, 'Accept-Encoding', 'another Accept-Encoding gets a 200 here')
    t.same(JSON.parse(res.text), {
      status: 406,
      code: 'encoding_not_acceptable',
      message: 'No acceptable content coding: Accept-Encoding refuses identity and accepts none of br, gzip.',
      encodings: ['br', 'gzip'],
    })
  }
  t.equal(calls, 0, 'the handler never ran for a refused request')
  // Whatever is acceptable is still served.
  for (const [header, coding] of [
    [undefined, undefined],
    ['gzip;q=0', undefined],
    ['gzip, identity;q=0', 'gzip'],
    ['*;q=0, identity', undefined],
    ['*', 'br'],
  ] as const) {
    const res = await get(url, header)
    t.equal(res.status, 200, `${header}: 200`)
    t.equal(res.headers['content-encoding'], coding, `${header}: ${coding ?? 'identity'}`)
    t.equal(decoded(res).toString(), text)
  }
  t.match(compose(compression({ notAcceptable: 'refuse' })).explain(), /406 when nothing is acceptable/)
})

t.test(
  'compression(): notAcceptable "refuse" answers HEAD with a bodiless 406, in the format errorBoundary chose',
  async (t) => {
    const { errorBoundary } = await import('../../../lib/index.js')
    const url = await serve(
      t,
      compose(
        errorBoundary({ format: 'problem' }),
        compression({ notAcceptable: 'refuse' }),
      )((_req, res) => {
        res.setHeader('content-type', 'text/plain')
        res.end(text)
      }),
    )
    const head = await get(url, 'identity;q=0', 'HEAD')
    t.equal(head.status, 406)
    t.equal(head.body.length, 0)
    const res = await get(url, '*;q=0')
    t.equal(res.status, 406)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
  },
)

t.test('compression(): encodings order is the server preference for ties', async (t) => {
  const url = await serve(
    t,
    compose(compression({ encodings: ['gzip', 'br'] }))((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.end(text)
    }),
  )
  t.equal((await get(url, 'br, gzip')).headers['content-encoding'], 'gzip')
  t.equal((await get(url, 'br, gzip;q=0.9')).headers['content-encoding'], 'br')
  t.equal((await get(url, 'deflate')).headers['content-encoding'], undefined)
})

t.test('compression(): when identity is refused, compresses below the threshold too', async (t) => {
  const url = await serve(t, textHandler('tiny'))
  const refused = await get(url, 'gzip, identity;q=0')
  t.equal(refused.headers['content-encoding'], 'gzip')
  t.equal(decoded(refused).toString(), 'tiny')
  t.equal((await get(url, 'gzip, *;q=0')).headers['content-encoding'], 'gzip')
  t.equal((await get(url, 'gzip')).headers['content-length'], '4')
  const png = await get(await serve(t, textHandler(randomBytes(10), { type: 'image/png' })), 'gzip, identity;q=0')
  t.equal(png.headers['content-encoding'], undefined, 'a type that does not compress still goes out as is')
  t.equal(png.status, 200)
})

t.test('compression(): threshold without Content-Length holds back at most threshold bytes', async (t) => {
  let size = 0
  const url = await serve(
    t,
    compose(compression({ threshold: 1024 }))((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      for (let i = 0; i < size; i += 100) res.write('a'.repeat(Math.min(100, size - i)))
      res.end()
    }),
  )
  for (const n of [0, 1, 1023]) {
    size = n
    const res = await get(url, 'gzip')
    t.equal(res.headers['content-encoding'], undefined, `${n} bytes`)
    t.equal(res.headers['content-length'], String(n))
    t.equal(res.headers['transfer-encoding'], undefined)
    t.equal(res.body.length, n)
    t.equal(res.headers.vary, 'Accept-Encoding')
  }
  for (const n of [1024, 1025, 100_000]) {
    size = n
    const res = await get(url, 'gzip')
    t.equal(res.headers['content-encoding'], 'gzip', `${n} bytes`)
    t.equal(decoded(res).toString(), 'a'.repeat(n))
  }
})

t.test('compression(): with Content-Length the decision is made at once, bytes are never held', async (t) => {
  let release!: () => void
  const url = await serve(
    t,
    compose(compression({ threshold: 1024 }))(async (_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader('content-length', '10')
      res.write('12345')
      await new Promise<void>((ok) => {
        release = ok
      })
      res.end('67890')
    }),
  )
  const first = await new Promise<{ res: IncomingMessage; data: string }>((ok, fail) => {
    request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      res.once('data', (d: Buffer) => ok({ res, data: d.toString() }))
    })
      .on('error', fail)
      .end()
  })
  t.equal(first.data, '12345', 'the first write went out before the end')
  t.equal(first.res.headers['content-length'], '10')
  t.equal(first.res.headers['content-encoding'], undefined)
  release()
  const big = await get(await serve(t, textHandler(text, { length: true })), 'gzip')
  t.equal(big.headers['content-encoding'], 'gzip')
})

t.test('compression(): skips HEAD, but answers with the headers a GET would vary on', async (t) => {
  const url = await serve(t, textHandler(text, { length: true }))
  const res = await get(url, 'gzip', 'HEAD')
  t.equal(res.headers['content-encoding'], undefined)
  t.equal(res.headers['content-length'], String(text.length))
  t.equal(res.headers.vary, 'Accept-Encoding')
  t.equal(res.body.length, 0)
})

t.test('compression(): skips 204 without Vary, and varies a 304', async (t) => {
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      res.statusCode = req.url === '/204' ? 204 : 304
      res.setHeader('etag', '"v1"')
      res.end()
    }),
  )
  const none = await get(`${url}/204`, 'gzip')
  t.equal(none.status, 204)
  t.equal(none.headers.vary, undefined)
  t.equal(none.headers['content-encoding'], undefined)
  const notModified = await get(`${url}/304`, 'gzip')
  t.equal(notModified.status, 304)
  t.equal(notModified.headers.vary, 'Accept-Encoding')
  t.equal(notModified.headers['content-encoding'], undefined)
  t.equal(notModified.headers.etag, '"v1"')
})

t.test('compression(): skips a 206 and any Content-Range', async (t) => {
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      res.setHeader('content-type', 'text/plain')
      if (req.url === '/206') res.statusCode = 206
      res.setHeader('content-range', `bytes 0-${text.length - 1}/${text.length * 2}`)
      res.end(text)
    }),
  )
  for (const path of ['/206', '/200']) {
    const res = await get(`${url}${path}`, 'gzip')
    t.equal(res.headers['content-encoding'], undefined, path)
    t.equal(res.body.toString(), text)
    t.equal(res.headers.vary, 'Accept-Encoding')
  }
})

t.test('compression(): leaves a body the handler encoded itself alone', async (t) => {
  const gz = zlib.gzipSync(text)
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader('content-encoding', 'gzip')
      res.end(gz)
    }),
  )
  const res = await get(url, 'br')
  t.equal(res.headers['content-encoding'], 'gzip')
  t.ok(res.body.equals(gz))
  t.equal(res.headers.vary, undefined, 'the handler varies its own choice')
})

t.test('compression(): honours Cache-Control: no-transform', async (t) => {
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader(
        'cache-control',
        req.url === '/list' ? ['public', 'No-Transform'] : 'public, no-transform, max-age=60',
      )
      res.end(text)
    }),
  )
  for (const path of ['/', '/list']) {
    const res = await get(`${url}${path}`, 'gzip')
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers.vary, undefined)
    t.equal(res.body.toString(), text)
  }
  const lookalike = await get(
    await serve(
      t,
      compose(compression())((_req, res) => {
        res.setHeader('content-type', 'text/plain')
        res.setHeader('cache-control', 'x-no-transform-ish')
        res.end(text)
      }),
    ),
    'gzip',
  )
  t.equal(lookalike.headers['content-encoding'], 'gzip')
})

t.test('compression(): skips types that do not compress, and bodies without a type', async (t) => {
  const png = randomBytes(5000)
  for (const type of ['image/png', 'video/mp4', 'application/zip', 'font/woff2', 'application/octet-stream', '']) {
    const res = await get(await serve(t, textHandler(png, { type })), 'gzip, br')
    t.equal(res.headers['content-encoding'], undefined, type || 'no type')
    t.equal(res.headers.vary, undefined)
    t.ok(res.body.equals(png))
  }
  for (const type of [
    'text/html; charset=utf-8',
    'application/json',
    'application/problem+json',
    'image/svg+xml',
    'application/javascript',
    'application/wasm',
    'TEXT/CSS',
  ]) {
    const res = await get(await serve(t, textHandler(text, { type })), 'gzip')
    t.equal(res.headers['content-encoding'], 'gzip', type)
  }
})

t.test('compression(): types accepts patterns or a predicate', async (t) => {
  const handler = (types: CompressionOptions['types']) =>
    compose(compression({ types }))((req, res) => {
      res.setHeader('content-type', req.url === '/a' ? 'application/vnd.acme.report' : 'text/plain')
      res.end(text)
    })
  const patterns = await serve(t, handler([/^application\/vnd\.acme\.[a-z]+$/]))
  t.equal((await get(`${patterns}/a`, 'gzip')).headers['content-encoding'], 'gzip')
  t.equal((await get(`${patterns}/b`, 'gzip')).headers['content-encoding'], undefined)
  const seen: string[] = []
  const predicate = await serve(
    t,
    handler((type: string) => {
      seen.push(type)
      return type === 'text/plain'
    }),
  )
  t.equal((await get(`${predicate}/a`, 'gzip')).headers['content-encoding'], undefined)
  t.equal((await get(`${predicate}/b`, 'gzip')).headers['content-encoding'], 'gzip')
  t.same(seen, ['application/vnd.acme.report', 'text/plain'])
  t.ok(compressibleTypes.includes('text/*'))
  t.equal(compressionDefaults.threshold, 1024)
  t.ok(Object.isFrozen(compressionDefaults))
})

t.test('compression(): makes a strong ETag weak when compressing, only then', async (t) => {
  let size = text.length
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader('etag', '"abc"')
      res.setHeader('accept-ranges', 'bytes')
      res.end(text.slice(0, size))
    }),
  )
  const compressed = await get(url, 'gzip')
  t.equal(compressed.headers.etag, 'W/"abc"')
  t.equal(compressed.headers['accept-ranges'], undefined)
  const plain = await get(url)
  t.equal(plain.headers.etag, '"abc"')
  t.equal(plain.headers['accept-ranges'], 'bytes')
  size = 10
  t.equal((await get(url, 'gzip')).headers.etag, '"abc"', 'below the threshold')
  const weak = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader('etag', 'W/"abc"')
      res.end(text)
    }),
  )
  t.equal((await get(weak, 'gzip')).headers.etag, 'W/"abc"')
})

t.test('compression(): merges Vary with what the handler set', async (t) => {
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.setHeader('vary', 'Origin')
      res.end(text)
    }),
  )
  t.equal((await get(url, 'gzip')).headers.vary, 'Origin, Accept-Encoding')
  t.equal((await get(url)).headers.vary, 'Origin, Accept-Encoding')
})

t.test('compression(): an empty end() goes out empty, with Vary', async (t) => {
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.end()
    }),
  )
  const res = await get(url, 'gzip', 'GET')
  t.equal(res.headers['content-encoding'], undefined)
  t.equal(res.headers['content-length'], '0')
  t.equal(res.headers.vary, 'Accept-Encoding')
  t.equal(res.body.length, 0)
})

t.test('compression(): writeHead(status, headers) is decided on with those headers', async (t) => {
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      if (req.url === '/length')
        res.writeHead(201, { 'content-type': 'text/plain', 'content-length': String(text.length) })
      else if (req.url === '/png') res.writeHead(200, { 'content-type': 'image/png' })
      else res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(text)
    }),
  )
  const withLength = await get(`${url}/length`, 'br')
  t.equal(withLength.status, 201)
  t.equal(withLength.headers['content-encoding'], 'br')
  t.equal(decoded(withLength).toString(), text)
  const streamed = await get(`${url}/`, 'gzip')
  t.equal(streamed.headers['content-encoding'], 'gzip', 'headers sent before the first byte: decided without a length')
  t.equal(decoded(streamed).toString(), text)
  const png = await get(`${url}/png`, 'gzip')
  t.equal(png.headers['content-encoding'], undefined)
})

/** A minimal error boundary: what errorBoundary() does before headers are sent. */
const boundary = defineMiddleware(
  { name: 'testBoundary' },
  (next) =>
    async function testBoundaryHandler(req, res) {
      try {
        await next(req, res)
      } catch (err) {
        if (!sendError(req, res, err instanceof HttpError ? err : new HttpError(500))) res.destroy(err as Error)
      }
    },
)

t.test('compression(): a handler that throws after writing part of a body gets a clean error answer', async (t) => {
  const url = await serve(
    t,
    compose(
      boundary,
      compression(),
    )(async (req, res) => {
      res.setHeader('content-type', 'text/html')
      res.setHeader('etag', '"page"')
      res.write('<html><body>partial page, held back under the threshold')
      await new Promise((ok) => setImmediate(ok))
      if (req.url === '/conflict') throw new HttpError(409, 'conflict')
      throw new Error('database down')
    }),
  )
  for (const encoding of offered) {
    const res = await get(url, encoding)
    t.equal(res.status, 500)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['content-length'], String(res.body.length))
    t.equal(res.headers.etag, undefined)
    t.same(JSON.parse(res.body.toString()), {
      status: 500,
      code: 'internal_server_error',
      message: 'Internal Server Error',
    })
  }
  const conflict = await get(`${url}/conflict`, 'gzip')
  t.equal(conflict.status, 409)
  t.notMatch(conflict.body.toString(), /partial/)
  // Identity: nothing was held, the headers went out with the first write, as without compression().
  await t.rejects(get(url), { code: 'ECONNRESET' })
})

t.test(
  'compression(): a handler that throws after the headers leaves a broken response, never a short success',
  async (t) => {
    let ended: string | undefined
    const url = await serve(
      t,
      compose(
        boundary,
        compression(),
      )(async (_req, res) => {
        onResponseEnd(res, (info) => {
          ended = info.outcome
        })
        res.setHeader('content-type', 'text/plain')
        res.write(text)
        await new Promise((ok) => setTimeout(ok, 10))
        throw new Error('late failure')
      }),
    )
    const outcome = await new Promise<string>((ok) => {
      request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        res.on('data', () => undefined)
        res.on('end', () => ok('complete'))
        res.on('error', () => ok('broken'))
        res.on('aborted', () => ok('broken'))
      })
        .on('error', () => ok('broken'))
        .end()
    })
    t.equal(outcome, 'broken')
    await new Promise((ok) => setTimeout(ok, 20))
    t.not(ended, 'finished')
  },
)

t.test('compression(): text/event-stream events arrive one by one, decoded, before the end', async (t) => {
  for (const encoding of offered) {
    let next!: () => void
    const url = await serve(
      t,
      compose(compression())(async (_req, res) => {
        res.setHeader('content-type', 'text/event-stream')
        res.setHeader('cache-control', 'no-cache')
        for (let i = 1; i <= 3; i++) {
          res.write(`id: ${i}\ndata: event ${i}\n\n`)
          await new Promise<void>((ok) => {
            next = ok
          })
        }
        res.end()
      }),
    )
    const received = await new Promise<string[]>((ok, fail) => {
      request(url, { headers: { 'accept-encoding': encoding } }, (res) => {
        if (res.headers['content-encoding'] !== encoding) fail(new Error(`coding ${res.headers['content-encoding']}`))
        const events: string[] = []
        let buffered = ''
        const decoder = streamDecoders[encoding]!()
        decoder.on('data', (d: Buffer) => {
          buffered += d.toString()
          const parts = buffered.split('\n\n')
          buffered = parts.pop()!
          for (const event of parts) {
            events.push(event)
            next() // the handler writes the next event only once this one arrived
          }
        })
        decoder.on('end', () => ok(events))
        decoder.on('error', fail)
        res.pipe(decoder)
      })
        .on('error', fail)
        .end()
    })
    t.same(
      received,
      [1, 2, 3].map((i) => `id: ${i}\ndata: event ${i}`),
      encoding,
    )
  }
})

t.test('compression(): eventStream "skip" sends events uncompressed', async (t) => {
  const url = await serve(
    t,
    compose(compression({ eventStream: 'skip' }))((_req, res) => {
      res.setHeader('content-type', 'text/event-stream')
      res.end('data: x\n\n'.repeat(500))
    }),
  )
  const res = await get(url, 'gzip')
  t.equal(res.headers['content-encoding'], undefined)
  t.equal(res.headers.vary, undefined)
})

t.test('compression(): res.flush() and flushResponse() push pending output out before the end', async (t) => {
  let release!: () => void
  const url = await serve(
    t,
    compose(compression())(async (req, res) => {
      res.setHeader('content-type', 'text/html')
      res.write(`<p>${'first part '.repeat(200)}</p>`)
      if (req.url === '/helper') flushResponse(res)
      else (res as unknown as { flush(): void }).flush()
      await new Promise<void>((ok) => {
        release = ok
      })
      res.end('<p>last</p>')
    }),
  )
  for (const path of ['/method', '/helper']) {
    for (const encoding of offered) {
      const first = await new Promise<string>((ok, fail) => {
        request(`${url}${path}`, { headers: { 'accept-encoding': encoding } }, (res) => {
          const decoder = streamDecoders[encoding]!()
          let seen = ''
          decoder.on('data', (d: Buffer) => {
            seen += d.toString()
            if (seen.endsWith('</p>') && !seen.includes('last')) {
              ok(seen)
              release()
            }
          })
          decoder.on('error', fail)
          res.pipe(decoder)
        })
          .on('error', fail)
          .end()
      })
      t.match(first, /^<p>first part/, `${path} ${encoding}`)
    }
  }
  // With identity negotiated nothing is routed, yet res.flush() exists and does no harm.
  const identity = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      ;(res as unknown as { flush(): void }).flush()
      res.end('ok')
    }),
  )
  t.equal((await get(identity)).text, 'ok')
})

t.test(
  'compression(): a streamed body with backpressure: write returns false, drain comes, every byte arrives',
  async (t) => {
    const chunk = randomBytes(64 * 1024)
    const total = 160 // 10 MiB of incompressible bytes: the connection, not zlib, is the bottleneck
    const stats = { falses: 0, drains: 0 }
    const sent = createHash('sha256')
    const url = await serve(
      t,
      compose(compression())((_req, res) => {
        res.setHeader('content-type', 'application/json')
        let i = 0
        res.on('drain', () => {
          stats.drains++
          pump()
        })
        const pump = () => {
          while (i < total) {
            const piece = Buffer.from(chunk)
            piece.writeUInt32BE(i++)
            sent.update(piece)
            if (!res.write(piece)) {
              stats.falses++
              return
            }
          }
          res.end()
        }
        pump()
      }),
    )
    const socket = await openSocket(url)
    socket.pause()
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n')
    await new Promise((ok) => setTimeout(ok, 100))
    const parts: Buffer[] = []
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.resume()
    await new Promise((ok) => socket.on('close', ok))
    const raw = Buffer.concat(parts)
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString()
    t.match(head, /content-encoding: gzip/i)
    const { decodeChunked } = await import('../../helpers/raw.js')
    const body = zlib.gunzipSync(decodeChunked(raw.subarray(raw.indexOf('\r\n\r\n') + 4)))
    t.equal(body.length, total * chunk.length)
    t.equal(createHash('sha256').update(body).digest('hex'), sent.digest('hex'))
    t.ok(stats.falses > 0, `write returned false ${stats.falses} times`)
    t.equal(stats.drains, stats.falses, 'one drain per false')
  },
)

t.test('compression(): a slow reader slows the handler and memory stays flat', async (t) => {
  const total = 96 * 1024 * 1024
  const pieces = Array.from({ length: 8 }, () => Buffer.from(randomBytes(48 * 1024).toString('base64')))
  let written = 0
  let falses = 0
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      let i = 0
      const pump = () => {
        while (written < total) {
          const piece = pieces[i++ % pieces.length]!
          written += piece.length
          if (!res.write(piece)) {
            falses++
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
    }),
  )
  // Earlier tests of this file leave tens of MiB of dead zlib buffers; freed during the stream
  // they made RSS swing by up to 40 MiB (1 run in 3).
  collectGarbage()
  const baseline = process.memoryUsage().rss
  let peak = baseline
  let received = 0
  let maxAhead = 0
  await new Promise<void>((ok, fail) => {
    request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const gunzip = zlib.createGunzip()
      res.pipe(gunzip)
      // Read in bursts with pauses: a client slower than the server.
      const slow = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss)
        maxAhead = Math.max(maxAhead, written - received)
        if (gunzip.isPaused()) gunzip.resume()
        else gunzip.pause()
      }, 5)
      gunzip.on('data', (d: Buffer) => {
        received += d.length
      })
      gunzip.on('end', () => {
        clearInterval(slow)
        ok()
      })
      gunzip.on('error', (err) => {
        clearInterval(slow)
        fail(err)
      })
    })
      .on('error', fail)
      .end()
  })
  t.equal(received, written)
  t.ok(falses > 10, `the handler was held back ${falses} times`)
  t.ok(
    maxAhead < 16 * 1024 * 1024,
    `the handler ran at most ${(maxAhead / 2 ** 20).toFixed(1)} MiB ahead of the reader`,
  )
  t.ok(
    peak - baseline < 48 * 1024 * 1024,
    `RSS grew by ${((peak - baseline) / 2 ** 20).toFixed(1)} MiB for ${total / 2 ** 20} MiB streamed`,
  )
})

/** The process's active resources other than sockets and servers, sorted: zlib handles and timers left behind show here. */
const activeResourcesBesidesSockets = (): string[] =>
  process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'TCPSocketWrap' && r !== 'TCPServerWrap')
    .sort()

t.test('compression(): 1,000 clients aborting mid-stream leave no zlib stream or handle behind', async (t) => {
  const count = 1000
  // Every zlib stream Node makes, and every one closed (its native memory freed) before GC.
  const zlibBase = Object.getPrototypeOf(Object.getPrototypeOf(zlib.Gzip.prototype)) as {
    _destroy: (...a: unknown[]) => unknown
  }
  t.ok(Object.hasOwn(zlibBase, '_destroy'), "found the zlib streams' _destroy")
  const destroy = zlibBase._destroy
  let closed = 0
  zlibBase._destroy = function countedDestroy(this: { _handle: unknown }, ...args: unknown[]) {
    if (this._handle) closed++
    return destroy.apply(this, args)
  }
  t.teardown(() => {
    zlibBase._destroy = destroy
  })
  let created = 0
  const hook = createHook({
    init(_id, type) {
      if (type === 'ZLIB') created++
    },
  }).enable()
  t.teardown(() => {
    hook.disable()
  })

  let aborted = 0
  let allAborted!: () => void
  const done = new Promise<void>((ok) => {
    allAborted = ok
  })
  const baseline = activeResourcesBesidesSockets()
  const url = await serve(
    t,
    compose(compression())((_req, res) => {
      onResponseEnd(res, (info) => {
        if (info.outcome === 'aborted' && ++aborted === count) allAborted()
      })
      res.setHeader('content-type', 'text/plain')
      res.write(text)
      flushResponse(res) // the client hears from the server at once, then aborts
      let n = 0
      const tick = () => {
        if (res.destroyed) return
        res.write(`line ${n++}\n`)
        setTimeout(tick, 5)
      }
      tick()
    }),
  )
  const encodings = ['gzip', 'br', 'deflate']
  for (let batch = 0; batch < count; batch += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const socket = await openSocket(url)
        socket.write(`GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: ${encodings[(batch + i) % 3]}\r\n\r\n`)
        await new Promise((ok) => socket.once('data', ok))
        socket.destroy()
      }),
    )
  }
  await done
  await new Promise((ok) => setTimeout(ok, 50))
  t.equal(created, count, 'one zlib handle per response')
  t.equal(closed, count, 'every zlib handle closed at once, not left to the garbage collector')
  t.same(activeResourcesBesidesSockets(), baseline, 'process.getActiveResourcesInfo() back to baseline')
})

t.test('compression(): BREACH jitter pads gzip and br by a random length, and clients still decode', async (t) => {
  const url = await serve(
    t,
    compose(compression({ jitter: 64 }))((_req, res) => {
      res.setHeader('content-type', 'text/html')
      res.end(text)
    }),
  )
  for (const encoding of ['gzip', 'br']) {
    const lengths = new Set<number>()
    for (let i = 0; i < 30; i++) {
      const res = await get(url, encoding)
      t.equal(res.headers['content-encoding'], encoding)
      if (decoded(res).toString() !== text) t.fail('decoded body differs')
      lengths.add(res.body.length)
    }
    t.ok(lengths.size > 5, `${encoding}: ${lengths.size} distinct lengths in 30 responses`)
    t.ok(Math.max(...lengths) - Math.min(...lengths) <= 64, 'padding stays within jitter')
  }
  t.equal((await get(url, 'deflate')).headers['content-encoding'], undefined, 'deflate cannot carry padding')
  const viaFetch = await fetch(url)
  t.equal(await viaFetch.text(), text)
})

t.test('compression(): curl --compressed decodes it', async (t) => {
  const curl = requireProgram(t, 'curl', 'the curl --compressed test')
  if (!curl) return
  const url = await serve(t, textHandler(text))
  const run = (args: string[]) =>
    new Promise<{ out: string; err: string }>((ok, fail) => {
      const child = spawn(curl, args)
      let out = ''
      let err = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString()
      })
      child.on('error', fail)
      child.on('close', () => ok({ out, err }))
    })
  const { out, err } = await run(['-sS', '--compressed', '-v', url])
  t.equal(out, text)
  t.match(err, /< content-encoding: (br|gzip|zstd|deflate)/i)
  const gzip = await run(['-sS', '--compressed', '-v', '-H', 'Accept-Encoding: gzip', url])
  t.equal(gzip.out, text)
  t.match(gzip.err, /< content-encoding: gzip/i)
})

t.test('compression(): Chromium decodes it', async (t) => {
  const browser = await launchBrowser(t)
  if (!browser) return
  const json = JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}` })) })
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      if (req.url === '/') {
        res.setHeader('content-type', 'text/html')
        res.end('<!doctype html><title>t</title>')
        return
      }
      res.setHeader('content-type', 'application/json')
      res.setHeader('x-seen-accept-encoding', req.headers['accept-encoding'] ?? '')
      res.end(json)
    }),
  )
  const page = await browser.newPage()
  await page.goto(url)
  const result = await page.evaluate(async () => {
    const res = await fetch('/data')
    return {
      text: await res.text(),
      encoding: res.headers.get('content-encoding'),
      asked: res.headers.get('x-seen-accept-encoding'),
    }
  })
  t.equal(result.text, json)
  t.match(result.asked, /br/)
  t.equal(result.encoding, 'br')
  await page.close()
})

t.test(
  'compression(): pipelined Expect: 100-continue requests get their 100 Continue strictly before the final status line',
  async (t) => {
    // Node 20 puts the head of a queued response in front of its buffered 100 Continue when
    // the first body chunk is a Buffer, which compression's output and its held-back bodies
    // always are; the core sends the head after it instead.
    let answered = 0
    const url = await serve(
      t,
      compose(compression({ encodings: ['gzip'] }))((req, res) => {
        res.setHeader('content-type', 'text/plain')
        if (req.url === '/slow') {
          const wait = setInterval(() => {
            if (answered === 3) {
              clearInterval(wait)
              res.end('slow')
            }
          }, 1)
          return
        }
        req.resume()
        req.on('end', () => {
          if (req.url === '/small') res.end('held back, then sent as is')
          else if (req.url === '/big') res.end(text)
          else {
            res.write(text)
            res.end(text)
          }
          answered++
        })
      }),
    )
    const uploads = ['/small', '/big', '/streamed']
    const request =
      'GET /slow HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n' +
      uploads
        .map(
          (path, i) =>
            `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nAccept-Encoding: gzip\r\nContent-Length: 4\r\n` +
            `${i === uploads.length - 1 ? 'Connection: close\r\n' : ''}\r\ndata`,
        )
        .join('')
    const socket = await openSocket(url)
    const parts: Buffer[] = []
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.write(request)
    await new Promise((ok) => socket.once('close', ok))
    const raw = Buffer.concat(parts).toString('latin1')
    const lines = [...raw.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n/g)]
    t.same(
      lines.map((m) => m[1]),
      ['200', '100', '200', '100', '200', '100', '200'],
      'each upload: 100 Continue, then its answer',
    )
    for (const m of lines.filter((m) => m[1] === '100')) {
      t.equal(
        raw.slice(m.index, m.index! + 25),
        'HTTP/1.1 100 Continue\r\n\r\n',
        'a complete interim response, directly followed by the final status line',
      )
      t.match(raw.slice(m.index! + 25, m.index! + 34), /^HTTP\/1\.1/)
    }
    t.match(raw, /Content-Encoding: gzip/i, 'the big ones were compressed')
  },
)

t.test('compression(): works under Express res.json and res.send', async (t) => {
  const app = express()
  const layer = compression()
  app.use((req, res, next) => {
    void layer(() => next())(req, res)
  })
  app.get('/json', (_req, res) => {
    res.json({ text })
  })
  app.get('/send', (_req, res) => {
    res.type('html').send(text)
  })
  const url = await serve(t, (req, res) => {
    app(req as never, res as never)
  })
  const json = await get(`${url}/json`, 'br')
  t.equal(json.headers['content-encoding'], 'br')
  t.same(JSON.parse(decoded(json).toString()), { text })
  const html = await get(`${url}/send`, 'gzip')
  t.equal(html.headers['content-encoding'], 'gzip')
  t.equal(html.headers.etag?.startsWith('W/'), true, 'Express ETag made weak')
  t.equal(decoded(html).toString(), text)
})

t.test(
  'compression(): zstd end to end: offered by default, negotiated, streamed, flushed and decoded',
  {
    skip: zstdSupported
      ? false
      : `Node ${process.versions.node} has no zlib.createZstdCompress (Node 22.15 and 23.8 do)`,
  },
  async (t) => {
    t.same(compressionDefaults.encodings, ['br', 'zstd', 'gzip', 'deflate'])
    const url = await serve(t, textHandler(text))
    const res = await get(url, 'zstd, gzip;q=0.5')
    t.equal(res.headers['content-encoding'], 'zstd')
    t.equal(decoded(res).toString(), text)
    t.equal((await get(url, 'gzip, zstd')).headers['content-encoding'], 'zstd', 'zstd before gzip in the default order')
    t.doesNotThrow(() => compression({ encodings: ['zstd'], zstdLevel: 19 }))
    // A stream of unknown length, flushed mid-way: the first part decodes before the end.
    let release!: () => void
    const streamed = await serve(
      t,
      compose(compression({ encodings: ['zstd'] }))(async (_req, res) => {
        res.setHeader('content-type', 'text/html')
        res.write(`<p>${'first part '.repeat(200)}</p>`)
        flushResponse(res)
        await new Promise<void>((ok) => {
          release = ok
        })
        res.end('<p>last</p>')
      }),
    )
    const whole = await new Promise<string>((ok, fail) => {
      request(streamed, { headers: { 'accept-encoding': 'zstd' } }, (res) => {
        const decoder = streamDecoders.zstd!()
        let seen = ''
        decoder.on('data', (d: Buffer) => {
          seen += d.toString()
          if (seen.endsWith('</p>') && !seen.includes('last')) release()
        })
        decoder.on('end', () => ok(seen))
        decoder.on('error', fail)
        res.pipe(decoder)
      })
        .on('error', fail)
        .end()
    })
    t.match(whole, /^<p>first part .*<p>last<\/p>$/s)
  },
)

t.test('compression(): explain() shows the configuration', async (t) => {
  const stack = compose(compression({ threshold: 2048 }))
  t.match(stack.explain(), /compression.*br, .*gzip, deflate; threshold 2048 B; br q4, gzip 6/)
})

t.test('compression(): config: rejects bad options with the fix', async (t) => {
  const rules: Array<[object, RegExp]> = [
    [{ treshold: 10 }, /^compression\(\): unknown option "treshold"; did you mean "threshold"\?$/],
    [{ threshold: -1 }, /option "threshold" must be an integer from 0 to 16777216; received -1 \(number\)/],
    [{ threshold: 1.5 }, /option "threshold" must be an integer/],
    [
      { brotliQuality: 11 },
      /option "brotliQuality" must be an integer from 0 to 9; received 11 \(number\)\. Quality 10 and 11/,
    ],
    [
      { gzipLevel: 0 },
      /option "gzipLevel" must be an integer from 1 to 9; received 0 \(number\)\. zlib levels run from 1 \(fastest\) to 9 \(smallest\).*leave gzip out of encodings/,
    ],
    [{ gzipLevel: 10 }, /option "gzipLevel" must be an integer from 1 to 9; received 10 \(number\)\. zlib levels run/],
    [
      { zstdLevel: 20 },
      /option "zstdLevel" must be an integer from 1 to 19; received 20 \(number\)\. Levels above 19 need zstd's ultra mode/,
    ],
    [{ jitter: 300 }, /option "jitter" must be an integer from 0 to 256/],
    [{ eventStream: 'buffer' }, /option "eventStream" must be one of "flush", "skip"; received "buffer"/],
    [{ notAcceptable: 406 }, /option "notAcceptable" must be one of "identity", "refuse"; received 406 \(number\)/],
    [{ encodings: [] }, /option "encodings" must be a non-empty list/],
    [{ encodings: 'gzip' }, /option "encodings" must be an array/],
    [{ encodings: ['gzip', 'gzip'] }, /option "encodings" must be a list without repeats/],
    [{ encodings: ['lzma'] }, /option "encodings" must be one of "br", "zstd", "gzip", "deflate"; received "lzma"/],
    [
      { encodings: ['gzip', 'deflate'], jitter: 16 },
      /option "jitter" must be 0 when offering codings that cannot carry padding; received 16 \(number\)\. Remove "deflate"/,
    ],
    [{ types: ['json'] }, /option "types" must be patterns such as/],
    [{ types: [/json/] }, /option "types" must be .*anchored RegExp.*Anchor the expression/],
    [{ types: [/^a\/b$/g] }, /option "types" must be .*without g or y/],
    [{ types: 'text/*' }, /option "types" must be an array/],
  ]
  if (!zstdSupported)
    rules.push([
      { encodings: ['zstd', 'gzip'] },
      /option "encodings" must be codings this Node can produce; .*remove "zstd"/,
    ])
  for (const [options, message] of rules) {
    t.throws(() => compression(options as never), { name: 'ConfigError', message }, JSON.stringify(options))
  }
  t.doesNotThrow(() => compression({ jitter: 16 }), 'the default list drops what cannot be padded')
  t.doesNotThrow(() => compression({ types: (type) => type.startsWith('text/') }))
})

t.test('compression(): over HTTP/2 (compatibility API), each coding and the threshold', async (t) => {
  const { h2Request, serveH2 } = await import('../../helpers/h2.js')
  const url = await serveH2(
    t,
    compose(compression())((req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.end(req.url === '/small' ? 'small' : text)
    }),
  )
  for (const encoding of offered) {
    const res = await h2Request(url, { 'accept-encoding': encoding })
    t.equal(res.headers['content-encoding'], encoding)
    t.equal(res.headers.vary, 'Accept-Encoding')
    t.equal(decoders[encoding]!(res.body).toString(), text)
  }
  const small = await h2Request(`${url}/small`, { 'accept-encoding': 'gzip' })
  t.equal(small.headers['content-encoding'], undefined)
  t.equal(small.headers['content-length'], '5')
  t.equal(small.text, 'small')
})

t.test('compression(): an after-hook inside is seen when deciding; the order is checked', async (t) => {
  const { hooks } = await import('../../../lib/index.js')
  const noTransform = hooks({
    after: (_req, res) => {
      res.setHeader('cache-control', 'no-transform')
    },
  })
  const inside = await serve(
    t,
    compose(
      compression(),
      noTransform,
    )((_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.end(text)
    }),
  )
  t.equal((await get(inside, 'gzip')).headers['content-encoding'], undefined, "the hook's no-transform was seen")
  t.throws(() => compose({ strict: true }, noTransform, compression()), {
    name: 'OrderingError',
    message: /compression.*hooks/,
  })
  t.match(compose(compression(), noTransform).explain(), /ok\s+compression wraps hooks/)
})

t.test(
  'compression(): a body handed over whole goes out compressed in one piece with its Content-Length, each coding',
  async (t) => {
    const { rawRequest } = await import('../../helpers/raw.js')
    const large = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}` })))
    const url = await serve(
      t,
      compose(compression())((req, res) => {
        res.setHeader('content-type', 'application/json')
        if (req.url === '/parts') {
          res.write(large.slice(0, 100))
          res.end(large.slice(100))
        } else res.end(req.url === '/large' ? large : text)
      }),
    )
    for (const encoding of ['gzip', 'br', 'deflate']) {
      for (const [path, body] of [
        ['/', text],
        ['/large', large],
        ['/parts', large],
      ] as const) {
        const res = await rawRequest(url, 'GET', path, [['Accept-Encoding', encoding]])
        t.equal(res.headers['content-encoding'], encoding, `${encoding} ${path}`)
        t.equal(res.headers['transfer-encoding'], undefined, 'no chunked framing')
        t.equal(res.headers['content-length'], String(res.body.length), 'Content-Length is the compressed length')
        t.ok(res.body.length < body.length / 3)
        t.equal(decoders[encoding]!(res.body).toString(), body)
      }
    }
  },
)

t.test(
  'compression(): many whole bodies at once, on reused encoders, each reach their own client intact',
  async (t) => {
    const { rawRequest } = await import('../../helpers/raw.js')
    // Each request gets a body of its own, sized across the length tiers (≤ 1, 4, 16, 64 KiB
    // and above), so an encoder handing one body's output to another response would show.
    const bodyFor = (n: number) =>
      `{"request":${n},"items":[${Array.from({ length: [40, 150, 600, 2400, 9000][n % 5]! }, (_, i) => `"${n}-${i}"`).join(',')}]}`
    const url = await serve(
      t,
      compose(compression({ threshold: 256 }))((req, res) => {
        res.setHeader('content-type', 'application/json')
        res.end(bodyFor(Number(req.url!.slice(1))))
      }),
    )
    for (const encoding of ['gzip', 'deflate']) {
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, n) => rawRequest(url, 'GET', `/${n}`, [['Accept-Encoding', encoding]])),
      )
      for (const [n, res] of answers.entries()) {
        t.equal(res.headers['content-encoding'], encoding)
        t.equal(res.headers['content-length'], String(res.body.length))
        t.equal(decoders[encoding]!(res.body).toString(), bodyFor(n), `${encoding} /${n}`)
      }
    }
  },
)

t.test('compression(): clients aborting while a whole body is compressed leave no error and no handle', async (t) => {
  const count = 100
  const outcomes: string[] = []
  const errors: unknown[] = []
  const baseline = activeResourcesBesidesSockets()
  const large = Buffer.from('abcdefghij'.repeat(20_000)) // 200 KB: the compression takes a while
  const handed = new Set<string>()
  const url = await serve(
    t,
    compose(compression())((req, res) => {
      res.on('error', (err) => errors.push(err))
      onResponseEnd(res, (info) => outcomes.push(info.outcome))
      res.setHeader('content-type', 'text/plain')
      res.end(large)
      handed.add(req.url!)
    }),
  )
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const socket = await openSocket(url)
      socket.on('error', () => undefined)
      socket.write(`GET /${i} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n`)
      // Gone as soon as the body is handed over, while it is being compressed.
      await until(() => handed.has(`/${i}`))
      socket.destroy()
    }),
  )
  await until(() => outcomes.length === count)
  await until(() => activeResourcesBesidesSockets().join() === baseline.join())
  t.same(errors, [])
  t.ok(
    outcomes.every((o) => o === 'aborted' || o === 'finished'),
    'each exchange ended once',
  )
  t.same(activeResourcesBesidesSockets(), baseline, 'process.getActiveResourcesInfo() back to baseline')
})
