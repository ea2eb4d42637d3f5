import { createHash } from 'node:crypto'
import { createServer, ServerResponse } from 'node:http'
import { OutgoingMessage } from 'node:http'
import express from 'express'
import t from 'tap'
import type { RawHandler } from '../../lib/index.js'
import { onResponseStart, responseStarted } from '../../lib/core.js'
import { listen, serve } from '../helpers/serve.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

const get = (url: string) =>
  rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').then(parseRawResponse)

/** A handler that registers one listener which records what it saw and changes the response. */
function observed(respond: RawHandler) {
  const seen: Array<{ status: number; headers: Record<string, unknown> }> = []
  const handler: RawHandler = (req, res) => {
    onResponseStart(res, (res) => {
      seen.push({ status: res.statusCode, headers: res.getHeaders() })
      res.setHeader('x-listener', 'ran')
      res.removeHeader('x-remove-me')
      if (res.statusCode === 201) res.statusCode = 202
    })
    return respond(req, res)
  }
  return { seen, handler }
}

const forms: Array<[string, RawHandler, number, Record<string, string>]> = [
  [
    'writeHead(status)',
    (_q, res) => {
      res.writeHead(201)
      res.end('a')
    },
    202,
    {},
  ],
  [
    'writeHead(status, message)',
    (_q, res) => {
      res.writeHead(200, 'Fine')
      res.end('a')
    },
    200,
    {},
  ],
  [
    'writeHead(status, headersObject)',
    (_q, res) => {
      res.writeHead(200, { 'x-given': '1', 'x-remove-me': 'y' })
      res.end('a')
    },
    200,
    { 'x-given': '1' },
  ],
  [
    'writeHead(status, message, headers)',
    (_q, res) => {
      res.writeHead(200, 'Fine', { 'x-given': '2' })
      res.end('a')
    },
    200,
    { 'x-given': '2' },
  ],
  [
    'writeHead(status, rawHeaderArray)',
    (_q, res) => {
      res.writeHead(200, ['x-given', '3', 'set-cookie', 'a=1', 'set-cookie', 'b=2'])
      res.end('a')
    },
    200,
    { 'x-given': '3', 'set-cookie': 'a=1, b=2' },
  ],
  [
    'writeHead(status, arrayOfPairs)',
    (_q, res) => {
      res.writeHead(200, [['x-given', '4']] as unknown as string[])
      res.end('a')
    },
    200,
    { 'x-given': '4' },
  ],
  [
    'implicit header of write()',
    (_q, res) => {
      res.setHeader('x-remove-me', 'y')
      res.write('a')
      res.end()
    },
    200,
    {},
  ],
  [
    'implicit header of end()',
    (_q, res) => {
      res.statusCode = 201
      res.end('a')
    },
    202,
    {},
  ],
  [
    'flushHeaders()',
    (_q, res) => {
      res.flushHeaders()
      res.end('a')
    },
    200,
    {},
  ],
  [
    'setHeader then writeHead(status, headers)',
    (_q, res) => {
      res.setHeader('x-given', 'old')
      res.writeHead(200, { 'x-given': '5' })
      res.end('a')
    },
    200,
    { 'x-given': '5' },
  ],
]

for (const [name, respond, status, headers] of forms) {
  t.test(`onResponseStart(): fires once, sees and changes headers, for ${name}`, async (t) => {
    const { seen, handler } = observed(respond)
    const res = await get(await serve(t, handler))
    t.equal(seen.length, 1)
    t.equal(res.status, status)
    t.equal(res.headers['x-listener'], 'ran')
    t.notOk('x-remove-me' in res.headers)
    for (const [key, value] of Object.entries(headers)) {
      t.equal(res.headers[key], value, key)
      if (key !== 'set-cookie') t.equal(seen[0]!.headers[key], value, `listener saw ${key}`)
    }
    t.equal(res.body.toString(), 'a')
  })
}

t.test(
  'onResponseStart(): a custom reason phrase is kept, and dropped when a listener changes the status',
  async (t) => {
    const keep = await get(
      await serve(t, (_q, res) => {
        onResponseStart(res, () => undefined)
        res.writeHead(200, 'Fine').end()
      }),
    )
    t.equal(keep.statusText, 'Fine')
    const changed = await get(
      await serve(t, (_q, res) => {
        onResponseStart(res, (res) => {
          res.statusCode = 503
        })
        res.writeHead(200, 'Fine').end()
      }),
    )
    t.equal(changed.status, 503)
    t.equal(changed.statusText, 'Service Unavailable')
  },
)

