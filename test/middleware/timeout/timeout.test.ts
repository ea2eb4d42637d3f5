import { Agent, request, type IncomingMessage } from 'node:http'
import { connect } from 'node:http2'
import { Readable, pipeline } from 'node:stream'
import t, { type Test } from 'tap'
import {
  compose,
  errorBoundary,
  getRequestSignal,
  RequestAbortError,
  timeout,
  tryGetRequestSignal,
  type ErrorReport,
  type RawHandler,
  type TimeoutOptions,
} from '../../../lib/index.js'
import { onResponseStart } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { serveH2 } from '../../helpers/h2.js'
import { openSocket, parseRawResponse, rawExchange, rawGet } from '../../helpers/raw.js'
import { serve, serveWithServer } from '../../helpers/serve.js'
import { silenceWarningOutput, tick, until } from '../../helpers/wait.js'
import { fakeTimers } from '../../helpers/timers.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

/** Warnings and errors the process reports while `t` runs. */
function troubles(t: Test): unknown[] {
  const seen: unknown[] = []
  const onWarning = (w: Error) => {
    if (w.name !== 'DeprecationWarning') seen.push(w)
  }
  const onUncaught = (err: Error) => seen.push(err)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  process.prependListener('uncaughtException', onUncaught)
  t.teardown(() => {
    process.off('warning', onWarning)
    process.off('uncaughtException', onUncaught)
  })
  return seen
}

t.test(
  'timeout(): past the deadline, a handler ignoring the signal: one 503, its late writes go nowhere',
  async (t) => {
    const seen = troubles(t)
    const url = await serve(
      t,
      timeout({ ms: 30 })((req, res) => {
        if (req.url === '/next') {
          res.end('next')
          return
        }
        // Ignores the signal and answers far too late.
        setTimeout(() => {
          res.setHeader('x-late', '1')
          res.writeHead(200)
          res.write('late ')
          res.end('answer')
        }, 80)
      }),
    )
    const socket = await openSocket(url)
    let text = ''
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
    })
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await tick(120)
    socket.write('GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await new Promise((ok) => socket.once('close', ok))
    t.equal((text.match(/HTTP\/1\.1 /g) ?? []).length, 2)
    t.match(text, /^HTTP\/1\.1 503 Service Unavailable/)
    t.match(text, /"code":"timeout","message":"The server did not answer in time"/)
    t.notOk(text.includes('late'))
    t.notOk(text.includes('x-late'))
    t.match(text, /next$/)
    t.same(seen, [])
  },
)

t.test('timeout(): a handler honouring the signal stops; its rejection with the reason is not an error', async (t) => {
  const reports: ErrorReport[] = []
  let reason: unknown
  let stoppedAt = 0
  const url = await serve(
    t,
    compose(
      errorBoundary({
        onError: (r) => {
          reports.push(r)
        },
      }),
      timeout({ ms: 20 }),
    )(async (req) => {
      const signal = getRequestSignal(req)
      t.equal(signal.aborted, false)
      await new Promise((_ok, fail) =>
        signal.addEventListener('abort', () => {
          stoppedAt = Date.now()
          fail(signal.reason)
        }),
      )
    }),
  )
  const started = Date.now()
  const res = await fetch(url)
  t.equal(res.status, 503)
  await tick(10)
  t.ok(stoppedAt - started < 1000)
  t.same(reports, [], 'the boundary saw nothing to report')
  const url2 = await serve(
    t,
    timeout({ ms: 10 })(async (req) => {
      try {
        await new Promise((_ok, fail) =>
          getRequestSignal(req).addEventListener('abort', () => fail(getRequestSignal(req).reason)),
        )
      } catch (err) {
        reason = err
      }
    }),
  )
  await fetch(url2)
  await tick(5)
  t.type(reason, RequestAbortError)
  t.equal((reason as RequestAbortError).kind, 'deadline')
  t.equal((reason as RequestAbortError).name, 'TimeoutError')
  t.match((reason as RequestAbortError).message, /deadline of 10 ms passed; the client was answered 503/)
})

