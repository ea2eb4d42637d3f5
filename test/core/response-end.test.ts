import { AsyncLocalStorage } from 'node:async_hooks'
import type { Socket } from 'node:net'
import { pipeline, Readable } from 'node:stream'
import t, { type Test } from 'tap'
import type { RawHandler } from '../../lib/index.js'
import { onResponseEnd, type ResponseEndInfo } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'
import { openSocket, rawExchange } from '../helpers/raw.js'
import { onResponseEndContextFree } from '../../lib/core/response-end.js'
import { countEndListenerResources } from '../helpers/async-resources.js'
import { captureWarnings, silenceWarningOutput, tick, until } from '../helpers/wait.js'

/** Serve `respond`, recording every end info; resolves `ended` on the first. */
async function track(t: Test, respond: RawHandler) {
  const infos: ResponseEndInfo[] = []
  let resolve!: (info: ResponseEndInfo) => void
  const ended = new Promise<ResponseEndInfo>((ok) => {
    resolve = ok
  })
  const url = await serve(t, (req, res) => {
    onResponseEnd(res, (info) => {
      infos.push(info)
      resolve(info)
    })
    return respond(req, res)
  })
  return { url, infos, ended }
}

t.test('onResponseEnd(): a normal finish, with the exact bytes put on the wire', async (t) => {
  const { url, infos, ended } = await track(t, (_q, res) => {
    res.statusCode = 201
    res.write('hello ')
    setImmediate(() => res.end('world'))
  })
  const received = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const info = await ended
  t.equal(info.outcome, 'finished')
  t.equal(info.status, 201)
  t.equal(info.error, undefined)
  t.equal(info.headersSent, true)
  t.equal(info.bytesWritten, received.length)
  t.ok(info.headersMs! >= 0 && info.headersMs! <= info.durationMs)
  await new Promise((ok) => setImmediate(ok))
  t.equal(infos.length, 1)
})

t.test('onResponseEnd(): counts bytes per response on a keep-alive connection with pipelined requests', async (t) => {
  const { url, infos } = await track(t, (req, res) => {
    const size = req.url === '/big' ? 5000 : 10
    // The first answer comes late, so the second is queued behind it, fully written.
    const delay = req.url === '/big' ? 20 : 0
    setTimeout(() => res.end('x'.repeat(size)), delay)
  })
  const received = await rawExchange(
    url,
    'GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  )
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(infos.length, 2)
  t.equal(
    infos.reduce((sum, info) => sum + info.bytesWritten!, 0),
    received.length,
  )
  t.ok(infos.every((info) => info.outcome === 'finished'))
})

t.test('onResponseEnd(): a client that closes the socket mid-stream gives outcome aborted', async (t) => {
  let stop = false
  const { url, ended } = await track(t, (_q, res) => {
    const tick = () => {
      if (stop || res.destroyed) return
      res.write('x'.repeat(1024))
      setTimeout(tick, 1)
    }
    tick()
  })
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => socket.once('data', ok))
  socket.destroy()
  const info = await ended
  stop = true
  t.equal(info.outcome, 'aborted')
  t.equal(info.status, 200)
  t.equal(info.headersSent, true)
  t.ok(info.bytesWritten! > 0)
})

t.test('onResponseEnd(): a client gone before headers gives aborted with headersSent false', async (t) => {
  const { url, ended } = await track(t, () => undefined)
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => setTimeout(ok, 20))
  socket.destroy()
  const info = await ended
  t.equal(info.outcome, 'aborted')
  t.equal(info.headersSent, false)
  t.equal(info.headersMs, undefined)
})

t.test('onResponseEnd(): a source stream that errors gives outcome error, with the error', async (t) => {
  const { url, ended } = await track(t, (_q, res) => {
    let sent = 0
    const source = new Readable({
      read() {
        if (sent++ < 3) this.push('chunk ')
        else this.destroy(new Error('disk on fire'))
      },
    })
    pipeline(source, res, () => undefined)
  })
  await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  const info = await ended
  t.equal(info.outcome, 'error')
  t.match(info.error, { message: 'disk on fire' })
})