t.test('onResponseStart(): listeners of three layers run innermost (last registered) first', async (t) => {
  const order: string[] = []
  const res = await get(
    await serve(t, (_q, res) => {
      for (const name of ['outer', 'middle', 'inner']) {
        onResponseStart(
          res,
          (res, who) => {
            order.push(who)
            res.setHeader('x-last', who)
          },
          name,
        )
      }
      res.end()
    }),
  )
  t.same(order, ['inner', 'middle', 'outer'])
  t.equal(res.headers['x-last'], 'outer', 'the outer layer has the last word')
})

t.test('onResponseStart(): no second firing when the handler calls writeHead twice', async (t) => {
  let fired = 0
  let secondError: unknown
  const res = await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, () => {
        fired++
      })
      res.writeHead(200)
      try {
        res.writeHead(500)
      } catch (err) {
        secondError = err
      }
      res.end('x')
    }),
  )
  t.equal(fired, 1)
  t.equal(res.status, 200)
  t.match(secondError, { code: 'ERR_HTTP_HEADERS_SENT' })
})

t.test('onResponseStart(): no second firing when the handler calls end twice', async (t) => {
  let fired = 0
  await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, () => {
        fired++
      })
      res.end('x')
      res.end()
    }),
  )
  t.equal(fired, 1)
})

t.test('onResponseStart(): never fires for headers flushed before it was added', async (t) => {
  let fired = 0
  let registered: boolean | undefined
  let startedBefore: boolean | undefined
  await get(
    await serve(t, (_q, res) => {
      res.flushHeaders()
      startedBefore = responseStarted(res)
      registered = onResponseStart(res, () => {
        fired++
      })
      res.end('x')
    }),
  )
  t.equal(registered, false)
  t.equal(startedBefore, true)
  t.equal(fired, 0)
})

t.test('onResponseStart(): a listener registered while listeners run is refused', async (t) => {
  let late: boolean | undefined
  let lateFired = false
  await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, (res) => {
        late = onResponseStart(res, () => {
          lateFired = true
        })
      })
      res.end()
    }),
  )
  t.equal(late, false)
  t.equal(lateFired, false)
})

t.test(
  'onResponseStart(): a throwing listener stops the headers; a later answer still carries what listeners set',
  async (t) => {
    let thrown: unknown
    let ranAfterThrow = false
    const res = await get(
      await serve(t, (_q, res) => {
        onResponseStart(res, (res) => {
          ranAfterThrow = true
          res.setHeader('x-outer', 'kept')
        })
        onResponseStart(res, () => {
          throw new Error('listener failed')
        })
        try {
          res.end('never sent')
        } catch (err) {
          thrown = err
          t.equal(res.headersSent, false)
          res.statusCode = 500
          res.end('answered by the boundary')
        }
      }),
    )
    t.match(thrown, { message: 'listener failed' })
    t.equal(ranAfterThrow, true, 'the other listeners still ran')
    t.equal(res.status, 500)
    t.equal(res.headers['x-outer'], 'kept')
    t.equal(res.body.toString(), 'answered by the boundary')
  },
)

t.test('onResponseStart(): an invalid status is refused by Node without firing listeners', async (t) => {
  let fired = 0
  let error: unknown
  const res = await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, () => {
        fired++
      })
      try {
        res.writeHead(42)
      } catch (err) {
        error = err
      }
      res.end('ok')
    }),
  )
  t.match(error, { code: 'ERR_HTTP_INVALID_STATUS_CODE' })
  t.equal(fired, 1, 'fired once, for the valid response that followed')
  t.equal(res.status, 200)
})

t.test('onResponseStart(): an invalid header passed to writeHead throws before anything fires', async (t) => {
  let fired = 0
  let error: unknown
  const res = await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, () => {
        fired++
      })
      try {
        res.writeHead(200, { 'x-bad': 'a\r\nb' })
      } catch (err) {
        error = err
      }
      res.end('ok')
    }),
  )
  t.match(error, { code: 'ERR_INVALID_CHAR' })
  t.equal(fired, 1)
  t.equal(res.status, 200)
})

t.test('onResponseStart(): an odd flat header array is refused like Node refuses it', async (t) => {
  let error: unknown
  await get(
    await serve(t, (_q, res) => {
      onResponseStart(res, () => undefined)
      try {
        res.writeHead(200, ['x-a'])
      } catch (err) {
        error = err
      }
      res.end()
    }),
  )
  t.match(error, { code: 'ERR_INVALID_ARG_VALUE' })
})

t.test('onResponseStart(): works under Express, whose response has its own prototype', async (t) => {
  const app = express()
  const seen: number[] = []
  app.use((_req, res, next) => {
    onResponseStart(res, (res) => {
      seen.push(res.statusCode)
      res.setHeader('x-listener', 'ran')
    })
    next()
  })
  app.get('/', (_req, res) => {
    res.status(201).json({ ok: true })
  })
  const { url } = await listen(t, (await import('node:http')).createServer(app))
  const res = await get(url)
  t.equal(res.status, 201)
  t.equal(res.headers['x-listener'], 'ran')
  t.same(JSON.parse(res.body.toString()), { ok: true })
  t.same(seen, [201])
})