t.test('timeout(): a fetch given the signal is cancelled at the deadline', async (t) => {
  // An upstream that never answers.
  const upstream = await serve(t, () => undefined)
  let failure: unknown
  const url = await serve(
    t,
    timeout({ ms: 30 })(async (req, res) => {
      try {
        await fetch(upstream, { signal: getRequestSignal(req) })
        res.end('unexpected')
      } catch (err) {
        failure = err
        throw err
      }
    }),
  )
  t.equal((await fetch(url)).status, 503)
  await tick(20)
  t.type(failure, RequestAbortError, 'fetch rejects with the signal reason')
})

t.test(
  'timeout(): other rejections after the deadline still reach the error boundary, which does not answer twice',
  async (t) => {
    const reports: ErrorReport[] = []
    const url = await serve(
      t,
      compose(
        errorBoundary({
          onError: (r) => {
            reports.push(r)
          },
        }),
        timeout({ ms: 10 }),
      )(async () => {
        await tick(40)
        throw new Error('late bug')
      }),
    )
    const res = await rawGet(url)
    t.equal(res.status, 503)
    await until(() => reports.length > 0)
    t.equal(reports.length, 1)
    t.equal(reports[0]!.action, 'none')
    t.match((reports[0]!.error as Error).message, 'late bug')
  },
)

t.test('timeout(): 504 and Retry-After by option; plain text for a client that prefers it', async (t) => {
  const url = await serve(
    t,
    timeout({ ms: 10, status: 504, retryAfterSeconds: 7 })(() => undefined),
  )
  const res = await httpRequest(url, { headers: { accept: 'text/plain' } })
  t.equal(res.status, 504)
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.text, '504 timeout: The server did not get an answer in time\n')
})

t.test('timeout(): per-path deadlines, matched on the matchable path, case-insensitively; 0 for none', async (t) => {
  const { timers, pending, fire } = fakeTimers()
  let arrived: () => void = () => undefined
  const url = await serve(
    t,
    timeout({
      ms: 1000,
      timers,
      perPath: [
        { paths: ['/reports/*'], ms: 60_000 },
        { paths: ['/events'], ms: 0 },
        { paths: [/^\/exports\/\d+$/], ms: 5000, maxDurationMs: 9000 },
      ],
    })((req, res) => {
      arrived()
      setTimeout(() => {
        if (!res.writableEnded) res.end(req.url)
      }, 20)
    }),
  )
  const cases: Array<[string, number[]]> = [
    ['/other', [1000]],
    ['/reports/q1', [60_000]],
    ['/REPORTS/q1', [60_000]],
    ['/reports/q1/', [60_000]],
    ['/events', []],
    ['/exports/7', [5000]],
    ['/%zz', [1000]],
    // Ambiguous targets get the top-level deadline: routers route /x/..%2fevents as /x/:page.
    ['/%72eports/q1', [1000]],
    ['//reports/q1', [1000]],
    ['/x/../reports/q1', [1000]],
    ['/x/..%2fevents', [1000]],
    ['/events;x', [1000]],
  ]
  for (const [path, expected] of cases) {
    const handled = new Promise<void>((ok) => {
      arrived = ok
    })
    const done = rawGet(url, path)
    await handled
    t.same(
      [...pending.values()].map((p) => p.ms),
      expected,
      path,
    )
    await done
    await until(() => pending.size === 0)
    t.equal(pending.size, 0, `${path}: the timer was cleared when the exchange ended`)
  }
  void fire
})

t.test('timeout(): ambiguousPaths "refuse" answers ambiguous targets 400, no timer started', async (t) => {
  const { timers, pending } = fakeTimers()
  let handled = 0
  const url = await serve(
    t,
    timeout({ ms: 1000, timers, perPath: [{ paths: ['/reports/*'], ms: 60_000 }], ambiguousPaths: 'refuse' })(
      (_req, res) => {
        handled++
        res.end()
      },
    ),
  )
  for (const path of ['/x/..%2freports/q1', '//reports/q1', '/%zz']) {
    const res = await rawGet(url, path)
    t.equal(res.status, 400, path)
    t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
  }
  t.equal(handled, 0)
  t.equal(pending.size, 0)
  t.equal((await rawGet(url, '/reports/q1')).status, 200)
})

