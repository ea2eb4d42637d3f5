import { Readable, pipeline } from 'node:stream'
import { pipeline as pipelinePromise } from 'node:stream/promises'
import t, { type Test } from 'tap'
import {
  compose,
  errorBoundary,
  errorBoundaryDefaults,
  HttpError,
  mount,
  OrderingError,
  rateLimit,
  sendError,
  type ErrorBoundaryOptions,
  type ErrorReport,
  type Middleware,
  type RawHandler,
} from '../../../lib/index.js'
import { defineMiddleware, onResponseStart, requestIdState } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket, parseRawResponse, rawExchange, rawGet } from '../../helpers/raw.js'
import { reporterDefaults } from '../../../lib/core/report.js'
import { errorPolicyState } from '../../../lib/core/send-error.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings, tick, until } from '../../helpers/wait.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

/** A stand-in for requestId(): a fixed id in the shared state. */
const withId: Middleware = (next) => (req, res) => {
  requestIdState.set(req, 'req-1')
  return next(req, res)
}

/** Serve `handler` behind an error boundary, collecting its reports. */
async function boundary(t: Test, handler: RawHandler, options: ErrorBoundaryOptions = {}) {
  const reports: ErrorReport[] = []
  const url = await serve(
    t,
    compose(
      errorBoundary({
        onError: (r) => {
          reports.push(r)
        },
        ...options,
      }),
      withId,
    )(handler),
  )
  return { url, reports }
}

const refuse403: RawHandler = (req, res) => {
  sendError(req, res, new HttpError(403))
}

/** Process warnings emitted while `t` runs. */
const json = (res: Response) => res.json() as Promise<Record<string, unknown>>

t.test('errorBoundary(): a sync throw becomes a 500 in the one JSON shape, without the message', async (t) => {
  const { url, reports } = await boundary(t, () => {
    throw new Error('db password is hunter2')
  })
  const res = await fetch(url)
  t.equal(res.status, 500)
  t.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
  const body = await json(res)
  t.same(body, { status: 500, code: 'internal_server_error', message: 'Internal Server Error', requestId: 'req-1' })
  t.equal(reports.length, 1)
  t.equal(reports[0]!.action, 'answered')
  t.equal(reports[0]!.requestId, 'req-1')
  t.equal(reports[0]!.status, 500)
  t.equal(reports[0]!.source, 'handler')
  t.match((reports[0]!.error as Error).message, /hunter2/)
})

t.test('errorBoundary(): an async rejection becomes a 500', async (t) => {
  const { url, reports } = await boundary(t, async () => {
    await tick(1)
    throw new Error('later')
  })
  const res = await fetch(url)
  t.equal(res.status, 500)
  t.equal((await json(res)).message, 'Internal Server Error')
  t.equal(reports[0]!.action, 'answered')
})

t.test('errorBoundary(): an HttpError answers with its status, code, message and headers', async (t) => {
  const { url } = await boundary(t, () => {
    throw new HttpError(409, 'Name taken', {
      code: 'name_taken',
      headers: { 'x-hint': 'pick another' },
      details: { field: 'name' },
    })
  })
  const res = await fetch(url)
  t.equal(res.status, 409)
  t.equal(res.headers.get('x-hint'), 'pick another')
  t.same(await json(res), { field: 'name', status: 409, code: 'name_taken', message: 'Name taken', requestId: 'req-1' })
})

t.test('errorBoundary(): a 5xx HttpError hides its message unless it says expose', async (t) => {
  const hidden = await boundary(t, () => {
    throw new HttpError(502, 'upstream 10.0.0.7 refused')
  })
  t.equal((await json(await fetch(hidden.url))).message, 'Bad Gateway')
  const shown = await boundary(t, () => {
    throw new HttpError(503, 'Maintenance until 14:00', { expose: true })
  })
  t.equal((await json(await fetch(shown.url))).message, 'Maintenance until 14:00')
})