t.test('onResponseStart(): works when registered before Express swaps the prototype', async (t) => {
  const app = express()
  app.get('/', (_req, res) => {
    res.send('from express')
  })
  const handler: RawHandler = (req, res) => {
    onResponseStart(res, (res) => res.setHeader('x-outer', 'raw stack'))
    app(req as never, res as never)
  }
  const res = await get(await serve(t, handler))
  t.equal(res.headers['x-outer'], 'raw stack')
  t.equal(res.body.toString(), 'from express')
})

/** A GET that answers last, then `uploads` pipelined POSTs with `Expect: 100-continue`, in one write. */
const expectPipeline = (uploads: string[]): string =>
  'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' +
  uploads
    .map(
      (path, i) =>
        `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nAccept-Encoding: gzip\r\nContent-Length: 4\r\n` +
        `${i === uploads.length - 1 ? 'Connection: close\r\n' : ''}\r\ndata`,
    )
    .join('')

/** The status lines of a pipelined exchange, in the order they came. */
const statusLines = (raw: Buffer): string[] =>
  [...raw.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n/g)].map((m) => m[1]!)

// Node 20 buffers a queued response's `100 Continue` at once but its head only with the
// first body chunk, and puts the head in front when that chunk is a Buffer. The core works
// around it (lib/core/response-start.ts, sendHeadAfterInterim). This test pins Node's
// behaviour with plain node:http, no library involved.
t.test(
  'node:http (no library): a queued response with a Buffer body gets its head before its 100 Continue',
  async (t) => {
    let answered = 0
    const { url } = await listen(
      t,
      createServer((req, res) => {
        if (req.url === '/slow') {
          const wait = setInterval(() => {
            if (answered === 1) {
              clearInterval(wait)
              res.end('slow')
            }
          }, 1)
          return
        }
        req.resume()
        req.on('end', () => {
          res.end(Buffer.from('done'))
          answered++
        })
      }),
    )
    const raw = await rawExchange(url, expectPipeline(['/upload']))
    t.same(
      statusLines(raw),
      ['200', '200', '100'],
      'Node still writes "200 … 100 Continue … body". If this fails, Node fixed it (check the order is 100 before 200): ' +
        'remove sendHeadAfterInterim from lib/core/response-start.ts, and this test',
    )
  },
)

t.test("onResponseStart(): a queued response's 100 Continue goes out before its head, whatever its body", async (t) => {
  let answered = 0
  const url = await serve(t, (req, res) => {
    onResponseStart(res, () => undefined)
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
      if (req.url === '/buffer') res.end(Buffer.from('done'))
      else if (req.url === '/string') res.end('done')
      else {
        res.write(Buffer.from('do'))
        res.end(Buffer.from('ne'))
      }
      answered++
    })
  })
  const raw = await rawExchange(url, expectPipeline(['/buffer', '/string', '/chunks']))
  t.same(statusLines(raw), ['200', '100', '200', '100', '200', '100', '200'])
  t.equal((raw.toString('latin1').match(/\r\n\r\ndone/g) ?? []).length, 2, 'the two whole bodies follow their heads')
})

// The wrapper relies on these Node internals: every header path ends in `this.writeHead`
// (write and end through _implicitHeader, flushHeaders too), writeHead's argument forms,
// and the `errored`/`writableFinished` semantics read at the end. If Node changes any of
// them, this test fails and the wrapper must be reviewed against the new source.
t.test('onResponseStart(): pins the Node methods it wraps or relies on', async (t) => {
  const sources = [
    ServerResponse.prototype.writeHead,
    (ServerResponse.prototype as unknown as { _implicitHeader: () => void })._implicitHeader,
    OutgoingMessage.prototype.flushHeaders,
    OutgoingMessage.prototype.end,
    OutgoingMessage.prototype.destroy,
  ].map((fn) => fn.toString())
  t.match(sources[1], /this\.writeHead\(this\.statusCode\)/)
  t.match(sources[2], /this\._implicitHeader\(\)/)
  const digest = createHash('sha256').update(sources.join('\n')).digest('hex').slice(0, 16)
  const pinned: Record<string, string> = { 20: PINNED_NODE_20 }
  const major = process.versions.node.split('.')[0]!
  t.equal(
    digest,
    pinned[major],
    `Node ${process.versions.node}: review lib/core/response-start.ts against the new sources, then update the pin`,
  )
})

const PINNED_NODE_20 = '16fbe96f95833bb6'
