/**
 * The behaviours that expressjs/compression's own test suite checks, re-tested with
 * http-onion's compression() mounted through toExpress() on real Express 4 and 5. The tests
 * are ours; the behaviours are theirs. Where http-onion deliberately does otherwise, the
 * test asserts http-onion's behaviour and its name says "differs".
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { createGunzip, createInflate, gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib'
import express from 'express'
import express4 from 'express4'
import t, { type Test } from 'tap'
import { compressibleTypes, compression, type CompressionOptions } from '../../lib/index.js'
import { toExpress } from '../../adapters/express.js'
import { httpRequest } from '../helpers/http.js'

type Handler = (req: IncomingMessage, res: ServerResponse & { flush?: () => void }) => void

for (const [version, make] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  /** An Express app: compression() through toExpress, then `handler` as the last middleware. */
  async function app(t: Test, options: CompressionOptions, handler: Handler): Promise<string> {
    const application = make()
    application.use(toExpress(compression(options)))
    application.use((req, res) => handler(req, res))
    const server = createServer(application)
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    t.teardown(
      () =>
        new Promise<void>((ok) => {
          server.closeAllConnections()
          server.close(() => ok())
        }),
    )
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  const get = (url: string, acceptEncoding?: string, method = 'GET') =>
    httpRequest(url, { method, headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } })
  const plain =
    (body: string | Buffer): Handler =>
    (_req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      res.end(body)
    }
  const test = (name: string, fn: (t: Test) => Promise<void>) =>
    t.test(`compression() via toExpress on ${version}: ${name}`, fn)

  test('a HEAD answer is not encoded but still varies on Accept-Encoding', async (t) => {
    const res = await get(await app(t, { threshold: 0 }, plain('hello, world')), 'gzip', 'HEAD')
    t.equal(res.status, 200)
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers.vary, 'Accept-Encoding')
  })

  test('an unknown coding in Accept-Encoding gets identity', async (t) => {
    const res = await get(await app(t, { threshold: 0 }, plain('hello, world')), 'bogus')
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.text, 'hello, world')
  })

  test('a Content-Encoding the handler set is left alone', async (t) => {
    const res = await get(
      await app(t, { threshold: 0 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.setHeader('Content-Encoding', 'x-custom')
        res.end('hello, world')
      }),
      'gzip',
    )
    t.equal(res.headers['content-encoding'], 'x-custom')
    t.equal(res.text, 'hello, world')
  })

  test('Vary: Accept-Encoding on compressed answers, and on identity ones without Accept-Encoding', async (t) => {
    const url = await app(t, { threshold: 1000 }, (req, res) =>
      plain(req.url === '/big' ? 'x'.repeat(2000) : 'hello, world')(req, res),
    )
    const compressed = await get(`${url}/big`, 'gzip')
    t.equal(compressed.headers['content-encoding'], 'gzip')
    t.equal(compressed.headers.vary, 'Accept-Encoding')
    const identity = await get(url)
    t.equal(identity.headers['content-encoding'], undefined)
    t.equal(identity.headers.vary, 'Accept-Encoding')
  })

  test('no Vary for a type that is never compressed', async (t) => {
    const res = await get(
      await app(t, {}, (_req, res) => {
        res.setHeader('Content-Type', 'image/jpeg')
        res.end()
      }),
      'gzip',
    )
    t.equal(res.status, 200)
    t.equal(res.headers.vary, undefined)
  })

  test('a compressed body goes out with its compressed length, not the stale Content-Length', async (t) => {
    const res = await get(
      await app(t, { threshold: 0 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.setHeader('Content-Length', '12')
        res.end('hello, world')
      }),
      'gzip',
    )
    t.equal(res.headers['content-encoding'], 'gzip')
    // Handed over whole: compressed in one call and sent with its length, unchunked.
    t.equal(res.headers['transfer-encoding'], undefined)
    t.equal(res.headers['content-length'], String(res.body.length))
    t.equal(gunzipSync(res.body).toString(), 'hello, world')
  })

  test('write() and end() with encoding arguments', async (t) => {
    const res = await get(
      await app(t, { threshold: 0 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.write('hello, ', 'utf8')
        res.end('776f726c64', 'hex')
      }),
      'gzip',
    )
    t.equal(res.headers['transfer-encoding'], 'chunked')
    t.equal(gunzipSync(res.body).toString(), 'hello, world')
  })

  test('writes from a close listener after destroy() do not throw or crash', async (t) => {
    let settled!: (outcome: string) => void
    const outcome = new Promise<string>((ok) => {
      settled = ok
    })
    const url = await app(t, { threshold: 0 }, (_req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      res.once('close', () => {
        try {
          res.write('hello, ')
          res.end('world')
          settled('no throw')
        } catch (err) {
          settled(`threw ${(err as Error).message}`)
        }
      })
      res.destroy()
    })
    await get(url, 'gzip').catch(() => undefined)
    t.equal(await outcome, 'no throw')
  })

  /**
   * Write incompressible chunks to a client that does not read until write() says false;
   * then the client reads, 'drain' must follow, and a small write after it is accepted.
   * (Whether 'drain' waits for the client depends on how much the kernel's socket buffers
   * absorb, so only the order of events is asserted.)
   */
  async function backpressure(t: Test, options: CompressionOptions, acceptEncoding: string) {
    const chunk = randomBytes(128 * 1024)
    let writes = 0
    let resumeClient!: () => void
    const full = new Promise<void>((ok) => {
      resumeClient = ok
    })
    let drained = false
    let acceptedAfterDrain: boolean | undefined
    const url = await app(t, options, (_req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      res.write('start')
      while (res.write(chunk)) {
        writes++
        res.flush?.()
      }
      res.once('drain', () => {
        drained = true
        acceptedAfterDrain = res.write('end')
        res.end()
      })
      resumeClient()
    })
    const received = await new Promise<{ encoding: string | undefined; body: Buffer }>((ok, fail) => {
      request(url, { headers: { 'accept-encoding': acceptEncoding }, agent: false }, (res) => {
        res.pause()
        const parts: Buffer[] = []
        void full.then(() => {
          res.on('data', (d: Buffer) => parts.push(d))
          res.resume()
        })
        res.on('end', () => ok({ encoding: res.headers['content-encoding'], body: Buffer.concat(parts) }))
        res.on('error', fail)
      })
        .on('error', fail)
        .end()
    })
    t.ok(writes < 200, `write() returned false after ${writes} chunks, not after buffering everything`)
    t.equal(drained, true, "'drain' once the client read")
    t.equal(acceptedAfterDrain, true, 'a small write after drain is accepted')
    return received
  }

  test('backpressure reaches the handler when compressing', async (t) => {
    const { encoding, body } = await backpressure(t, { threshold: 0 }, 'gzip')
    t.equal(encoding, 'gzip')
    const decoded = gunzipSync(body)
    t.equal(decoded.subarray(0, 5).toString(), 'start')
    t.equal(decoded.subarray(-3).toString(), 'end')
  })

  test('backpressure reaches the handler when the type is not compressed', async (t) => {
    const { encoding, body } = await backpressure(t, { types: () => false }, 'gzip')
    t.equal(encoding, undefined)
    t.equal(body.subarray(-3).toString(), 'end')
  })

  test('a 1 MiB body in one end() and 4 × 40 KiB writes arrive whole', async (t) => {
    const big = Buffer.alloc(1024 * 1024, '.')
    const part = Buffer.alloc(40 * 1024, '.')
    const url = await app(t, { threshold: 0 }, (req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      if (req.url === '/one') return void res.end(big)
      res.write(part)
      res.write(part)
      res.write(part)
      res.end(part)
    })
    const one = await get(`${url}/one`, 'gzip')
    t.equal(one.headers['content-encoding'], 'gzip')
    t.ok(gunzipSync(one.body).equals(big))
    const many = await get(`${url}/many`, 'gzip')
    t.equal(gunzipSync(many.body).length, part.length * 4)
  })

  test('threshold: a declared Content-Length below it is sent as is, above it is compressed', async (t) => {
    const url = await app(t, { threshold: 1024 }, (req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      const body = req.url === '/small' ? Buffer.from('hello, world') : Buffer.alloc(2048, 'a')
      res.setHeader('Content-Length', String(body.length))
      if (req.url === '/streamed') {
        res.write(body.subarray(0, 1024))
        setImmediate(() => res.end(body.subarray(1024)))
      } else res.end(body)
    })
    const small = await get(`${url}/small`, 'gzip')
    t.equal(small.headers['content-encoding'], undefined)
    t.equal(small.headers['content-length'], '12')
    t.equal((await get(`${url}/big`, 'gzip')).headers['content-encoding'], 'gzip')
    const streamed = await get(`${url}/streamed`, 'gzip')
    t.equal(
      streamed.headers['content-encoding'],
      'gzip',
      'a declared length above the threshold is compressed while streaming',
    )
    t.equal(gunzipSync(streamed.body).length, 2048)
  })

  test('threshold: a declared length below it is not compressed even when written in parts', async (t) => {
    const res = await get(
      await app(t, { threshold: 1024 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.setHeader('Content-Length', '12')
        res.write('hello, ')
        setImmediate(() => res.end('world'))
      }),
      'gzip',
    )
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.text, 'hello, world')
  })

  test('differs: a small body streamed without Content-Length is held back and sent uncompressed with an exact length', async (t) => {
    // expressjs/compression compresses any body of unknown length; http-onion holds up to
    // `threshold` bytes, sees the end come first, and sends 12 bytes as they are.
    const res = await get(
      await app(t, { threshold: 1024 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.write('hello, ')
        setImmediate(() => res.end('world'))
      }),
      'gzip',
    )
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers['content-length'], '12')
    t.equal(res.text, 'hello, world')
  })

  test('threshold: hex-encoded bytes are measured as bytes; end(), end(null) and an empty body are never compressed', async (t) => {
    const url = await app(t, { threshold: 6 }, (req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      if (req.url === '/hex') res.end('2e2e2e2e', 'hex')
      else if (req.url === '/null') res.end(null)
      else res.end()
    })
    const hex = await get(`${url}/hex`, 'gzip')
    t.equal(hex.headers['content-encoding'], undefined)
    t.equal(hex.text, '....')
    for (const path of ['/empty', '/null']) {
      const res = await get(`${url}${path}`, 'gzip')
      t.equal(res.status, 200, path)
      t.equal(res.headers['content-encoding'], undefined, path)
      t.equal(res.text, '', path)
    }
  })

  test('write() after end() returns false and does not throw', async (t) => {
    let after: unknown
    const res = await get(
      await app(t, { threshold: 0 }, (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.end('hello, world')
        try {
          after = res.write('late')
        } catch (err) {
          after = err
        }
      }),
      'gzip',
    )
    t.equal(res.headers['content-encoding'], 'gzip')
    t.equal(gunzipSync(res.body).toString(), 'hello, world')
    t.equal(after, false)
  })

  test('codings: gzip, deflate, and gzip preferred over deflate in either order', async (t) => {
    const url = await app(t, { threshold: 0 }, plain('hello, world'))
    const gzip = await get(url, 'gzip')
    t.equal(gzip.headers['content-encoding'], 'gzip')
    const deflate = await get(url, 'deflate')
    t.equal(deflate.headers['content-encoding'], 'deflate')
    t.equal(inflateSync(deflate.body).toString(), 'hello, world')
    t.equal((await get(url, 'gzip, deflate')).headers['content-encoding'], 'gzip')
    t.equal((await get(url, 'deflate, gzip')).headers['content-encoding'], 'gzip')
  })

  test('codings: br when offered, a heavier weight wins, identity is honoured', async (t) => {
    const url = await app(t, { threshold: 0 }, plain('hello, world'))
    const br = await get(url, 'br')
    t.equal(br.headers['content-encoding'], 'br')
    t.equal(brotliDecompressSync(br.body).toString(), 'hello, world')
    t.equal((await get(url, 'gzip, deflate, br')).headers['content-encoding'], 'br')
    t.equal((await get(url, 'gzip;q=1, br;q=0.3')).headers['content-encoding'], 'gzip')
    t.equal((await get(url, 'identity')).headers['content-encoding'], undefined)
  })

  test('differs: no Accept-Encoding means identity; there is no option to force a coding', async (t) => {
    // expressjs/compression's `enforceEncoding` compresses for clients that sent nothing;
    // http-onion never sends a coding the client did not ask for (RFC 9110 §12.5.3).
    t.throws(() => compression({ enforceEncoding: 'gzip' } as CompressionOptions), {
      name: 'ConfigError',
      message: /^compression\(\): unknown option "enforceEncoding"; /,
    })
    const res = await get(await app(t, { threshold: 0 }, plain('hello, world')))
    t.equal(res.headers['content-encoding'], undefined)
  })

  test('Cache-Control: no-transform is honoured, without Vary', async (t) => {
    const res = await get(
      await app(t, { threshold: 0 }, (_req, res) => {
        res.setHeader('Cache-Control', 'no-transform')
        res.setHeader('Content-Type', 'text/plain')
        res.end('hello, world')
      }),
      'gzip',
    )
    t.equal(res.headers['cache-control'], 'no-transform')
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers.vary, undefined)
    t.equal(res.text, 'hello, world')
  })

  test('the type filter: text/plain compresses; application/x-bogus and a missing type do not', async (t) => {
    const url = await app(t, { threshold: 0 }, (req, res) => {
      if (req.url === '/plain') res.setHeader('Content-Type', 'text/plain')
      if (req.url === '/bogus') res.setHeader('Content-Type', 'application/x-bogus')
      res.end('hello, world')
    })
    t.equal((await get(`${url}/plain`, 'gzip')).headers['content-encoding'], 'gzip')
    t.equal((await get(`${url}/bogus`, 'gzip')).headers['content-encoding'], undefined)
    t.equal((await get(`${url}/none`, 'gzip')).headers['content-encoding'], undefined)
    t.ok(compressibleTypes.length > 0, 'the default filter is exported as a list of patterns')
  })

  test('res.flush() exists whether or not the response is compressed', async (t) => {
    const url = await app(t, {}, (_req, res) => {
      res.statusCode = typeof res.flush === 'function' ? 200 : 500
      res.flush?.()
      res.end()
    })
    t.equal((await get(url)).status, 200, 'identity')
    t.equal((await get(url, 'gzip')).status, 200, 'gzip negotiated')
  })

  /** Each flushed write reaches the client decoded before the next one is written. */
  async function flushedChunks(t: Test, encoding: 'gzip' | 'deflate', chunk: Buffer, declaredLength?: number) {
    let next!: () => void
    const url = await app(t, { threshold: 0 }, (_req, res) => {
      let writes = 0
      next = () => {
        writes++
        if (writes === 2) return void res.end(chunk)
        if (writes > 2) return
        res.write(chunk)
        res.flush?.()
      }
      res.setHeader('Content-Type', 'text/plain')
      if (declaredLength !== undefined) res.setHeader('Content-Length', String(declaredLength))
      next()
    })
    const seen = await new Promise<string[]>((ok, fail) => {
      request(url, { headers: { 'accept-encoding': encoding }, agent: false }, (res) => {
        t.equal(res.headers['content-encoding'], encoding)
        const decoded: string[] = []
        const decoder = res.pipe(encoding === 'gzip' ? createGunzip() : createInflate())
        decoder.on('data', (d: Buffer) => {
          decoded.push(d.toString())
          next()
        })
        decoder.on('end', () => ok(decoded))
        decoder.on('error', fail)
      })
        .on('error', fail)
        .end()
    })
    t.same(seen, [chunk.toString(), chunk.toString()], 'each write arrived on its own, decoded')
  }

  test('res.flush() sends a 1 KiB write with a declared length at once', async (t) => {
    await flushedChunks(t, 'gzip', Buffer.alloc(1024, 'f'), 2048)
  })

  test('res.flush() sends small writes at once, gzip', async (t) => {
    await flushedChunks(t, 'gzip', Buffer.from('..'))
  })

  test('res.flush() sends small writes at once, deflate', async (t) => {
    await flushedChunks(t, 'deflate', Buffer.from('..'))
  })

  test('differs: Server-Sent Events are compressed and every event is flushed without res.flush()', async (t) => {
    // expressjs/compression holds SSE in the encoder until the handler calls res.flush().
    let next!: () => void
    const events = ['data: one\n\n', 'data: two\n\n', 'data: three\n\n']
    const url = await app(t, {}, (_req, res) => {
      let i = 0
      next = () => {
        if (i < events.length) res.write(events[i++])
        else res.end()
      }
      res.setHeader('Content-Type', 'text/event-stream')
      next()
    })
    const seen = await new Promise<string[]>((ok, fail) => {
      request(url, { headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        t.equal(res.headers['content-encoding'], 'gzip')
        const decoded: string[] = []
        const decoder = res.pipe(createGunzip())
        decoder.on('data', (d: Buffer) => {
          decoded.push(d.toString())
          next()
        })
        decoder.on('end', () => ok(decoded))
        decoder.on('error', fail)
      })
        .on('error', fail)
        .end()
    })
    t.same(seen, events)
  })

  test('Express answers: res.json and res.send are compressed; a 304 from req.fresh carries Vary', async (t) => {
    const application = make()
    application.use(toExpress(compression({ threshold: 0 })))
    application.get('/json', (_req, res) => {
      res.json({ hello: 'world'.repeat(50) })
    })
    const server = createServer(application)
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    t.teardown(
      () =>
        new Promise<void>((ok) => {
          server.closeAllConnections()
          server.close(() => ok())
        }),
    )
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/json`
    const res = await get(url, 'gzip')
    t.equal(res.headers['content-encoding'], 'gzip')
    t.same(JSON.parse(gunzipSync(res.body).toString()), { hello: 'world'.repeat(50) })
    t.match(res.headers.etag, /^W\//, 'a weak ETag: the compressed bytes differ from the ones it names')
    const cached = await httpRequest(url, {
      headers: { 'accept-encoding': 'gzip', 'if-none-match': String(res.headers.etag) },
    })
    t.equal(cached.status, 304)
    t.equal(cached.headers.vary, 'Accept-Encoding')
  })
}