t.test('onResponseEnd(): listeners run once each, innermost first, with their context', async (t) => {
  const order: string[] = []
  let done!: () => void
  const all = new Promise<void>((ok) => {
    done = ok
  })
  const url = await serve(t, (_q, res) => {
    for (const name of ['outer', 'inner']) {
      onResponseEnd(
        res,
        (_info, _res, who) => {
          order.push(who)
          if (who === 'outer') done()
        },
        name,
      )
    }
    res.end()
  })
  await (await fetch(url)).text()
  await all
  t.same(order, ['inner', 'outer'])
})

t.test('onResponseEnd(): a throwing listener is reported as a warning and the others still run', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => {
    if (w.name === 'HttpOnionError') warnings.push(w)
  }
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  let otherRan!: () => void
  const ran = new Promise<void>((ok) => {
    otherRan = ok
  })
  const url = await serve(t, (_q, res) => {
    onResponseEnd(res, () => otherRan())
    onResponseEnd(res, () => {
      throw new Error('logger broke')
    })
    res.end()
  })
  await (await fetch(url)).text()
  await ran
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 1)
  t.match(warnings[0]!.message, /onResponseEnd listener: logger broke/)
})

t.test('onResponseEnd(): registered after the exchange is over, it still runs once', async (t) => {
  let late!: (info: ResponseEndInfo) => void
  const got = new Promise<ResponseEndInfo>((ok) => {
    late = ok
  })
  let calls = 0
  const url = await serve(t, (_q, res) => {
    res.end('done')
    res.once('close', () =>
      onResponseEnd(res, (info) => {
        calls++
        late(info)
      }),
    )
  })
  await (await fetch(url)).text()
  const info = await got
  await new Promise((ok) => setTimeout(ok, 5))
  t.equal(calls, 1)
  t.equal(info.outcome, 'finished')
})

/** `paths` as pipelined GETs, in one write. */
const pipelined = (paths: string[]): string => paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('')

t.test(
  'onResponseEnd(): pipelined responses cut while still queued end as aborted, once each, with no bytes',
  async (t) => {
    const ends: Array<[string, ResponseEndInfo]> = []
    const url = await serve(t, (req, res) => {
      onResponseEnd(
        res,
        (info, _res, path) => {
          ends.push([path, info])
        },
        req.url!,
      )
      // The first answer stalls, so the others stay queued behind it (Node gives them no
      // socket, and never emits 'close' on them).
      if (req.url === '/0') res.write('started')
      else res.end(`answer ${req.url}`)
    })
    const socket = await openSocket(url)
    socket.write(pipelined(['/0', '/1', '/2']))
    await new Promise((ok) => socket.once('data', ok))
    socket.resetAndDestroy()
    await until(() => ends.length === 3)
    await tick(20)
    t.same(
      ends.map(([path, info]) => [path, info.outcome]),
      [
        ['/0', 'aborted'],
        ['/1', 'aborted'],
        ['/2', 'aborted'],
      ],
    )
    t.ok(ends[0]![1].bytesWritten! > 0, 'the first one was on the wire')
    t.same(
      ends.slice(1).map(([, info]) => info.bytesWritten),
      [0, 0],
      'the queued ones never were',
    )
    t.ok(ends.every(([, info]) => info.durationMs >= 0))
  },
)

t.test(
  'onResponseEnd(): registered on a queued response after its connection closed, it still runs once',
  async (t) => {
    const infos: ResponseEndInfo[] = []
    const url = await serve(t, (req, res) => {
      if (req.url === '/0') res.write('started')
      // A slow layer that gets to the queued request only after the client left.
      else
        req.once('close', () =>
          setImmediate(() =>
            onResponseEnd(res, (info) => {
              infos.push(info)
            }),
          ),
        )
    })
    const socket = await openSocket(url)
    socket.write(pipelined(['/0', '/1']))
    await new Promise((ok) => socket.once('data', ok))
    socket.resetAndDestroy()
    await until(() => infos.length > 0)
    await tick(20)
    t.equal(infos.length, 1)
    t.equal(infos[0]?.outcome, 'aborted')
  },
)