t.test(
  'errorBoundary(): errors carrying status (http-errors, body parsers) keep it; the message only with expose',
  async (t) => {
    const exposed = await boundary(t, () => {
      throw Object.assign(new Error('Unexpected token } in JSON'), { status: 400, expose: true })
    })
    const a = await fetch(exposed.url)
    t.equal(a.status, 400)
    t.equal((await json(a)).message, 'Unexpected token } in JSON')
    const quiet = await boundary(t, () => {
      throw Object.assign(new Error('internal detail'), { statusCode: 404 })
    })
    const b = await fetch(quiet.url)
    t.equal(b.status, 404)
    t.equal((await json(b)).message, 'Not Found')
    const bogus = await boundary(t, () => {
      throw Object.assign(new Error('x'), { status: 200 })
    })
    t.equal((await fetch(bogus.url)).status, 500, 'a status outside 400-599 is ignored')
  },
)

t.test('errorBoundary(): map() chooses the answer; undefined falls back to the default', async (t) => {
  class UniqueViolation extends Error {}
  const { url } = await boundary(
    t,
    (req) => {
      if (req.url === '/dup') throw new UniqueViolation('duplicate key')
      throw new Error('other')
    },
    { map: (err) => (err instanceof UniqueViolation ? new HttpError(409, 'Already exists') : undefined) },
  )
  const dup = await fetch(`${url}/dup`)
  t.equal(dup.status, 409)
  t.equal((await json(dup)).message, 'Already exists')
  t.equal((await fetch(`${url}/other`)).status, 500)
})

t.test('errorBoundary(): a map() that throws or returns junk is reported, and the default applies', async (t) => {
  const seen = captureWarnings(t)
  const throwing = await boundary(
    t,
    () => {
      throw new HttpError(400)
    },
    {
      map: () => {
        throw new Error('map bug')
      },
    },
  )
  t.equal((await fetch(throwing.url)).status, 400)
  const junk = await boundary(
    t,
    () => {
      throw new Error('x')
    },
    { map: (() => 'teapot') as unknown as ErrorBoundaryOptions['map'] },
  )
  t.equal((await fetch(junk.url)).status, 500)
  await tick()
  t.ok(seen.some((w) => /map\(\) threw: map bug/.test(w.message)))
  t.ok(seen.some((w) => /map\(\) must return an HttpError/.test(w.message)))
})

t.test('errorBoundary(): development shows message, name and stack of 5xx errors', async (t) => {
  const { url } = await boundary(
    t,
    function failingHandler() {
      throw new TypeError('x is not a function')
    },
    { development: true },
  )
  const body = await json(await fetch(url))
  t.equal(body.status, 500)
  t.equal(body.message, 'x is not a function')
  t.equal(body.error, 'TypeError')
  t.ok(Array.isArray(body.stack) && body.stack.some((line: string) => /failingHandler/.test(line)))
  const text = await boundary(
    t,
    () => {
      throw 'a string'
    },
    { development: true },
  )
  t.equal((await json(await fetch(text.url))).message, 'a string')
})

t.test('errorBoundary(): plain text for a client that prefers it', async (t) => {
  const { url } = await boundary(t, () => {
    throw new HttpError(404, 'No such user')
  })
  const res = await httpRequest(url, { headers: { accept: 'text/plain, application/json;q=0.5' } })
  t.equal(res.status, 404)
  t.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(res.text, '404 not_found: No such user (request req-1)\n')
})

t.test(
  'errorBoundary(): a 500 keeps headers of outer layers and runs their response-start listeners (CORS)',
  async (t) => {
    const corsLike = defineMiddleware({ name: 'cors' }, (next) => (req, res) => {
      onResponseStart(res, (res) => res.setHeader('access-control-allow-origin', 'https://app.example'))
      return next(req, res)
    })
    const url = await serve(
      t,
      compose(
        errorBoundary({ onError: () => undefined }),
        corsLike,
      )(() => {
        throw new Error('boom')
      }),
    )
    const res = await httpRequest(url, { headers: { origin: 'https://app.example' } })
    t.equal(res.status, 500)
    t.equal(res.headers['access-control-allow-origin'], 'https://app.example')
  },
)

t.test('errorBoundary(): representation headers of the failed answer are dropped, others kept', async (t) => {
  const { url } = await boundary(t, (_req, res) => {
    res.setHeader('content-type', 'text/csv')
    res.setHeader('etag', '"v1"')
    res.setHeader('x-request-id', 'req-1')
    throw new Error('half-built')
  })
  const res = await rawGet(url)
  t.equal(res.status, 500)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(res.headers.etag, undefined)
  t.equal(res.headers['x-request-id'], 'req-1')
})