t.test('timeout(): with injected timers, firing the deadline answers 503 and aborts the signal', async (t) => {
  const { timers, pending, fire } = fakeTimers()
  let signal!: AbortSignal
  const url = await serve(
    t,
    timeout({ timers })((req) => {
      signal = getRequestSignal(req)
    }),
  )
  const answer = rawGet(url)
  while (pending.size === 0) await tick(1)
  t.same(fire(), [30_000], 'the default deadline is 30 s')
  const res = await answer
  t.equal(res.status, 503)
  t.equal(signal.aborted, true)
  t.equal((signal.reason as RequestAbortError).kind, 'deadline')
  t.equal(pending.size, 0)
})

/** A raw connection that records what it receives, and when it closes. */
async function rawClient(url: string) {
  const socket = await openSocket(url)
  socket.on('error', () => undefined)
  let received = ''
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1')
  })
  const closed = new Promise<void>((ok) => socket.once('close', () => ok()))
  return { socket, closed, received: () => received }
}

t.test(
  'timeout(): a request body that stops arriving gets 408 with Connection: close, and the connection closes',
  async (t) => {
    const { timers, pending, fire } = fakeTimers()
    let signal!: AbortSignal
    let read = 0
    const url = await serve(
      t,
      timeout({ timers, status: 504, retryAfterSeconds: 5 })((req) => {
        signal = getRequestSignal(req)
        // Reads the body as it comes: the wait is the client's.
        req.on('data', (chunk: Buffer) => {
          read += chunk.length
        })
        req.on('error', () => undefined)
      }),
    )
    const client = await rawClient(url)
    client.socket.write(
      'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(10),
    )
    await until(() => pending.size === 1 && read === 10)
    fire()
    await client.closed
    const res = parseRawResponse(Buffer.from(client.received(), 'latin1'))
    t.equal(res.status, 408)
    t.equal(res.headers.connection, 'close')
    t.equal(res.headers['retry-after'], undefined, "Retry-After belongs to the server's 503/504")
    t.match(res.headers['content-type'], /^application\/json/)
    t.same(JSON.parse(res.body.toString()), {
      status: 408,
      code: 'request_timeout',
      message: 'The request body did not arrive in time',
    })
    const reason = signal.reason as RequestAbortError
    t.equal(reason.kind, 'deadline')
    t.match(reason.message, /request body still incomplete; the client was answered 408 and the connection closed/)
  },
)

t.test('timeout(): a chunked body that stops before its last chunk, unread by the handler, gets 408', async (t) => {
  const { timers, pending, fire } = fakeTimers()
  let arrived!: IncomingMessage
  const url = await serve(
    t,
    timeout({ timers })((req) => {
      arrived = req
    }),
  )
  const client = await rawClient(url)
  client.socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
  await until(() => pending.size === 1 && arrived?.readableLength === 5)
  fire()
  await client.closed
  t.equal(parseRawResponse(Buffer.from(client.received(), 'latin1')).status, 408)
})

t.test(
  "timeout(): the server's own stall stays a 503: a complete body, or a full request stream it does not read",
  async (t) => {
    const { timers, pending, fire } = fakeTimers()
    const requests: IncomingMessage[] = []
    const url = await serve(
      t,
      timeout({ timers })((req) => {
        requests.push(req)
      }),
    )

    // A small body that arrived whole: nothing is the client's fault.
    const whole = await rawClient(url)
    whole.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
    await until(() => pending.size === 1 && requests[0]?.complete === true)
    fire()
    await whole.closed
    t.equal(parseRawResponse(Buffer.from(whole.received(), 'latin1')).status, 503)

    // A large body the handler never reads: the parser stopped reading the socket once the
    // request stream was full, so the client is blocked by the server, not stalling.
    const blocked = await rawClient(url)
    blocked.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n')
    blocked.socket.write(Buffer.alloc(8 * 1024 * 1024, 'x'))
    await until(
      () =>
        pending.size === 1 &&
        requests.length === 2 &&
        requests[1]!.readableLength >= requests[1]!.readableHighWaterMark,
    )
    t.notOk(requests[1]!.complete, 'the body is incomplete')
    fire()
    await until(() => blocked.received().includes('"code":"timeout"'))
    t.equal(parseRawResponse(Buffer.from(blocked.received(), 'latin1')).status, 503)
    blocked.socket.destroy()
  },
)

