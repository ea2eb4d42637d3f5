import { EventEmitter } from 'node:events'
import { request } from 'node:http'
import { PassThrough, pipeline, Readable, Writable } from 'node:stream'
import t from 'tap'
import {
  compose,
  currentContext,
  currentRequest,
  getRequestId,
  requestContext,
  requestId,
  type RawHandler,
} from '../../../lib/index.js'
import { transformBody } from '../../../lib/core.js'
import { h2Request, serveH2 } from '../../helpers/h2.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

const idOf = (): string => getRequestId(currentRequest())

/** POST `body` in pieces, `gapMs` apart, so the server sees several 'data' events. */
function postInPieces(
  url: string,
  pieces: readonly string[],
  gapMs = 5,
  headers: Record<string, string> = {},
): Promise<string> {
  return new Promise((ok, fail) => {
    const req = request(
      url,
      { method: 'POST', agent: false, headers: { ...headers, 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          text += d
        })
        res.on('end', () => ok(text))
      },
    )
    req.on('error', fail)
    let i = 0
    const next = () => {
      if (i === pieces.length) {
        req.end()
        return
      }
      req.write(pieces[i++])
      setTimeout(next, gapMs)
    }
    next()
  })
}

t.test(
  'requestContext(): the request is current across await, timers, setImmediate, nextTick, emitters and streams',
  async (t) => {
    const app = compose(
      requestId({ trustIncoming: true }),
      requestContext(),
    )(async (req, res) => {
      const seen: Record<string, string> = {}
      await Promise.resolve()
      seen.await = idOf()
      await new Promise<void>((ok) =>
        setTimeout(() => {
          seen.timeout = idOf()
          ok()
        }, 1),
      )
      await new Promise<void>((ok) =>
        setImmediate(() => {
          seen.immediate = idOf()
          ok()
        }),
      )
      await new Promise<void>((ok) =>
        process.nextTick(() => {
          seen.nextTick = idOf()
          ok()
        }),
      )
      const emitter = new EventEmitter()
      const fromEmitter = new Promise<void>((ok) =>
        emitter.once('go', () => {
          seen.emitter = idOf()
          ok()
        }),
      )
      setTimeout(() => emitter.emit('go'), 1)
      await fromEmitter
      // The request's own 'data' events come from the socket, outside any request context.
      const dataIds: string[] = []
      await new Promise<void>((ok) => {
        req.on('data', () => dataIds.push(idOf()))
        req.on('end', () => {
          seen.end = idOf()
          ok()
        })
      })
      seen.data =
        dataIds.length > 1 && dataIds.every((id) => id === dataIds[0])
          ? dataIds[0]!
          : `only ${dataIds.length}: ${dataIds}`
      const fromStream = await new Promise<string>((ok) => Readable.from(['a', 'b']).on('data', () => ok(idOf())))
      seen.stream = fromStream
      res.on('finish', () => {
        seen.finish = idOf()
      })
      res.end(JSON.stringify(seen))
    })
    const url = await serve(t, app)
    // Interleaved requests, each sending its body in pieces: none may see another's id.
    const ids = ['alpha', 'beta', 'gamma', 'delta']
    const bodies = await Promise.all(
      ids.map((id) => postInPieces(url, ['one', 'two', 'three'], 5, { 'x-request-id': id })),
    )
    bodies.forEach((body, i) => {
      const seen = JSON.parse(body) as Record<string, string>
      t.same(
        seen,
        {
          await: ids[i],
          timeout: ids[i],
          immediate: ids[i],
          nextTick: ids[i],
          emitter: ids[i],
          end: ids[i],
          data: ids[i],
          stream: ids[i],
        },
        ids[i]!,
      )
    })
  },
)

t.test('requestContext(): response events (drain, finish, close) run in the request context', async (t) => {
  const seen: Record<string, string[]> = {}
  const chunk = 'x'.repeat(64 * 1024)
  const app = compose(
    requestId({ trustIncoming: true }),
    requestContext(),
  )(async (req, res) => {
    const mine: string[] = []
    seen[req.headers['x-request-id'] as string] = mine
    res.on('finish', () => mine.push(`finish:${idOf()}`))
    res.on('close', () => mine.push(`close:${idOf()}`))
    await writeWithBackpressure(res, repeated(chunk, 32), { onDrain: () => mine.push(`drain:${idOf()}`) })
    res.end()
  })
  const url = await serve(t, app)
  await Promise.all(
    ['r1', 'r2'].map(async (id) => (await fetch(url, { headers: { 'x-request-id': id } })).arrayBuffer()),
  )
  await new Promise((ok) => setImmediate(ok))
  for (const id of ['r1', 'r2']) {
    const events = seen[id]!
    t.ok(
      events.some((e) => e.startsWith('drain:')),
      `${id} saw backpressure`,
    )
    t.ok(events.includes(`finish:${id}`))
    t.ok(events.includes(`close:${id}`))
    t.same(
      events.filter((e) => !e.endsWith(`:${id}`)),
      [],
      `${id} never saw another request`,
    )
  }
})