t.test(
  "errorBoundary(): a throw from a response-start listener is answered, with the other listeners' headers",
  async (t) => {
    let fail = true
    const { url, reports } = await boundary(t, (_req, res) => {
      onResponseStart(res, (res) => res.setHeader('x-outer', 'set'))
      onResponseStart(res, () => {
        if (fail) {
          fail = false
          throw new Error('listener failed')
        }
      })
      res.end('never sent')
    })
    const res = await rawGet(url)
    t.equal(res.status, 500)
    t.equal(res.headers['x-outer'], 'set')
    t.notOk(res.body.toString().includes('never sent'))
    t.equal(reports[0]!.action, 'answered')
  },
)

t.test(
  'errorBoundary(): after headers, a failure destroys the socket: the client sees a broken body, never a short success',
  async (t) => {
    const { url, reports } = await boundary(t, async (_req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.write('partial ')
      await tick(5)
      throw new Error('mid-stream')
    })
    const raw = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    const text = raw.toString('latin1')
    t.match(text, /^HTTP\/1\.1 200/)
    t.match(text, /partial /)
    t.notOk(text.endsWith('0\r\n\r\n'), 'no terminating chunk: the client knows the body is incomplete')
    await t.rejects(
      fetch(url).then((r) => r.text()),
      'fetch reports the broken body',
    )
    t.equal(reports[0]!.action, 'destroyed')
  },
)

t.test(
  'errorBoundary(): a stream that fails mid-way through pipeline ends in a broken response, reported',
  async (t) => {
    const { url, reports } = await boundary(
      t,
      (_req, res) =>
        new Promise<void>((ok, fail) => {
          let n = 0
          const source = new Readable({
            read() {
              if (++n > 3) this.destroy(new Error('disk read failed'))
              else this.push('chunk\n')
            },
          })
          pipeline(source, res, (err) => (err ? fail(err) : ok()))
        }),
    )
    const raw = (await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString('latin1')
    t.match(raw, /^HTTP\/1\.1 200/)
    t.notOk(raw.endsWith('0\r\n\r\n'))
    await until(() => reports.length > 0)
    t.equal(reports.length, 1)
    t.match((reports[0]!.error as Error).message, /disk read failed/)
    t.not(reports[0]!.action, 'answered')
  },
)

t.test(
  'errorBoundary(): a throw after the handler completed the response leaves it intact and only reports',
  async (t) => {
    const { url, reports } = await boundary(t, (_req, res) => {
      res.end('complete')
      throw new Error('after the fact')
    })
    const res = await rawGet(url)
    t.equal(res.status, 200)
    t.equal(res.body.toString(), 'complete')
    t.equal(reports[0]!.action, 'none')
  },
)

t.test("errorBoundary(): an 'error' event on the response (write after end) is caught, not a crash", async (t) => {
  const { url, reports } = await boundary(t, (_req, res) => {
    res.end('done')
    res.write('after end')
  })
  const res = await rawGet(url)
  t.equal(res.body.toString(), 'done')
  await tick()
  t.equal(reports.length, 1)
  t.equal(reports[0]!.source, 'response')
  t.equal(reports[0]!.action, 'none')
  t.match((reports[0]!.error as NodeJS.ErrnoException).code, 'ERR_STREAM_WRITE_AFTER_END')
})

t.test("errorBoundary(): never sends twice; the failed handler's later writes go nowhere", async (t) => {
  const { url, reports } = await boundary(t, (req, res) => {
    if (req.url === '/next') {
      res.end('next')
      return
    }
    setTimeout(() => {
      res.setHeader('x-late', '1')
      res.end('late answer')
    }, 20)
    res.emit('error', new Error('first'))
    throw new Error('second')
  })
  const socket = await openSocket(url)
  let text = ''
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1')
  })
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await tick(50)
  socket.write('GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await new Promise((ok) => socket.once('close', ok))
  t.equal((text.match(/HTTP\/1\.1 /g) ?? []).length, 2, 'one answer per request')
  t.match(text, /^HTTP\/1\.1 500/)
  t.notOk(text.includes('late answer'))
  t.notOk(text.includes('x-late'))
  t.match(text, /\r\n\r\nnext$/)
  t.same(
    reports.map((r) => r.action),
    ['answered', 'none'],
  )
})