t.test(
  'timeout(): over HTTP/2 a stalled body gets 408 without connection headers, and the stream is reset with NO_ERROR',
  async (t) => {
    const { timers, pending, fire } = fakeTimers()
    let read = 0
    const url = await serveH2(
      t,
      timeout({ timers })((req) => {
        req.on('data', (chunk: Buffer) => {
          read += chunk.length
        })
      }),
    )
    const session = connect(url)
    t.teardown(() => {
      session.destroy()
    })
    const stream = session.request({ ':method': 'POST', ':path': '/', 'content-length': '100' })
    stream.write('x'.repeat(10))
    const headers = new Promise<Record<string, unknown>>((ok) => stream.once('response', ok))
    let body = ''
    stream.on('data', (d: Buffer) => {
      body += d.toString()
    })
    let rstCode: number | undefined
    stream.once('close', () => {
      rstCode = stream.rstCode
    })
    await until(() => pending.size === 1 && read === 10)
    fire()
    const head = await headers
    t.equal(head[':status'], 408)
    t.equal(head.connection, undefined)
    await until(() => rstCode !== undefined)
    t.equal(rstCode, 0, 'RST_STREAM NO_ERROR: stop sending, the answer is complete')
    t.match(JSON.parse(body), { status: 408, code: 'request_timeout' })
  },
)

t.test('timeout(): the signal aborts with kind clientGone when the client disconnects', async (t) => {
  let signal!: AbortSignal
  const aborted = new Promise<void>((ok) => {
    void serve(
      t,
      timeout({ ms: 5000 })((req) => {
        signal = getRequestSignal(req)
        signal.addEventListener('abort', () => ok())
      }),
    ).then(async (url) => {
      const socket = await openSocket(url)
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await until(() => signal !== undefined)
      socket.destroy()
    })
  })
  await aborted
  const reason = signal.reason as RequestAbortError
  t.equal(reason.kind, 'clientGone')
  t.equal(reason.name, 'AbortError')
  t.equal(reason.code, 'ERR_REQUEST_ABORTED')
})

t.test('timeout(): a signal asked for after the end is already aborted', async (t) => {
  let req!: IncomingMessage
  const url = await serve(
    t,
    timeout({ ms: 10 })((r) => {
      req = r
    }),
  )
  await rawGet(url)
  await tick(5)
  t.equal(getRequestSignal(req).aborted, true)
  t.equal((getRequestSignal(req).reason as RequestAbortError).kind, 'deadline')
})

t.test('timeout(): a response that failed aborts the signal with kind responseError', async (t) => {
  let signal!: AbortSignal
  const url = await serve(
    t,
    timeout({ ms: 5000 })((req, res) => {
      signal = getRequestSignal(req)
      const source = new Readable({
        read() {
          this.push('a')
          this.destroy(new Error('source broke'))
        },
      })
      pipeline(source, res, () => undefined)
    }),
  )
  await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').catch(() => undefined)
  await until(() => signal.aborted)
  t.equal((signal.reason as RequestAbortError).kind, 'responseError')
  t.match((signal.reason as RequestAbortError).message, /source broke/)
})

t.test('timeout(): a response already streaming at the deadline is left alone without maxDurationMs', async (t) => {
  let signal!: AbortSignal
  const url = await serve(
    t,
    timeout({ ms: 20 })(async (req, res) => {
      signal = getRequestSignal(req)
      res.write('start ')
      await tick(60)
      res.end('end')
    }),
  )
  const res = await rawGet(url)
  t.equal(res.status, 200)
  t.equal(res.body.toString(), 'start end')
  t.equal(signal.aborted, false, 'a finished exchange does not abort the signal')
})

