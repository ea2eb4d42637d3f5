import { createServer } from 'node:http'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express, { type Response } from 'express'
import express4 from 'express4'
import t, { type Test } from 'tap'
import { compose, errorBoundary, HttpError, type Middleware, rateLimit } from '../../lib/index.js'
import { fromExpress, toExpress } from '../../adapters/express.js'
import { listen, serve } from '../helpers/serve.js'
import { httpRequest } from '../helpers/http.js'
import { openSocket } from '../helpers/raw.js'
import { until } from '../helpers/wait.js'
import { gateKeeper, gzipAll, tagged } from '../helpers/probe-middleware.js'

const throwing =
  (kind: 'sync' | 'async'): Middleware =>
  () =>
    kind === 'sync'
      ? () => {
          throw new HttpError(418 as never)
        }
      : async () => {
          throw new Error('async failure')
        }

for (const [version, make] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  async function app(t: Test, setup: (app: ReturnType<typeof express>) => void) {
    const application = make()
    setup(application)
    application.use((err: Error & { status?: number }, _req: unknown, res: Response, _next: unknown) => {
      res.status(err.status ?? 500).json({ handledBy: 'express', message: err.message })
    })
    return (await listen(t, createServer(application))).url
  }

  t.test(`toExpress() on ${version}: a boundary's format reaches the refusals of layers used after it`, async (t) => {
    const url = await app(t, (a) => {
      a.use(toExpress(errorBoundary({ format: 'problem' })))
      a.use(toExpress(rateLimit({ limit: 1 })))
      a.get('/', (_q, res) => {
        res.json({ ok: true })
      })
    })
    t.equal((await httpRequest(url)).status, 200)
    const refused = await httpRequest(url)
    t.equal(refused.status, 429)
    t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.ok(refused.headers['retry-after'])
    t.match(JSON.parse(refused.text), { type: 'about:blank', status: 429, code: 'too_many_requests', instance: '/' })
  })

  t.test(`toExpress() on ${version}: headers reach res.json, res.send, res.sendFile and piped streams`, async (t) => {
    // Not t.testdir(): its path has a dot directory, which sendFile refuses by default.
    const dir = mkdtempSync(join(tmpdir(), 'onion-express-'))
    writeFileSync(join(dir, 'file.txt'), 'from disk')
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const url = await app(t, (a) => {
      a.use(toExpress(tagged))
      a.get('/json', (_q, res) => {
        res.status(201).json({ ok: true })
      })
      a.get('/send', (_q, res) => {
        res.send('sent')
      })
      a.get('/file', (_q, res) => {
        res.sendFile(`${dir}/file.txt`)
      })
      a.get('/pipe', (_q, res) => {
        Readable.from(['a', 'b']).pipe(res)
      })
    })
    for (const [path, status, body] of [
      ['/json', 201, '{"ok":true}'],
      ['/send', 200, 'sent'],
      ['/file', 200, 'from disk'],
      ['/pipe', 200, 'ab'],
    ] as const) {
      const res = await httpRequest(`${url}${path}`)
      t.equal(res.status, status, path)
      t.equal(res.headers['x-tagged'], String(status), path)
      t.equal(res.text, body, path)
    }
  })

  t.test(`toExpress() on ${version}: a response the middleware sends ends the chain`, async (t) => {
    let routeRan = false
    const url = await app(t, (a) => {
      a.use(toExpress(gateKeeper))
      a.get('/', (_q, res) => {
        routeRan = true
        res.send('secret')
      })
    })
    const refused = await httpRequest(url)
    t.equal(refused.status, 401)
    t.equal(routeRan, false)
    const allowed = await httpRequest(url, { headers: { 'x-key': 'open' } })
    t.equal(allowed.text, 'secret')
  })

  t.test(`toExpress() on ${version}: sync throws and rejections go to Express's error handler`, async (t) => {
    const url = await app(t, (a) => {
      a.use('/sync', toExpress(throwing('sync')))
      a.use('/async', toExpress(throwing('async')))
    })
    const sync = await httpRequest(`${url}/sync`)
    t.equal(sync.status, 418)
    t.match(JSON.parse(sync.text), { handledBy: 'express' })
    const rejected = await httpRequest(`${url}/async`)
    t.equal(rejected.status, 500)
    t.match(JSON.parse(rejected.text), { handledBy: 'express', message: 'async failure' })
  })

  t.test(`toExpress() on ${version}: a body transform applies to res.json`, async (t) => {
    const url = await app(t, (a) => {
      a.use(toExpress(gzipAll))
      a.get('/', (_q, res) => {
        res.json({ big: 'z'.repeat(500) })
      })
    })
    const res = await httpRequest(url)
    t.equal(res.headers['content-encoding'], 'gzip')
    t.same(JSON.parse(gunzipSync(res.body).toString()), { big: 'z'.repeat(500) })
  })
}