t.test('errorBoundary(): onError that throws or rejects is reported; the request is still answered', async (t) => {
  const seen = captureWarnings(t)
  const a = await serve(
    t,
    errorBoundary({
      onError: () => {
        throw new Error('tracker down')
      },
    })(() => {
      throw new Error('x')
    }),
  )
  t.equal((await fetch(a)).status, 500)
  const b = await serve(
    t,
    errorBoundary({ onError: () => Promise.reject(new Error('tracker slow')) })(() => {
      throw new Error('x')
    }),
  )
  t.equal((await fetch(b)).status, 500)
  await tick(20)
  t.ok(seen.some((w) => /onError threw: tracker down/.test(w.message)))
  t.ok(seen.some((w) => /onError rejected: tracker slow/.test(w.message)))
})

t.test('errorBoundary(): the default onError reports 5xx as a process warning, not 4xx', async (t) => {
  const seen = captureWarnings(t)
  const url = await serve(
    t,
    compose(
      errorBoundary(),
      withId,
    )((req) => {
      if (req.url?.startsWith('/client')) throw new HttpError(400)
      throw new Error('server bug')
    }),
  )
  await fetch(`${url}/client?token=secret`)
  await fetch(`${url}/server?token=secret`)
  await tick(20)
  const ours = seen.filter((w) => /errorBoundary\(\)/.test(w.message))
  t.equal(ours.length, 1)
  t.match(ours[0]!.message, /GET \/server failed \(500, answered, request req-1\): server bug/)
  t.notOk(ours[0]!.message.includes('secret'), 'the query string is not reported')
})

t.test('errorBoundary(): never throws itself, even when the answer cannot be written', async (t) => {
  const { url, reports } = await boundary(t, (_req, res) => {
    // An invalid header makes sendError's setHeader throw.
    onResponseStart(res, (res) => {
      res.setHeader('x-bad', 'a\nb')
    })
    throw new Error('first')
  })
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  socket.resume()
  await new Promise((ok) => socket.once('close', ok))
  t.equal(reports[0]!.action, 'destroyed')
})

t.test('errorBoundary(): a client gone before the failure: nothing to answer, still reported', async (t) => {
  let report!: (r: ErrorReport) => void
  const reported = new Promise<ErrorReport>((ok) => {
    report = ok
  })
  let started = false
  const url = await serve(
    t,
    errorBoundary({ onError: report })(async (_req, res) => {
      started = true
      await new Promise((ok) => res.once('close', ok))
      throw new Error('client went away')
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => started)
  socket.destroy()
  t.equal((await reported).action, 'none')
})

/** Serve `handler` behind an error boundary whose onError collects and then runs the default reporter. */
async function reportedByDefault(t: Test, handler: RawHandler) {
  const reports: ErrorReport[] = []
  const onError = (r: ErrorReport) => {
    reports.push(r)
    return errorBoundaryDefaults.onError(r)
  }
  const url = await serve(t, compose(errorBoundary({ onError }), withId)(handler))
  return { url, reports }
}

const boundaryWarnings = (seen: Error[]) => seen.filter((w) => /errorBoundary\(\)/.test(w.message))

t.test('errorBoundary(): a client that hangs up mid-upload is a 499 report, not a 500, and no warning', async (t) => {
  const seen = captureWarnings(t)
  let received = 0
  const { url, reports } = await reportedByDefault(t, async (req, res) => {
    for await (const chunk of req) received += (chunk as Buffer).length
    res.end('stored')
  })
  const socket = await openSocket(url)
  socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100))
  await until(() => received === 100)
  socket.destroy()
  await until(() => reports.length === 1)
  await tick(20)
  t.equal(reports.length, 1)
  t.match(reports[0], { status: 499, action: 'none', source: 'handler', requestId: 'req-1' })
  t.match(reports[0]!.httpError, { status: 499, code: 'client_closed_request' })
  t.match(reports[0]!.error, { code: 'ECONNRESET' })
  t.same(boundaryWarnings(seen), [], 'a client hanging up is not a server error')
})