t.test('timeout(): maxDurationMs cuts a stream that runs too long, with kind maxDuration', async (t) => {
  let signal!: AbortSignal
  let timer: NodeJS.Timeout | undefined
  const url = await serve(
    t,
    timeout({ ms: 20, maxDurationMs: 60 })((req, res) => {
      signal = getRequestSignal(req)
      res.write('tick\n')
      timer = setInterval(() => {
        if (!res.destroyed) res.write('tick\n')
      }, 5)
      res.once('close', () => clearInterval(timer))
    }),
  )
  const started = Date.now()
  const raw = (await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString('latin1')
  const took = Date.now() - started
  t.match(raw, /^HTTP\/1\.1 200/)
  t.notOk(raw.endsWith('0\r\n\r\n'), 'the body is visibly broken')
  t.ok(took >= 55 && took < 1000, `cut after about 60 ms (${took})`)
  t.equal((signal.reason as RequestAbortError).kind, 'maxDuration')
})

t.test('timeout(): maxDurationMs without a deadline answers 503 when nothing was sent', async (t) => {
  const { timers, pending, fire } = fakeTimers()
  let signal!: AbortSignal
  const url = await serve(
    t,
    timeout({ ms: 0, maxDurationMs: 500, timers })((req) => {
      signal = getRequestSignal(req)
    }),
  )
  const answer = rawGet(url)
  while (pending.size === 0) await tick(1)
  t.same(fire(), [500])
  t.equal((await answer).status, 503)
  t.equal((signal.reason as RequestAbortError).kind, 'maxDuration')
})

t.test('timeout(): maxDurationMs also cuts a complete response a client reads too slowly', async (t) => {
  const { timers, pending, fire } = fakeTimers()
  const url = await serve(
    t,
    timeout({ ms: 100, maxDurationMs: 300, timers })((_req, res) => {
      res.end(Buffer.alloc(16 * 1024 * 1024, 'x'))
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  socket.pause()
  while (pending.size === 0) await tick(1)
  t.same(fire(), [100], 'deadline: headers are out, nothing to do yet')
  t.same(fire(), [200], 'then the rest of the maximum duration')
  const closed = new Promise((ok) => socket.once('close', ok))
  socket.resume()
  socket.on('data', () => undefined)
  await closed
  t.equal(pending.size, 0)
})

t.test('timeout(): a failing timeout answer (a listener that throws) destroys the connection, no crash', async (t) => {
  const seen: Error[] = []
  const onWarning = (w: Error) => seen.push(w)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const url = await serve(
    t,
    timeout({ ms: 10 })((_req, res) => {
      onResponseStart(res, () => {
        throw new Error('listener broke')
      })
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  socket.resume()
  await new Promise((ok) => socket.once('close', ok))
  await tick(5)
  t.ok(seen.some((w) => /timeout\(\): could not send the timeout answer: listener broke/.test(w.message)))
})

t.test('timeout(): 10,000 requests timing out leave no timers behind', { timeout: 120_000 }, async (t) => {
  const { url, server } = await serveWithServer(
    t,
    timeout({ ms: 1, maxDurationMs: 60_000 })((req, res) => {
      // A third honour the signal with a timer of their own, a third ignore it entirely, a
      // third start in time and finish late (so the maximum-duration timer is armed).
      if (req.url === '/honour') {
        const own = setTimeout(() => undefined, 60_000)
        getRequestSignal(req).addEventListener('abort', () => clearTimeout(own))
      } else if (req.url === '/stream') {
        res.write('started ')
        setTimeout(() => res.end('finished'), 2)
      }
    }),
  )
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  const one = (path: string) =>
    new Promise<number>((ok, fail) => {
      request(`${url}${path}`, { agent }, (res) => {
        res.resume()
        res.on('end', () => ok(res.statusCode!))
      })
        .on('error', fail)
        .end()
    })
  await one('/warm')
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  let next = 0
  const statuses = new Map<number, number>()
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < 10_000) {
        const i = next++
        const status = await one(['/honour', '/ignore', '/stream'][i % 3]!)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    }),
  )
  t.same(Object.fromEntries(statuses), { 503: 6667, 200: 3333 })
  agent.destroy()
  server.closeIdleConnections()
  await until(() => timers() <= before)
  t.equal(timers(), before, `active timers: ${timers()} after, ${before} before`)
})

t.test(
  'timeout(): nested timeouts: the earlier deadline answers and aborts the signal the handler holds',
  async (t) => {
    let signal!: AbortSignal
    const url = await serve(
      t,
      compose(
        timeout({ ms: 20 }),
        timeout({ ms: 60_000 }),
      )(async (req) => {
        signal = getRequestSignal(req)
        await new Promise((ok) => signal.addEventListener('abort', ok))
      }),
    )
    const started = Date.now()
    t.equal((await rawGet(url)).status, 503)
    t.ok(Date.now() - started < 5000)
    t.equal(signal.aborted, true)
    t.equal((signal.reason as RequestAbortError).kind, 'deadline')
    t.match((signal.reason as RequestAbortError).message, /deadline of 20 ms/)
  },
)

t.test('timeout(): a handler answering in time clears its timer and keeps its signal', async (t) => {
  const { timers, pending } = fakeTimers()
  let signal!: AbortSignal
  const url = await serve(
    t,
    timeout({ timers })((req, res) => {
      signal = getRequestSignal(req)
      res.end('fast')
    }),
  )
  t.equal((await rawGet(url)).body.toString(), 'fast')
  await until(() => pending.size === 0)
  t.equal(pending.size, 0)
  t.equal(signal.aborted, false)
})

t.test('timeout(): getRequestSignal without timeout() says what to mount', async (t) => {
  let message = ''
  let tried: AbortSignal | undefined = new AbortController().signal
  const url = await serve(t, (req, res) => {
    try {
      getRequestSignal(req)
    } catch (err) {
      message = (err as Error).message
    }
    tried = tryGetRequestSignal(req)
    res.end()
  })
  await rawGet(url)
  t.equal(message, 'getRequestSignal(): no signal on this request; mount timeout() before this handler.')
  t.equal(tried, undefined)
})

t.test(
  'timeout(): passes responses through: empty end, HEAD, 204, 304, writeHead with headers, backpressure',
  async (t) => {
    const handler: RawHandler = async (req, res) => {
      if (req.url === '/empty') res.end()
      else if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else if (req.url === '/writehead') {
        res.writeHead(201, { 'x-given': 'yes' })
        res.end('made')
      } else if (req.url === '/stream') {
        const chunk = Buffer.alloc(64 * 1024, 'x')
        const waited = await writeWithBackpressure(res, repeated(chunk, 64))
        res.end(`waited ${waited > 0}`)
      } else res.end('body')
    }
    const url = await serve(t, timeout({ ms: 5000 })(handler))
    t.equal((await rawGet(url, '/empty')).body.length, 0)
    t.equal((await rawGet(url, '/204')).status, 204)
    t.equal((await rawGet(url, '/304')).status, 304)
    const head = await rawGet(url, '/head', 'HEAD')
    t.equal(head.status, 200)
    t.equal(head.body.length, 0)
    const made = await rawGet(url, '/writehead')
    t.equal(made.headers['x-given'], 'yes')
    const socket = await openSocket(url)
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    socket.pause()
    await tick(50)
    let text = ''
    socket.on('data', (d: Buffer) => {
      text = (text + d.toString('latin1')).slice(-100)
    })
    socket.resume()
    await new Promise((ok) => socket.once('close', ok))
    t.match(text, /waited true/)
  },
)

t.test('timeout(): a handler that throws propagates, and its timer is cleared', async (t) => {
  const { timers, pending } = fakeTimers()
  const url = await serve(
    t,
    compose(timeout({ timers }))(() => {
      throw new Error('boom')
    }),
  )
  const res = await rawGet(url)
  t.equal(res.status, 599, 'the test server saw the error')
  await until(() => pending.size === 0)
  t.equal(pending.size, 0)
  const asyncUrl = await serve(
    t,
    timeout({ timers })(async () => {
      throw new Error('async boom')
    }),
  )
  t.equal((await rawGet(asyncUrl)).body.toString(), 'async boom')
})

t.test('timeout(): explain() shows the deadline; it sits inside errorBoundary', async (t) => {
  const stack = compose(
    errorBoundary(),
    timeout({ ms: 5000, maxDurationMs: 60_000, perPath: [{ paths: ['/x'], ms: 1 }], status: 504 }),
  )
  t.match(stack.explain(), /timeout \(5000 ms, max 60000 ms, 1 per-path, 504\)/)
  t.match(stack.explain(), /ok\s+errorBoundary wraps timeout/)
  t.match(compose(timeout({ ms: 0 })).explain(), /timeout \(no deadline, 503\)/)
})

t.test('timeout(): config: rejects bad options', async (t) => {
  const bad = (options: TimeoutOptions, message: RegExp) =>
    t.throws(() => timeout(options), { name: 'ConfigError', message })
  bad(
    { ms: -1 },
    /timeout\(\): option "ms" must be an integer from 0 to 2147483647; received -1 \(number\)\. Use 0 for no deadline\./,
  )
  bad({ ms: 1.5 }, /option "ms" must be an integer/)
  bad({ maxDurationMs: 'long' as never }, /option "maxDurationMs" must be an integer/)
  bad({ ms: 5000, maxDurationMs: 1000 }, /option "maxDurationMs" must be 0 or at least ms \(5000\); received 1000/)
  bad({ status: 500 as never }, /option "status" must be one of 503, 504; received 500/)
  bad({ retryAfterSeconds: -1 }, /option "retryAfterSeconds" must be an integer/)
  bad({ perPath: {} as never }, /option "perPath" must be an array/)
  bad({ perPath: [null as never] }, /option "perPath\[0\]" must be an object/)
  bad(
    { perPath: [{ paths: ['/x'], timeout: 5 } as never] },
    /^timeout\(\): unknown option "perPath\[0\]\.timeout"; known options of perPath\[0\] are paths, ms, maxDurationMs\.$/,
  )
  bad(
    { perPath: [{ paths: ['/x'] }, { paths: ['/y'], maxDuration: 5 } as never] },
    /^timeout\(\): unknown option "perPath\[1\]\.maxDuration"; did you mean "perPath\[1\]\.maxDurationMs"\?$/,
  )
  bad(
    { perPath: [{ ms: 5 } as never] },
    /option "perPath\[0\]\.paths" must be an array of path patterns; received undefined/,
  )
  bad(
    { ms: 500, maxDurationMs: 1000, perPath: [{ paths: ['/x'], ms: 5000 }] },
    /option "perPath\[0\]\.maxDurationMs" must be 0 or at least perPath\[0\]\.ms \(5000\); received 1000/,
  )
  bad({ perPath: [{ paths: ['x'] }] }, /option "perPath\[0\]\.paths" must be path patterns/)
  bad(
    { perPath: [{ paths: ['/x'], ms: 100, maxDurationMs: 50 }] },
    /option "perPath\[0\]\.maxDurationMs" must be 0 or at least perPath\[0\]\.ms \(100\)/,
  )
  bad({ caseSensitive: 1 as never }, /option "caseSensitive" must be true or false/)
  bad(
    { ambiguousPaths: 'base' as never },
    /option "ambiguousPaths" must be one of "fail-closed", "refuse"; received "base"/,
  )
  bad({ timers: null as never }, /option "timers" must be an object/)
  bad({ timers: { setTimeout: () => 1 } as never }, /option "timers\.clearTimeout" must be a function/)
  bad(
    { deadline: 5 } as never,
    /^timeout\(\): unknown option "deadline"; known options are ms, maxDurationMs, perPath, .*, retryAfterSeconds, timers\.$/,
  )
})