t.test('requestContext(): a pipeline of the request body through transforms keeps the context', async (t) => {
  const app = compose(
    requestId({ trustIncoming: true }),
    requestContext(),
  )((req, res) => {
    const ids: string[] = []
    const upper = new PassThrough({ transform: undefined })
    upper.on('data', () => ids.push(idOf()))
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        ids.push(idOf())
        cb()
      },
    })
    pipeline(req, upper, sink, (err) => {
      res.end(err ? String(err) : [...new Set(ids)].join(','))
    })
  })
  const url = await serve(t, app)
  t.equal(await postInPieces(url, ['a', 'b', 'c'], 5, { 'x-request-id': 'piped' }), 'piped')
})

t.test('requestContext(): chains with a transformBody on the same response', async (t) => {
  const app = compose(
    requestId({ trustIncoming: true }),
    requestContext(),
  )((_req, res) => {
    transformBody(res, () => new PassThrough(), { holdBack: 0 })
    const chunk = 'q'.repeat(64 * 1024)
    let drains = 0
    const write = (i: number): void => {
      if (i === 16) {
        res.end(String(drains))
        return
      }
      if (res.write(chunk)) write(i + 1)
      else
        res.once('drain', () => {
          if (idOf() === 'tb') drains++
          write(i + 1)
        })
    }
    write(0)
  })
  const url = await serve(t, app)
  const text = await (await fetch(url, { headers: { 'x-request-id': 'tb' } })).text()
  t.equal(text.length, 16 * 64 * 1024 + text.slice(16 * 64 * 1024).length)
  t.ok(Number(text.slice(16 * 64 * 1024)) > 0, 'drains delivered in context')
})

t.test('requestContext(): a second requestContext() is a no-op; outside it there is no request', async (t) => {
  const app = compose(
    requestContext(),
    requestContext(),
  )((req, res) => {
    res.end(String(currentContext()?.req === req && currentContext()?.res === res))
  })
  t.equal(await (await fetch(await serve(t, app))).text(), 'true')
  t.equal(currentContext(), undefined)
  let outside = ''
  const bare: RawHandler = (_req, res) => {
    try {
      currentRequest()
    } catch (err) {
      outside = (err as Error).message
    }
    res.end()
  }
  await (await fetch(await serve(t, bare))).text()
  t.match(outside, /mount requestContext\(\)/)
})

t.test('requestContext(): returns the inner promise, so rejections reach outer layers', async (t) => {
  let caught: unknown
  const outer =
    (next: RawHandler): RawHandler =>
    async (req, res) => {
      try {
        await next(req, res)
      } catch (err) {
        caught = err
        res.statusCode = 500
        res.end()
      }
    }
  const url = await serve(
    t,
    compose(
      outer,
      requestContext(),
    )(async () => {
      throw new Error('inside')
    }),
  )
  t.equal((await fetch(url)).status, 500)
  t.match(caught, { message: 'inside' })
})

t.test('requestContext(): config: rejects unknown options', async (t) => {
  t.throws(() => requestContext({ store: 1 } as never), {
    name: 'ConfigError',
    message: 'requestContext(): unknown option "store"; requestContext() takes no options.',
  })
  t.doesNotThrow(() => requestContext({}))
})

t.test("requestContext(): over HTTP/2, the request body's data events run in the request context", async (t) => {
  const url = await serveH2(
    t,
    compose(
      requestId({ trustIncoming: true }),
      requestContext(),
    )((req, res) => {
      const ids = new Set<string>()
      req.on('data', () => ids.add(idOf()))
      req.on('end', () => {
        ids.add(idOf())
        res.end([...ids].join(','))
      })
    }),
  )
  const res = await h2Request(url, { ':method': 'POST', 'x-request-id': 'h2-req' }, 'b'.repeat(100_000))
  t.equal(res.text, 'h2-req')
})
