import { createHash } from 'node:crypto'
import { request } from 'node:http'
import { PassThrough, Transform } from 'node:stream'
import { createGunzip, createGzip, gunzipSync } from 'node:zlib'
import express from 'express'
import t from 'tap'
import type { RawHandler } from '../../lib/index.js'
import {
  onResponseEnd,
  responseStarted,
  transformBody,
  type BodyInfo,
  type WholeBodyCallback,
  type WholeBodyTransform,
} from '../../lib/core.js'
import { httpRequest } from '../helpers/http.js'
import { serve } from '../helpers/serve.js'
import { openSocket, parseRawResponse, rawExchange, rawGet } from '../helpers/raw.js'
import { until } from '../helpers/wait.js'

const get = (url: string, method = 'GET') =>
  rawExchange(url, `${method} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(parseRawResponse)

const upper = () =>
  new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, chunk.toString().toUpperCase())
    },
  })

t.test(
  'transformBody(): a body that ends within holdBack is decided on whole and sent with an exact Content-Length',
  async (t) => {
    const seen: BodyInfo[] = []
    const res = await get(
      await serve(t, (_q, res) => {
        transformBody(
          res,
          (_res, body) => {
            seen.push(body)
            return null
          },
          { holdBack: 1024 },
        )
        res.write('hello ')
        res.end('world')
      }),
    )
    t.same(seen, [{ length: 11, ended: true, hasBody: true }])
    t.equal(res.headers['content-length'], '11')
    t.equal(res.headers['transfer-encoding'], undefined)
    t.equal(res.body.toString(), 'hello world')
  },
)

t.test(
  'transformBody(): a body given whole goes out transformed in one socket write; past the limit it streams',
  async (t) => {
    // Counts the writes that reach the connection: corked pieces arrive as one _writev.
    const writes: number[] = []
    const counting = (socket: import('node:net').Socket): number => {
      const at = writes.push(0) - 1
      const { _write, _writev } = socket as unknown as Record<string, (...args: unknown[]) => void>
      Object.assign(socket, {
        _write(...args: unknown[]) {
          writes[at]!++
          return _write!.apply(socket, args)
        },
        _writev(...args: unknown[]) {
          writes[at]!++
          return _writev!.apply(socket, args)
        },
      })
      return at
    }
    // Output in several chunks (a transform that splits), none of them written before the end.
    const pieces = () =>
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          for (let at = 0; at < chunk.length; at += 1000) this.push(chunk.subarray(at, at + 1000))
          done()
        },
      })
    const url = await serve(t, (req, res) => {
      counting(req.socket)
      transformBody(res, () => pieces(), { holdBack: 1024 })
      res.setHeader('content-type', 'text/plain')
      res.end(Buffer.alloc(req.url === '/large' ? 300 * 1024 : 5000, 'a'))
    })
    const small = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').then(
      parseRawResponse,
    )
    t.equal(small.body.toString(), 'a'.repeat(5000))
    t.equal(small.headers['transfer-encoding'], 'chunked')
    t.equal(writes[0], 1, 'headers, five output chunks and the end: one write')
    const large = await rawExchange(url, 'GET /large HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').then(
      parseRawResponse,
    )
    t.equal(large.body.length, 300 * 1024, 'past 256 KiB of output the rest streams, in order')
    t.ok(large.body.every((byte) => byte === 0x61))
    t.ok(writes[1]! > 1, `streamed in ${writes[1]} writes`)
  },
)

t.test('transformBody(): a body past holdBack is decided on without a length, then transformed', async (t) => {
  const seen: BodyInfo[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push(body)
          return upper()
        },
        { holdBack: 8 },
      )
      res.write('abcd')
      res.write('efghij')
      res.end('klm')
    }),
  )
  t.same(seen, [{ length: undefined, ended: false, hasBody: true }])
  t.equal(res.body.toString(), 'ABCDEFGHIJKLM')
  t.equal(res.headers['transfer-encoding'], 'chunked')
})

t.test('transformBody(): with Content-Length set, decides at once and removes it when transforming', async (t) => {
  const seen: BodyInfo[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push(body)
          return upper()
        },
        { holdBack: 1024 },
      )
      res.setHeader('content-length', '5')
      res.write('ab')
      res.end('cde')
    }),
  )
  t.same(seen, [{ length: 5, ended: false, hasBody: true }])
  t.equal(res.headers['content-length'], undefined)
  t.equal(res.body.toString(), 'ABCDE')
})

t.test('transformBody(): an empty end() is decided with length 0', async (t) => {
  const seen: BodyInfo[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, (_res, body) => {
        seen.push(body)
        return null
      })
      res.end()
    }),
  )
  t.same(seen, [{ length: 0, ended: true, hasBody: true }])
  t.equal(res.headers['content-length'], '0')
})

for (const [name, status, method] of [
  ['HEAD', 200, 'HEAD'],
  ['204', 204, 'GET'],
  ['304', 304, 'GET'],
] as const) {
  t.test(`transformBody(): a ${name} response is decided on as bodiless and never transformed`, async (t) => {
    const seen: BodyInfo[] = []
    let destroyed = false
    const res = await get(
      await serve(t, (_q, res) => {
        transformBody(res, (res, body) => {
          seen.push(body)
          res.setHeader('x-decided', 'yes')
          const stream = upper()
          stream.on('close', () => {
            destroyed = true
          })
          return stream
        })
        res.statusCode = status
        res.end()
      }),
      method,
    )
    t.equal(seen[0]!.hasBody, false)
    t.equal(res.status, status)
    t.equal(res.headers['x-decided'], 'yes')
    t.equal(res.body.length, 0)
    await new Promise((ok) => setImmediate(ok))
    t.equal(destroyed, true)
  })
}

t.test('transformBody(): writeHead(status, headers) decides at that moment', async (t) => {
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (res) => {
          res.setHeader('x-transformed', '1')
          return upper()
        },
        { holdBack: 1024 },
      )
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' })
      res.end('abc')
    }),
  )
  t.equal(res.headers['x-transformed'], '1')
  t.equal(res.headers['content-length'], undefined)
  t.equal(res.body.toString(), 'ABC')
})

t.test('transformBody(): gzip round trip with the client decoding it', async (t) => {
  const body = 'lorem ipsum '.repeat(5000)
  const url = await serve(t, (_q, res) => {
    transformBody(
      res,
      (res) => {
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      },
      { holdBack: 1024 },
    )
    for (let i = 0; i < body.length; i += 777) res.write(body.slice(i, i + 777))
    res.end()
  })
  const res = await get(url)
  t.equal(res.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(res.body).toString(), body)
})

t.test('transformBody(): a slow reader gets every byte in order; write returns false and drain comes', async (t) => {
  const chunk = Buffer.alloc(64 * 1024)
  const total = 200
  const stats = { falses: 0, drains: 0 }
  const sent = createHash('sha256')
  const url = await serve(t, (_q, res) => {
    transformBody(res, () => new PassThrough())
    let i = 0
    res.on('drain', () => {
      stats.drains++
      pump()
    })
    const pump = () => {
      while (i < total) {
        chunk.fill(i % 251)
        sent.update(chunk)
        i++
        if (!res.write(Buffer.from(chunk))) {
          stats.falses++
          return
        }
      }
      res.end()
    }
    pump()
  })
  const socket = await openSocket(url)
  socket.pause()
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  // Let the server fill every buffer before reading a byte.
  await new Promise((ok) => setTimeout(ok, 100))
  const parts: Buffer[] = []
  socket.on('data', (data: Buffer) => parts.push(data))
  socket.resume()
  await new Promise((ok) => socket.on('close', ok))
  const res = parseRawResponse(Buffer.concat(parts))
  t.equal(res.body.length, total * chunk.length)
  t.equal(createHash('sha256').update(res.body).digest('hex'), sent.digest('hex'))
  t.ok(stats.falses > 0, `write returned false ${stats.falses} times`)
  t.equal(stats.drains, stats.falses, 'one drain per false')
})

t.test("transformBody(): the connection's own drain resumes the stream, never the handler", async (t) => {
  // A stream that never fills (huge high-water mark): the handler's writes always succeed,
  // while the socket does fill. The handler must then hear no drain at all.
  let handlerDrains = 0
  let falses = 0
  const url = await serve(t, (_q, res) => {
    transformBody(res, () => new PassThrough({ highWaterMark: 64 * 1024 * 1024 }))
    res.on('drain', () => {
      handlerDrains++
    })
    const big = Buffer.alloc(1024 * 1024, 97)
    for (let i = 0; i < 8; i++) if (!res.write(big)) falses++
    res.end()
  })
  const socket = await openSocket(url)
  socket.pause()
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await new Promise((ok) => setTimeout(ok, 50))
  let bytes = 0
  socket.on('data', (d: Buffer) => {
    bytes += d.length
  })
  socket.resume()
  await new Promise((ok) => socket.on('close', ok))
  t.ok(bytes > 8 * 1024 * 1024)
  t.equal(falses, 0)
  t.equal(handlerDrains, 0)
})

t.test('transformBody(): end(chunk, callback) calls back once the response finished', async (t) => {
  for (const transform of [true, false]) {
    let finishedFirst: boolean | undefined
    let resolve!: () => void
    const called = new Promise<void>((ok) => {
      resolve = ok
    })
    const url = await serve(t, (_q, res) => {
      let finished = false
      res.on('finish', () => {
        finished = true
      })
      transformBody(res, () => (transform ? upper() : null))
      res.write('a')
      res.end('b', () => {
        finishedFirst = finished
        resolve()
      })
    })
    const res = await get(url)
    await called
    t.equal(res.body.toString(), transform ? 'AB' : 'ab')
    t.equal(finishedFirst, true, `transform=${transform}`)
  }
})

t.test("transformBody(): res.flush() pushes a gzip stream's pending output out before the end", async (t) => {
  let release!: () => void
  const released = new Promise<void>((ok) => {
    release = ok
  })
  const url = await serve(t, async (_q, res) => {
    transformBody(res, () => createGzip())
    res.setHeader('content-type', 'text/event-stream')
    res.write('data: first\n\n')
    ;(res as unknown as { flush(): void }).flush()
    await released
    res.end('data: last\n\n')
  })
  const firstEvent = await new Promise<string>((ok, fail) => {
    request(url, (res) => {
      const gunzip = createGunzip()
      let text = ''
      gunzip.on('data', (d: Buffer) => {
        text += d.toString()
        if (text.includes('first') && !text.includes('last')) ok(text)
      })
      gunzip.on('error', fail)
      res.pipe(gunzip)
    }).end()
  })
  release()
  t.equal(firstEvent, 'data: first\n\n')
})

t.test('transformBody(): a client abort destroys the stream, for many aborted responses', async (t) => {
  const count = 100
  let created = 0
  let destroyed = 0
  let aborted = 0
  let allAborted!: () => void
  const done = new Promise<void>((ok) => {
    allAborted = ok
  })
  const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TCPSocketWrap' && r !== 'Timeout').length
  const url = await serve(t, (_q, res) => {
    transformBody(res, () => {
      created++
      const gzip = createGzip()
      gzip.on('close', () => {
        destroyed++
      })
      return gzip
    })
    onResponseEnd(res, (info) => {
      if (info.outcome === 'aborted' && ++aborted === count) allAborted()
    })
    const tick = () => {
      if (res.destroyed) return
      res.write(Buffer.alloc(16 * 1024, 1))
      setTimeout(tick, 1)
    }
    tick()
  })
  await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = await openSocket(url)
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await new Promise((ok) => socket.once('data', ok))
      socket.destroy()
    }),
  )
  await done
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(created, count)
  t.equal(destroyed, count)
  const after = process.getActiveResourcesInfo().filter((r) => r !== 'TCPSocketWrap' && r !== 'Timeout').length
  t.equal(after, baseline, 'no handles left behind')
})

t.test('transformBody(): a pipelined response cut while still queued destroys its stream', async (t) => {
  const streams: Transform[] = []
  const url = await serve(t, (req, res) => {
    transformBody(res, () => {
      const gzip = createGzip()
      streams.push(gzip)
      return gzip
    })
    // Streams still being written: the first on the connection, the others into Node's
    // queue behind it.
    res.write(`the start of ${req.url}`)
  })
  const socket = await openSocket(url)
  socket.write(['/0', '/1', '/2', '/3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''))
  await until(() => streams.length === 4)
  socket.resetAndDestroy()
  await until(() => streams.length === 4 && streams.every((s) => s.destroyed))
  t.equal(streams.length, 4)
  t.same(
    streams.map((s) => s.destroyed),
    [true, true, true, true],
    'Node never emits close on the queued responses; the end of the exchange still comes',
  )
})

t.test('transformBody(): two routes on one response apply the inner transform first', async (t) => {
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, (res) => {
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      })
      transformBody(res, () => upper())
      res.write('abc')
      res.end('def')
    }),
  )
  t.equal(gunzipSync(res.body).toString(), 'ABCDEF')
})

t.test('transformBody(): an inner passthrough does not undo an outer transform', async (t) => {
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => upper())
      transformBody(res, () => null)
      res.end('abc')
    }),
  )
  t.equal(res.body.toString(), 'ABC')
})

t.test(
  'transformBody(): a decider that throws surfaces from the write, and the response can still answer',
  async (t) => {
    let thrown: unknown
    const res = await get(
      await serve(t, (_q, res) => {
        transformBody(res, () => {
          throw new Error('cannot decide')
        })
        try {
          res.end('body')
        } catch (err) {
          thrown = err
          res.statusCode = 500
          res.end('fallback')
        }
      }),
    )
    t.match(thrown, { message: 'cannot decide' })
    t.equal(res.status, 500)
    t.equal(res.body.toString(), 'fallback')
  },
)

t.test('transformBody(): a transform that fails destroys the response', async (t) => {
  let outcome: string | undefined
  let resolve!: () => void
  const ended = new Promise<void>((ok) => {
    resolve = ok
  })
  const url = await serve(t, (_q, res) => {
    onResponseEnd(res, (info) => {
      outcome = info.outcome
      resolve()
    })
    transformBody(
      res,
      () =>
        new Transform({
          transform(_c, _e, done) {
            done(new Error('transform broke'))
          },
        }),
    )
    res.write('abc')
  })
  await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await ended
  t.equal(outcome, 'error')
})

t.test('transformBody(): write after end calls back with an error and does not crash', async (t) => {
  let error: unknown
  let returned: boolean | undefined
  let resolve!: () => void
  const called = new Promise<void>((ok) => {
    resolve = ok
  })
  await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => upper())
      res.end('a')
      returned = res.write('b', (err) => {
        error = err
        resolve()
      })
    }),
  )
  await called
  t.equal(returned, false)
  t.match(error, { code: 'ERR_STREAM_WRITE_AFTER_END' })
})

t.test('transformBody(): returns false once headers are sent', async (t) => {
  let result: boolean | undefined
  await get(
    await serve(t, (_q, res) => {
      res.flushHeaders()
      result = transformBody(res, () => upper())
      res.end('x')
    }),
  )
  t.equal(result, false)
})

t.test('transformBody(): bytes held when headers are flushed by hand go out right after them', async (t) => {
  let release!: () => void
  const released = new Promise<void>((ok) => {
    release = ok
  })
  const url = await serve(t, async (_q, res) => {
    transformBody(res, () => null, { holdBack: 1024 })
    res.write('early')
    res.flushHeaders()
    await released
    res.end()
  })
  const text = await new Promise<string>((ok) => {
    request(url, (res) => res.once('data', (d: Buffer) => ok(d.toString()))).end()
  })
  release()
  t.equal(text, 'early')
})

t.test('transformBody(): a holdBack function is asked at the first write', async (t) => {
  const seen: BodyInfo[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push(body)
          return null
        },
        {
          holdBack: (res) => (res.getHeader('content-type') === 'text/event-stream' ? 0 : 1024),
        },
      )
      res.setHeader('content-type', 'text/event-stream')
      res.write('data: 1\n\n')
      res.end()
    }),
  )
  t.same(seen, [{ length: undefined, ended: false, hasBody: true }])
  t.equal(res.body.toString(), 'data: 1\n\n')
})

t.test('transformBody(): works with Express res.send and res.json', async (t) => {
  const app = express()
  app.use((_req, res, next) => {
    transformBody(
      res,
      (res) => {
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      },
      { holdBack: 16 },
    )
    next()
  })
  app.get('/', (_req, res) => {
    res.json({ message: 'x'.repeat(100) })
  })
  const handler: RawHandler = (req, res) => {
    app(req as never, res as never)
  }
  const res = await get(await serve(t, handler))
  t.equal(res.headers['content-encoding'], 'gzip')
  t.same(JSON.parse(gunzipSync(res.body).toString()), { message: 'x'.repeat(100) })
})

t.test('transformBody(): flush() before any write sends the headers and decides', async (t) => {
  const seen: BodyInfo[] = []
  let headersSentAfterFlush: boolean | undefined
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push(body)
          return upper()
        },
        { holdBack: 1024 },
      )
      ;(res as unknown as { flush(): void }).flush()
      headersSentAfterFlush = res.headersSent
      res.end('abc')
      ;(res as unknown as { flush(): void }).flush() // after end: nothing to do
    }),
  )
  t.equal(headersSentAfterFlush, true)
  t.same(seen, [{ length: undefined, ended: false, hasBody: true }])
  t.equal(res.body.toString(), 'ABC')
})

t.test('transformBody(): typed-array chunks are held and counted by bytes', async (t) => {
  const seen: BodyInfo[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push(body)
          return null
        },
        { holdBack: 1024 },
      )
      res.write(new Uint8Array([104, 105]))
      res.end('é', 'utf8')
    }),
  )
  t.same(seen, [{ length: 4, ended: true, hasBody: true }])
  t.equal(res.body.toString(), 'hié')
})

t.test(
  'transformBody(): a short string given to end() goes out as given, in its encoding, with its length in bytes',
  async (t) => {
    const seen: Array<{ length: number | undefined; whole: string | undefined }> = []
    const bodies: Record<string, [string, BufferEncoding | undefined]> = {
      '/utf8': ['naïve ✓ 😀', undefined],
      '/hex': ['68c3a96c6c6f', 'hex'],
      '/latin1': ['caf\xe9', 'latin1'],
      '/base64': [Buffer.from('é-ok').toString('base64'), 'base64'],
      '/upper': ['hé', 'utf8'],
    }
    const url = await serve(t, (req, res) => {
      transformBody(
        res,
        (_res, body) => {
          seen.push({ length: body.length, whole: body.whole()?.toString('hex') })
          return req.url === '/upper' ? upper() : null
        },
        { holdBack: 1024 },
      )
      const [text, encoding] = bodies[req.url!]!
      if (encoding === undefined) res.end(text)
      else res.end(text, encoding)
    })
    const expected: Record<string, Buffer> = {
      '/utf8': Buffer.from('naïve ✓ 😀'),
      '/hex': Buffer.from('héllo'),
      '/latin1': Buffer.from([0x63, 0x61, 0x66, 0xe9]),
      '/base64': Buffer.from('é-ok'),
    }
    for (const [path, bytes] of Object.entries(expected)) {
      seen.length = 0
      const res = await rawExchange(url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(
        parseRawResponse,
      )
      t.same(res.body, bytes, `${path}: the bytes of the string in its encoding`)
      t.equal(res.headers['content-length'], String(bytes.length), `${path}: Content-Length counts bytes`)
      t.same(
        seen,
        [{ length: bytes.length, whole: bytes.toString('hex') }],
        `${path}: the decider sees its length in bytes and its bytes`,
      )
    }
    const transformed = await rawExchange(url, 'GET /upper HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').then(
      parseRawResponse,
    )
    t.equal(transformed.body.toString(), 'HÉ', 'a kept string is transformed as its bytes')
  },
)

t.test(
  'transformBody(): a short string body that passes through goes out with its head in one socket write',
  async (t) => {
    const writes: Record<string, number> = {}
    const url = await serve(t, (req, res) => {
      const socket = res.socket!
      const write = socket.write
      let count = 0
      socket.write = function (this: typeof socket, ...args: unknown[]) {
        // Node's end() finishes with an empty write of its own: only writes that carry bytes count.
        if ((args[0] as string | Uint8Array).length > 0) count++
        return (write as (...a: unknown[]) => boolean).apply(this, args)
      } as typeof socket.write
      res.on('finish', () => {
        writes[req.url!] = count
        socket.write = write
      })
      transformBody(res, () => null, { holdBack: 1024 })
      res.setHeader('content-type', 'text/plain')
      // The control: a Buffer body, which Node sends after the head as a write of its own.
      res.end(req.url === '/buffer' ? Buffer.from('hello, world') : 'hello, world')
    })
    for (const path of ['/string', '/buffer']) {
      const res = await rawExchange(url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(
        parseRawResponse,
      )
      t.equal(res.body.toString(), 'hello, world', `${path}: the body`)
    }
    t.same(writes, { '/string': 1, '/buffer': 2 }, 'head and string body in one write; a Buffer body in its own')
  },
)

t.test('transformBody(): end() with an unknown encoding throws before the head goes out, as Node does', async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (_q, res) => {
    transformBody(res, () => null, { holdBack: 1024 })
    try {
      res.end('abc', 'no-such-encoding' as BufferEncoding)
    } catch (err) {
      seen.push(err, res.headersSent)
      res.destroy()
    }
  })
  const bytes = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(seen, [{ code: 'ERR_UNKNOWN_ENCODING' }, false])
  t.equal(bytes.length, 0, 'nothing of the response reached the client')
})

t.test('transformBody(): a second end() waits for the first; end(data) after end is an error', async (t) => {
  const calls: string[] = []
  let resolve!: () => void
  const both = new Promise<void>((ok) => {
    resolve = ok
  })
  await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => upper())
      res.end('a')
      res.end(() => {
        calls.push('second end')
        if (calls.length === 2) resolve()
      })
      res.end('more', (err?: Error | null) => {
        calls.push(`third: ${err && (err as NodeJS.ErrnoException).code}`)
        if (calls.length === 2) resolve()
      })
    }),
  )
  await both
  t.same(calls.sort(), ['second end', 'third: ERR_STREAM_WRITE_AFTER_END'])
})

t.test('transformBody(): an invalid chunk is refused the way Node refuses it', async (t) => {
  const errors: unknown[] = []
  await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => null, { holdBack: 10 })
      try {
        res.write(42 as never)
      } catch (err) {
        errors.push(err)
      }
      try {
        res.end({} as never)
      } catch (err) {
        errors.push(err)
      }
      if (!res.writableEnded) res.end()
    }),
  )
  t.equal(errors.length, 2)
  t.match(errors[0], { code: 'ERR_INVALID_ARG_TYPE' })
})

t.test("transformBody(): an outer passthrough carries an inner transform's output unchanged", async (t) => {
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => null, { holdBack: 4 })
      transformBody(res, () => upper())
      res.write('abc')
      res.end('def')
    }),
  )
  t.equal(res.body.toString(), 'ABCDEF')
})

t.test(
  'transformBody(): discardHeldBody drops a held prefix, so an answer that replaces the body goes out alone',
  async (t) => {
    const { discardHeldBody } = await import('../../lib/core.js')
    const errors: unknown[] = []
    let dropped: number | undefined
    const res = await get(
      await serve(t, (_q, res) => {
        transformBody(res, () => null, { holdBack: 1024 })
        transformBody(res, () => null, { holdBack: 1024 })
        res.write('partial body ', (err) => {
          errors.push(err)
        })
        dropped = discardHeldBody(res)
        res.statusCode = 500
        res.setHeader('content-length', '5')
        res.end('error')
      }),
    )
    await new Promise((ok) => setImmediate(ok))
    t.equal(dropped, 13)
    t.equal(res.status, 500)
    t.equal(res.headers['content-length'], '5')
    t.equal(res.body.toString(), 'error')
    t.match(errors, [{ code: 'ERR_STREAM_DESTROYED' }])
  },
)

t.test('transformBody(): discardHeldBody leaves decided routes alone', async (t) => {
  const { discardHeldBody } = await import('../../lib/core.js')
  let dropped: number | undefined
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, () => upper(), { holdBack: 4 })
      res.write('abcdef')
      dropped = discardHeldBody(res)
      res.end('g')
    }),
  )
  t.equal(dropped, 0)
  t.equal(res.body.toString(), 'ABCDEFG')
})

t.test('transformBody(): whole() gives the decider the bytes of an ended body, nothing while streaming', async (t) => {
  const wholes: Array<string | undefined> = []
  const url = await serve(t, (req, res) => {
    transformBody(
      res,
      (_res, body) => {
        wholes.push(body.whole()?.toString())
        return null
      },
      { holdBack: req.url === '/held' ? 1024 : 0 },
    )
    if (req.url === '/empty') return res.end()
    res.write('hello ')
    res.end('world')
  })
  t.equal((await httpRequest(`${url}/held`)).text, 'hello world')
  t.equal((await httpRequest(`${url}/streamed`)).text, 'hello world')
  await httpRequest(`${url}/empty`)
  t.same(wholes, ['hello world', undefined, ''])
})

t.test('transformBody(): a decider that turns the answer into a 304 gets no Content-Length for it', async (t) => {
  const res = await get(
    await serve(t, (_q, res) => {
      transformBody(res, (res) => {
        res.statusCode = 304
        return upper()
      })
      res.end('whole body')
    }),
  )
  t.equal(res.status, 304)
  t.equal(res.headers['content-length'], undefined)
  t.equal(res.body.length, 0)
})

/** A whole-body transform run by hand: `whole` keeps the body and callback until `finish()`. */
function manualWhole() {
  const calls: Array<{ body: Buffer; done: WholeBodyCallback }> = []
  const streamed: Array<number | undefined> = []
  const transform: WholeBodyTransform = {
    whole(body, done) {
      calls.push({ body, done })
    },
    stream(length) {
      streamed.push(length)
      return upper()
    },
  }
  const finish = (index = 0, err: Error | null = null) => {
    const call = calls[index]!
    call.done(err, Buffer.from(call.body.toString().toUpperCase() + '!'))
  }
  return { transform, calls, streamed, finish }
}

t.test(
  'transformBody(): a whole-body transform sends its result with its Content-Length in one piece, the head held meanwhile',
  async (t) => {
    const manual = manualWhole()
    const during: Array<Record<string, unknown>> = []
    const url = await serve(t, (_q, res) => {
      transformBody(res, (_res, body) => (body.ended ? manual.transform : null), { holdBack: 1024 })
      res.setHeader('content-type', 'text/plain')
      res.write('hello ')
      res.end('world', () => during.push({ finished: true }))
      during.push({
        started: responseStarted(res),
        headersSent: res.headersSent,
        writableEnded: res.writableEnded,
        writeAfterEnd: res.write('more', () => undefined),
      })
    })
    const answer = rawGet(url)
    await until(() => manual.calls.length === 1)
    t.equal(manual.calls[0]!.body.toString(), 'hello world', 'the whole body in one buffer')
    manual.finish()
    const res = await answer
    t.equal(res.status, 200)
    t.equal(res.headers['content-length'], '12')
    t.equal(res.headers['transfer-encoding'], undefined)
    t.equal(res.body.toString(), 'HELLO WORLD!')
    await until(() => during.length === 2)
    t.same(during, [
      { started: true, headersSent: false, writableEnded: true, writeAfterEnd: false },
      { finished: true },
    ])
    t.same(manual.streamed, [], 'no stream made')
  },
)

t.test('transformBody(): a whole-body transform is streamed when another route shares the response', async (t) => {
  const manual = manualWhole()
  const url = await serve(t, (_q, res) => {
    transformBody(res, () => null)
    transformBody(res, (_res, body) => (body.ended ? manual.transform : null), { holdBack: 1024 })
    res.end('abc')
  })
  const res = await rawGet(url)
  t.equal(res.body.toString(), 'ABC')
  t.same(manual.streamed, [3])
  t.equal(manual.calls.length, 0)
})

t.test(
  'transformBody(): a client abort while the whole body is transformed writes nothing, raises nothing',
  async (t) => {
    const manual = manualWhole()
    const outcomes: string[] = []
    const errors: unknown[] = []
    let response!: import('node:http').ServerResponse
    const url = await serve(t, (_q, res) => {
      response = res
      res.on('error', (err) => errors.push(err))
      onResponseEnd(res, (info) => outcomes.push(info.outcome))
      transformBody(res, () => manual.transform)
      res.end('abc')
    })
    const socket = await openSocket(url)
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => manual.calls.length === 1)
    socket.destroy()
    await until(() => outcomes.length === 1)
    manual.finish()
    await new Promise((ok) => setImmediate(ok))
    t.same(outcomes, ['aborted'])
    t.equal(response.headersSent, false, 'no head written to the closed connection')
    t.same(errors, [])
  },
)

t.test('transformBody(): a whole-body transform that fails destroys the response', async (t) => {
  const manual = manualWhole()
  const outcomes: string[] = []
  const url = await serve(t, (_q, res) => {
    onResponseEnd(res, (info) => outcomes.push(info.outcome))
    transformBody(res, () => manual.transform)
    res.end('abc')
  })
  const answer = rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => manual.calls.length === 1)
  manual.finish(0, new Error('encoder broke'))
  t.equal((await answer).length, 0, 'the connection closes without an answer')
  await until(() => outcomes.length === 1)
  t.same(outcomes, ['error'])
})

t.test('transformBody(): pipelined responses keep their order while a whole body is transformed', async (t) => {
  const manual = manualWhole()
  const url = await serve(t, (req, res) => {
    transformBody(res, (_res, body) => (req.url === '/slow' && body.ended ? manual.transform : null))
    res.end(`body of ${req.url}`)
  })
  const socket = await openSocket(url)
  let received = ''
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1')
  })
  const closed = new Promise((ok) => socket.once('close', ok))
  socket.write(
    'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  )
  await until(() => manual.calls.length === 1)
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(received, '', 'nothing goes out before the first answer')
  manual.finish()
  await closed
  const bodies = received.split('\r\n\r\n').slice(1)
  t.match(bodies[0], /^BODY OF \/SLOW!HTTP\/1\.1 200/)
  t.match(bodies[1], /^body of \/fastHTTP\/1\.1 200/)
  t.equal(bodies[2], 'body of /last')
  t.match(received.split('\r\n\r\n')[0], /\r\ncontent-length: 14(\r\n|$)/i, 'the first answer with its length')
})

t.test('transformBody(): a timeout firing while a whole body is transformed sends no second answer', async (t) => {
  const { timeout } = await import('../../lib/index.js')
  const { fakeTimers } = await import('../helpers/timers.js')
  const { timers, pending, fire } = fakeTimers()
  const manual = manualWhole()
  const url = await serve(
    t,
    timeout({ timers, ms: 1000 })((_q, res) => {
      transformBody(res, () => manual.transform)
      res.end('in time')
    }),
  )
  const answer = rawGet(url)
  await until(() => manual.calls.length === 1 && pending.size === 1)
  fire()
  manual.finish()
  const res = await answer
  t.equal(res.status, 200)
  t.equal(res.body.toString(), 'IN TIME!')
  t.equal(res.headers['content-length'], '8')
})