t.test(
  'onResponseEnd(): 50 pipelined requests answered out of order each finish once, one listener on the connection',
  async (t) => {
    const warnings = captureWarnings(t)
    const ends: string[] = []
    const count = 50
    const url = await serve(t, (req, res) => {
      onResponseEnd(
        res,
        (info, _res, path) => {
          ends.push(`${path} ${info.outcome}`)
        },
        req.url!,
      )
      const n = Number(req.url!.slice(1))
      // Later requests answer first: each waits in Node's queue for the ones before it.
      setTimeout(() => res.end(String(n)), count - n)
    })
    const paths = Array.from({ length: count }, (_, i) => `/${i}`)
    const received = await rawExchange(url, pipelined(paths).replace(/\r\n\r\n$/, '\r\nConnection: close\r\n\r\n'))
    await until(() => ends.length === count)
    t.same(
      ends,
      paths.map((p) => `${p} finished`),
      'in request order, each once',
    )
    t.equal((received.toString().match(/HTTP\/1\.1 200 OK/g) ?? []).length, count)
    t.same(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning'),
      [],
      'no listener per queued response on the socket',
    )
  },
)

t.test(
  'onResponseEnd(): registered between finish and close, it runs once and the connection keeps no record of it',
  async (t) => {
    const infos: ResponseEndInfo[] = []
    const sockets = new Set<Socket>()
    const url = await serve(t, (req, res) => {
      sockets.add(req.socket)
      // Node detaches the socket on 'finish' and emits 'close' on the next tick.
      res.once('finish', () =>
        onResponseEnd(res, (info) => {
          infos.push(info)
        }),
      )
      res.end('done')
    })
    await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await until(() => infos.length === 2)
    t.same(
      infos.map((i) => i.outcome),
      ['finished', 'finished'],
    )
    for (const socket of sockets) {
      t.same(
        Object.getOwnPropertySymbols(socket).filter((s) => s.description === 'http-onion.queuedResponses'),
        [],
        'not taken for a queued response',
      )
    }
  },
)

t.test('onResponseEnd(): a listener runs in the async context it was registered in', async (t) => {
  const als = new AsyncLocalStorage<string>()
  const seen: Array<[string, string | undefined]> = []
  const url = await serve(t, (req, res) =>
    als.run(`request ${req.url}`, async () => {
      // Same tick, different stores: one resource per response could not tell these apart.
      onResponseEnd(res, () => {
        seen.push(['in run', als.getStore()])
      })
      als.run('nested', () =>
        onResponseEnd(res, () => {
          seen.push(['nested run', als.getStore()])
        }),
      )
      await tick(1)
      onResponseEnd(res, () => {
        seen.push(['after await', als.getStore()])
      })
      res.end('ok')
    }),
  )
  // And one registered outside any run: it sees no store, not a neighbour's.
  const outside = await serve(t, (_req, res) => {
    onResponseEnd(res, () => {
      seen.push(['outside', als.getStore()])
    })
    res.end()
  })
  await (await fetch(`${url}/a`)).text()
  await (await fetch(outside)).text()
  await until(() => seen.length === 4)
  t.same(seen, [
    ['after await', 'request /a'],
    ['nested run', 'nested'],
    ['in run', 'request /a'],
    ['outside', undefined],
  ])
})