t.test("errorBoundary(): a download cut by the client (pipeline's premature close) is a 499 report", async (t) => {
  const seen = captureWarnings(t)
  const { url, reports } = await reportedByDefault(t, async (_req, res) => {
    async function* rows() {
      for (let i = 0; ; i++) {
        yield `row ${i}\n`
        await tick(1)
      }
    }
    await pipelinePromise(Readable.from(rows()), res)
  })
  const socket = await openSocket(url)
  socket.write('GET /export HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => socket.once('data', ok))
  socket.destroy()
  await until(() => reports.length === 1)
  t.match(reports[0], { status: 499, action: 'none' })
  t.match(reports[0]!.error, { code: 'ERR_STREAM_PREMATURE_CLOSE' })
  await tick(20)
  t.same(boundaryWarnings(seen), [])
})

t.test(
  'errorBoundary(): a pipelined request cut while its response is queued is a 499, nothing written or destroyed',
  async (t) => {
    const seen = captureWarnings(t)
    let received = 0
    const { url, reports } = await reportedByDefault(t, async (req, res) => {
      if (req.url === '/0') {
        res.write('stalls')
        return
      }
      for await (const chunk of req) received += (chunk as Buffer).length
      res.end('stored')
    })
    const socket = await openSocket(url)
    socket.on('error', () => undefined)
    socket.write(
      'GET /0 HTTP/1.1\r\nHost: x\r\n\r\nPOST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(10),
    )
    await until(() => received === 10)
    socket.resetAndDestroy()
    await until(() => reports.length === 1)
    t.match(reports[0], { status: 499, action: 'none' })
    t.equal(reports[0]!.res.headersSent, false, 'no 500 was written into the dead queue')
    await tick(20)
    t.same(boundaryWarnings(seen), [])
  },
)

t.test('errorBoundary(): a bug after the client left is still a 500 report and a warning', async (t) => {
  const seen = captureWarnings(t)
  let started = false
  const { url, reports } = await reportedByDefault(t, async (_req, res) => {
    started = true
    await new Promise((ok) => res.once('close', ok))
    throw new TypeError('cannot read properties of undefined')
  })
  const socket = await openSocket(url)
  socket.write('GET /bug HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => started)
  socket.destroy()
  await until(() => reports.length === 1)
  t.match(reports[0], { status: 500, action: 'none' })
  await until(() => boundaryWarnings(seen).length === 1)
  t.match(boundaryWarnings(seen)[0]!.message, /GET \/bug failed \(500, none, request req-1\): cannot read properties/)
})

t.test(
  "errorBoundary(): a flood of failures gives at most the reporter's limit of warnings, not one each",
  async (t) => {
    const seen = captureWarnings(t)
    const url = await serve(
      t,
      errorBoundary()(() => {
        throw new Error('hot route bug')
      }),
    )
    const statuses = await Promise.all(Array.from({ length: 50 }, () => rawGet(url).then((r) => r.status)))
    t.same(new Set(statuses), new Set([500]), 'every request still answered')
    await tick(20)
    const reported = seen.filter((w) => (w as Error & { code?: string }).code === 'HTTP_ONION_REPORTED')
    t.ok(reported.length <= reporterDefaults.limit, `${reported.length} warnings for 50 failures`)
  },
)

t.test('errorBoundary(): passes every successful response through unchanged', async (t) => {
  const url = await serve(
    t,
    errorBoundary()((req, res) => {
      if (req.url === '/empty') res.end()
      else if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else if (req.url === '/head') res.end('body')
      else if (req.url === '/writehead') {
        res.writeHead(201, { 'x-given': 'yes' })
        res.end('made')
      }
    }),
  )
  t.equal((await rawGet(url, '/empty')).body.length, 0)
  t.equal((await rawGet(url, '/204')).status, 204)
  t.equal((await rawGet(url, '/304')).status, 304)
  const head = parseRawResponse(await rawExchange(url, 'HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  t.equal(head.status, 200)
  t.equal(head.body.length, 0)
  const made = await rawGet(url, '/writehead')
  t.equal(made.status, 201)
  t.equal(made.headers['x-given'], 'yes')
  t.equal(made.body.toString(), 'made')
})

t.test('errorBoundary(): a synchronous answer costs no promise; a pending one is awaited', async (t) => {
  const results: unknown[] = []
  const boundaryOf = errorBoundary()
  const sync = boundaryOf((_req, res) => {
    res.end('now')
  })
  const later = boundaryOf(async (_req, res) => {
    await tick()
    res.end('later')
  })
  const url = await serve(t, (req, res) => {
    const result = (req.url === '/later' ? later : sync)(req, res)
    results.push(result)
    return result
  })
  t.equal((await rawGet(url, '/now')).body.toString(), 'now')
  t.equal(results[0], undefined, 'no promise for a handler that answered synchronously')
  t.equal((await rawGet(url, '/later')).body.toString(), 'later')
  t.ok(results[1] instanceof Promise, 'a promise for a pending handler')
  t.equal(await results[1], undefined)
})

t.test('errorBoundary(): a HEAD request that fails gets a bodiless 500', async (t) => {
  const { url } = await boundary(t, () => {
    throw new Error('x')
  })
  const res = parseRawResponse(await rawExchange(url, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  t.equal(res.status, 500)
  t.equal(res.body.length, 0)
})

t.test('errorBoundary(): a streamed body with backpressure passes through', async (t) => {
  let sawFalse = false
  let drained = false
  const url = await serve(
    t,
    errorBoundary()(async (_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 'x')
      await writeWithBackpressure(res, repeated(chunk, 64), {
        onFull: () => {
          sawFalse = true
        },
        onDrain: () => {
          drained = true
        },
      })
      res.end()
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  socket.pause()
  await tick(50)
  let bytes = 0
  socket.on('data', (d: Buffer) => {
    bytes += d.length
  })
  socket.resume()
  await new Promise((ok) => socket.once('close', ok))
  t.ok(sawFalse && drained)
  t.ok(bytes > 64 * 64 * 1024)
})

t.test('errorBoundary(): declares it wraps cors, auth, limits and compression', async (t) => {
  const cors = defineMiddleware({ name: 'cors' }, (next) => next)
  t.throws(() => compose({ strict: true }, cors, errorBoundary()), OrderingError)
  const explained = compose(errorBoundary(), cors).explain()
  t.match(explained, /ok\s+errorBoundary wraps cors: a 500 must still carry the CORS headers/)
})

t.test(
  "errorBoundary(): map() reshapes the refusals of inner layers: status and body, the refusal's headers kept",
  async (t) => {
    const seen: unknown[] = []
    const url = await serve(
      t,
      compose(
        errorBoundary({
          map: (err) => {
            seen.push(err)
            return err instanceof HttpError && err.code === 'too_many_requests'
              ? new HttpError(503, 'Busy, come back later', { code: 'busy', expose: true, details: { tip: 'retry' } })
              : undefined
          },
        }),
        withId,
        rateLimit({ limit: 1 }),
      )((_req, res) => res.end('ok')),
    )
    t.equal((await httpRequest(url)).status, 200)
    const refused = await httpRequest(url)
    t.equal(refused.status, 503)
    t.same(JSON.parse(refused.text), {
      tip: 'retry',
      status: 503,
      code: 'busy',
      message: 'Busy, come back later',
      requestId: 'req-1',
    })
    t.ok(refused.headers['retry-after'], "the limiter's Retry-After survives the new status")
    t.ok(refused.headers.ratelimit)
    t.match(seen, [{ status: 429, code: 'too_many_requests' }], 'map saw the refusal once')
  },
)

t.test('errorBoundary(): map() on a refusal: its own headers win, undefined keeps the refusal', async (t) => {
  const always: Middleware = () => (req, res) => {
    sendError(req, res, new HttpError(401, 'Who?', { headers: { 'www-authenticate': 'Bearer', 'retry-after': '1' } }))
  }
  const served = await serve(
    t,
    compose(
      errorBoundary({
        map: (_err, req) =>
          req.url === '/keep' ? undefined : new HttpError(404, 'Nothing here', { headers: { 'retry-after': '99' } }),
      }),
      always,
    )((_req, res) => res.end('ok')),
  )
  const hidden = await httpRequest(`${served}/x`)
  t.equal(hidden.status, 404)
  t.equal(hidden.headers['retry-after'], '99')
  t.equal(hidden.headers['www-authenticate'], 'Bearer')
  const kept = await httpRequest(`${served}/keep`)
  t.equal(kept.status, 401)
  t.equal(JSON.parse(kept.text).message, 'Who?')
})

t.test("errorBoundary(): format applies to the boundary's own answers, development included", async (t) => {
  const { url } = await boundary(
    t,
    () => {
      throw new TypeError('db-3.internal refused')
    },
    { format: 'problem', development: true },
  )
  const res = await httpRequest(`${url}/x?y=1`)
  t.equal(res.status, 500)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(JSON.parse(res.text), {
    type: 'about:blank',
    title: 'Internal Server Error',
    status: 500,
    detail: 'db-3.internal refused',
    instance: '/x',
    requestId: 'req-1',
    details: { error: 'TypeError', stack: Array },
  })
})

t.test("errorBoundary(): a nested boundary without format keeps the outer one's; map is applied once", async (t) => {
  let calls = 0
  const url = await serve(
    t,
    compose(
      errorBoundary({ format: 'problem' }),
      withId,
      errorBoundary({
        map: (err) => {
          calls++
          return err instanceof HttpError && err.status === 418 ? new HttpError(400, 'No tea') : undefined
        },
        onError: () => undefined,
      }),
    )(() => {
      throw new HttpError(418)
    }),
  )
  const res = await httpRequest(url)
  t.equal(res.status, 400)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(JSON.parse(res.text), { detail: 'No tea', code: 'bad_request' })
  t.equal(calls, 1)
})

t.test("errorBoundary(): the innermost boundary's map decides, for refusals as for exceptions", async (t) => {
  const hide = () => new HttpError(404)
  const url = await serve(
    t,
    compose(
      errorBoundary({ format: 'problem', map: hide }),
      mount('/inner', compose(errorBoundary({ onError: () => undefined }))(refuse403)),
    )(refuse403),
  )
  const outer = await httpRequest(`${url}/x`)
  t.equal(outer.status, 404)
  const inner = await httpRequest(`${url}/inner/x`)
  t.equal(inner.status, 403, 'the outer map does not reach past the inner boundary, which has none')
  t.equal(inner.headers['content-type'], 'application/problem+json; charset=utf-8', 'the format is inherited')
})

t.test('errorBoundary(): without format or map it leaves no policy, and refusals are the default JSON', async (t) => {
  let policy: unknown = 'unset'
  const url = await serve(
    t,
    compose(errorBoundary())((req, res) => {
      policy = errorPolicyState.tryGet(req)
      sendError(req, res, new HttpError(403))
    }),
  )
  const res = await httpRequest(url)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(policy, undefined)
})

t.test('errorBoundary(): config: rejects bad options', async (t) => {
  t.throws(() => errorBoundary({ map: 'x' as never }), {
    name: 'ConfigError',
    message: /errorBoundary\(\): option "map" must be a function; received "x"/,
  })
  t.throws(() => errorBoundary({ onError: null as never }), {
    name: 'ConfigError',
    message: /option "onError" must be a function; received null/,
  })
  t.throws(() => errorBoundary({ development: 'yes' as never }), {
    name: 'ConfigError',
    message:
      /option "development" must be true or false; received "yes" \(string\)\. Pass a boolean, e\.g\. development: process\.env\.NODE_ENV === 'development'.*never turn it on in production/,
  })
  t.throws(() => errorBoundary({ format: 'xml' as never }), {
    name: 'ConfigError',
    message:
      /errorBoundary\(\): option "format" must be "json", "problem" or a function; received "xml" \(string\)\. Use 'problem' for RFC 9457/,
  })
  t.throws(() => errorBoundary({ onErorr: () => undefined } as never), {
    name: 'ConfigError',
    message: /^errorBoundary\(\): unknown option "onErorr"; did you mean "onError"\?$/,
  })
})