t.test('fromExpress(): a Connect middleware runs inside a raw stack', async (t) => {
  const connectStyle = (_req: unknown, res: { setHeader(n: string, v: string): void }, next: () => void) => {
    res.setHeader('x-connect', 'ran')
    next()
  }
  const url = await serve(
    t,
    compose(fromExpress(connectStyle as never))((_req, res) => res.end('inner')),
  )
  const res = await httpRequest(url)
  t.equal(res.headers['x-connect'], 'ran')
  t.equal(res.text, 'inner')
})

t.test('fromExpress(): next(err) becomes a rejection an outer layer catches', async (t) => {
  let caught: unknown
  const boundary: Middleware = (next) => async (req, res) => {
    try {
      await next(req, res)
    } catch (err) {
      caught = err
      res.statusCode = 500
      res.end('caught')
    }
  }
  const failing = (_req: unknown, _res: unknown, next: (err?: unknown) => void) => next(new Error('connect failed'))
  const url = await serve(
    t,
    compose(boundary, fromExpress(failing as never, 'failing'))((_req, res) => res.end('never')),
  )
  const res = await httpRequest(url)
  t.equal(res.text, 'caught')
  t.match(caught, { message: 'connect failed' })
  t.match(compose(fromExpress(failing as never, 'failing')).explain(), /failing \(Connect\/Express middleware\)/)
})

t.test('fromExpress(): a middleware that answers itself settles when the exchange ends', async (t) => {
  let settled = false
  const answering = (_req: unknown, res: { end(s: string): void }) => res.end('answered')
  const outer: Middleware = (next) => async (req, res) => {
    await next(req, res)
    settled = true
  }
  const url = await serve(
    t,
    compose(outer, fromExpress(answering as never))((_req, res) => res.end('never')),
  )
  t.equal((await httpRequest(url)).text, 'answered')
  await new Promise((ok) => setTimeout(ok, 10))
  t.equal(settled, true)
})

t.test(
  'fromExpress(): a middleware that answers a pipelined request still queued when the client leaves settles',
  async (t) => {
    const settled: string[] = []
    // The first answer stalls, so the second one waits in Node's queue, which never emits
    // 'close' on it when the connection goes.
    const answering = (req: { url: string }, res: { write(s: string): void; end(s: string): void }) => {
      if (req.url === '/0') res.write('started')
      else res.end('answered')
    }
    const outer: Middleware = (next) => async (req, res) => {
      await next(req, res)
      settled.push(req.url!)
    }
    const url = await serve(
      t,
      compose(outer, fromExpress(answering as never))((_req, res) => res.end('never')),
    )
    const socket = await openSocket(url)
    socket.write('GET /0 HTTP/1.1\r\nHost: x\r\n\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\n')
    await new Promise((ok) => socket.once('data', ok))
    socket.resetAndDestroy()
    await until(() => settled.length === 2)
    t.same(settled.sort(), ['/0', '/1'])
  },
)

t.test('fromExpress(): next("route") continues like next()', async (t) => {
  const skipping = (_req: unknown, _res: unknown, next: (arg?: unknown) => void) => next('route')
  const url = await serve(
    t,
    compose(fromExpress(skipping as never))((_req, res) => res.end('continued')),
  )
  t.equal((await httpRequest(url)).text, 'continued')
})