t.test('onResponseEnd(): keeps the async context for an aborted exchange and a late registration', async (t) => {
  const als = new AsyncLocalStorage<string>()
  const seen: Array<[string, string | undefined]> = []
  const url = await serve(t, (req, res) =>
    als.run(`request ${req.url}`, () => {
      onResponseEnd(res, (info) => {
        seen.push([info.outcome, als.getStore()])
      })
      if (req.url === '/late') {
        res.end('done')
        // Registered after the exchange is over: it runs on the next tick, in this context.
        res.once('close', () =>
          als.run('late', () =>
            onResponseEnd(res, (info) => {
              seen.push([`late ${info.outcome}`, als.getStore()])
            }),
          ),
        )
      }
      // /abort never answers; the client leaves.
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET /abort HTTP/1.1\r\nHost: x\r\n\r\n')
  await tick(20)
  socket.destroy()
  await until(() => seen.length === 1)
  await (await fetch(`${url}/late`)).text()
  await until(() => seen.length === 3)
  t.same(seen, [
    ['aborted', 'request /abort'],
    ['finished', 'request /late'],
    ['late finished', 'late'],
  ])
})

t.test('onResponseEnd(): queued pipelined responses cut by the connection keep their contexts', async (t) => {
  const als = new AsyncLocalStorage<string>()
  const seen: string[] = []
  const url = await serve(t, (req, res) =>
    als.run(`request ${req.url}`, () => {
      onResponseEnd(res, () => {
        seen.push(String(als.getStore()))
      })
      if (req.url === '/0') res.write('started')
      else res.end('queued')
    }),
  )
  const socket = await openSocket(url)
  socket.write(pipelined(['/0', '/1']))
  await new Promise((ok) => socket.once('data', ok))
  socket.resetAndDestroy()
  await until(() => seen.length === 2)
  t.same(seen.sort(), ['request /0', 'request /1'])
})

t.test(
  'onResponseEndContextFree(): runs once with the same info, in order with bound listeners, in the context that ends the exchange',
  async (t) => {
    const als = new AsyncLocalStorage<string>()
    const seen: Array<[string, string | undefined, string, number | undefined]> = []
    const url = await serve(t, (req, res) =>
      als.run(`request ${req.url}`, () => {
        onResponseEnd(res, (info) => {
          seen.push(['bound outer', als.getStore(), info.outcome, info.bytesWritten])
        })
        onResponseEndContextFree(res, (info) => {
          seen.push(['free', als.getStore(), info.outcome, info.bytesWritten])
        })
        onResponseEnd(res, (info) => {
          seen.push(['bound inner', als.getStore(), info.outcome, info.bytesWritten])
        })
        // Ended from another context: that is the one the response's 'close' comes in.
        als.run('ending', () => res.end('ok'))
      }),
    )
    const received = await rawExchange(url, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await until(() => seen.length === 3)
    await tick(5)
    t.same(seen, [
      ['bound inner', 'request /a', 'finished', received.length],
      ['free', 'ending', 'finished', received.length],
      ['bound outer', 'request /a', 'finished', received.length],
    ])
  },
)

t.test('onResponseEndContextFree(): makes no async resource; onResponseEnd makes one per listener', async (t) => {
  const made = countEndListenerResources(t)
  let ended = 0
  const url = await serve(t, (req, res) => {
    const count = () => {
      ended++
    }
    if (req.url === '/bound') onResponseEnd(res, count)
    else onResponseEndContextFree(res, count)
    res.end()
  })
  for (const path of ['/free', '/free', '/bound']) await (await fetch(url + path)).text()
  await until(() => ended === 3)
  t.equal(made.count, 1, 'one resource, for the one bound listener')
})

t.test('onResponseEndContextFree(): a throwing listener is reported, and one registered late still runs', async (t) => {
  const seen = captureWarnings(t)
  const outcomes: string[] = []
  const url = await serve(t, (_q, res) => {
    onResponseEndContextFree(res, (info) => {
      outcomes.push(info.outcome)
    })
    onResponseEndContextFree(res, () => {
      throw new Error('sink broke')
    })
    res.end()
    res.once('close', () =>
      onResponseEndContextFree(res, (info) => {
        outcomes.push(`late ${info.outcome}`)
      }),
    )
  })
  await (await fetch(url)).text()
  await until(() => outcomes.length === 2)
  t.same(outcomes, ['finished', 'late finished'])
  const warnings = seen.filter((w) => w.name === 'HttpOnionError')
  t.equal(warnings.length, 1)
  t.match(warnings[0]!.message, /onResponseEnd listener: sink broke/)
})
