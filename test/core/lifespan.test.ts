import t, { type Test } from 'tap'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { connect as connectH2, createServer as createH2Server, type ClientHttp2Session } from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import { Writable } from 'node:stream'
import { trackUpgraded } from '../../lib/core.js'
import {
  accessLog,
  compose,
  getRequestSignal,
  lifespan,
  timeout,
  type LifespanOptions,
  type RawHandler,
} from '../../lib/index.js'
import { fakeTimers, fireAfter } from '../helpers/timers.js'
import { openSocket, parseRawResponse, rawGet } from '../helpers/raw.js'
import { serveWithServer } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'

const GRACE = 1000
const DRAIN = 5000
const ABORT = 300
const HOOK = 100

/** A lifespan on fake timers, with durations the tests fire one by one. */
function testLifespan(options: LifespanOptions = {}) {
  const fakes = fakeTimers()
  const life = lifespan({
    gracePeriodMs: GRACE,
    drainTimeoutMs: DRAIN,
    abortTimeoutMs: ABORT,
    hookTimeoutMs: HOOK,
    timers: fakes.timers,
    ...options,
  })
  return { life, fakes }
}

/** A promise and its resolver, for handlers a test releases. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((ok) => {
    open = ok
  })
  return { open, opened }
}

/** Serve `handler` under `life`, attached; returns the URL and server. */
async function serveLife(t: Test, life: ReturnType<typeof lifespan>, handler: RawHandler) {
  const served = await serveWithServer(t, compose(life)(handler))
  life.attach(served.server)
  return served
}

/** Collects what a socket receives; `text()` is all of it so far. */
function collect(socket: Socket) {
  const chunks: Buffer[] = []
  let closed = false
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('close', () => {
    closed = true
  })
  socket.on('error', () => {})
  return { text: () => Buffer.concat(chunks).toString('latin1'), closed: () => closed }
}

const keepAliveGet = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`

const refused = (url: string) =>
  openSocket(url).then(
    (s) => {
      s.destroy()
      return false
    },
    (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
  )

t.test('lifespan(): config: refuses bad options with ConfigError naming them', async (t) => {
  t.throws(() => lifespan({ gracePeriodMs: 10, drainTimeoutMs: 5 }), {
    name: 'ConfigError',
    message: /option "gracePeriodMs" must be at most drainTimeoutMs \(5\); received 10/,
  })
  t.throws(() => lifespan({ drainTimeoutMs: -1 }), { name: 'ConfigError', message: /"drainTimeoutMs"/ })
  t.throws(() => lifespan({ hookTimeoutMs: 0 }), { name: 'ConfigError', message: /"hookTimeoutMs" must be/ })
  t.throws(() => lifespan({ signals: ['SIGKILL'] }), { name: 'ConfigError', message: /"signals\[0\]"/ })
  t.throws(() => lifespan({ startup: [42 as never] }), {
    name: 'ConfigError',
    message: /"startup\[0\]" must be a function/,
  })
  t.throws(() => lifespan({ shutdown: [{ name: 'x', run: () => {}, timeout: 5 } as never] }), {
    name: 'ConfigError',
    message: /"shutdown\[0\]\.timeout"/,
  })
  t.throws(() => lifespan({ startup: [{ name: '', run: () => {} }] }), {
    name: 'ConfigError',
    message: /"startup\[0\]\.name"/,
  })
  t.throws(() => lifespan({ drainTimeout: 5 } as never), {
    name: 'ConfigError',
    message: /did you mean "drainTimeoutMs"/,
  })
  t.throws(() => lifespan({ timers: null as never }), { name: 'ConfigError', message: /"timers"/ })
})

t.test('lifespan(): start-up hooks run one at a time in order; readiness is 503 until they finished', async (t) => {
  const order: string[] = []
  const second = gate()
  const { life } = testLifespan({
    startup: [
      async function openPool() {
        order.push('openPool')
      },
      { name: 'warm cache', run: () => second.opened.then(() => order.push('warm cache')) },
    ],
  })
  const { url } = await serveWithServer(t, life.readiness)
  const live = await serveWithServer(t, life.liveness)
  const starting = life.start()
  t.equal(life.state, 'starting')
  const before = await fetch(url)
  t.equal(before.status, 503)
  t.equal(before.headers.get('retry-after'), '5')
  t.match(await before.json(), { status: 503, code: 'not_ready' })
  t.equal((await fetch(live.url)).status, 200, 'alive while starting')
  second.open()
  await starting
  t.same(order, ['openPool', 'warm cache'])
  t.equal(life.state, 'ready')
  const after = await fetch(url)
  t.equal(after.status, 200)
  t.equal(after.headers.get('cache-control'), 'no-store')
  t.same(await after.json(), { status: 'ready' })
  t.same(await (await fetch(live.url)).json(), { status: 'alive' })
  t.equal(life.start(), starting, 'start() runs the hooks once')
})

t.test('lifespan(): a failing start-up hook stops start-up with an error naming it', async (t) => {
  const ran: string[] = []
  const { life } = testLifespan({
    startup: [
      () => {
        ran.push('first')
      },
      async function openPool() {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
      },
      () => {
        ran.push('never')
      },
    ],
  })
  await t.rejects(life.start(), {
    name: 'LifespanHookError',
    code: 'ERR_LIFESPAN_HOOK',
    hook: 'openPool',
    phase: 'start-up',
    timedOut: false,
    message: 'lifespan(): start-up hook "openPool" (2 of 3) failed: connect ECONNREFUSED 127.0.0.1:5432',
  })
  t.same(ran, ['first'])
  t.equal(life.state, 'failed')
  t.equal(life.ready, false)
})

t.test('lifespan(): serve() does not listen when start-up fails', async (t) => {
  const { life } = testLifespan({ startup: [() => Promise.reject(new Error('no config'))] })
  const server = createHttpServer(compose(life)((_req, res) => res.end()))
  await t.rejects(life.serve(server, 0, '127.0.0.1'), /start-up hook "startup\[0\]" \(1 of 1\) failed: no config/)
  t.equal(server.listening, false)
})

t.test('lifespan(): a shutdown during start-up stops it; serve() then does not listen', async (t) => {
  const hook = gate()
  const { life } = testLifespan({ startup: [() => hook.opened] })
  const server = createHttpServer(compose(life)((_req, res) => res.end()))
  const serving = life.serve(server, 0, '127.0.0.1')
  await until(() => life.state === 'starting')
  const stopping = life.shutdown()
  hook.open()
  await t.rejects(serving, /shutdown began during start-up/)
  t.equal(server.listening, false)
  t.equal((await stopping).clean, true)
  t.equal(life.state, 'stopped')
})

t.test('lifespan(): signals start the shutdown and exit with its code; a second signal exits at once', async (t) => {
  const codes: number[] = []
  const hook = gate()
  const listeners = process.listenerCount('SIGUSR2')
  const { life } = testLifespan({
    signals: ['SIGUSR2'],
    exit: (code) => codes.push(code),
    shutdown: [() => hook.opened],
  })
  t.equal(process.listenerCount('SIGUSR2'), listeners, 'nothing listens before start() or attach()')
  await life.start()
  t.equal(process.listenerCount('SIGUSR2'), listeners + 1)
  process.kill(process.pid, 'SIGUSR2')
  await until(() => life.state === 'draining')
  t.equal(life.state, 'draining')
  process.kill(process.pid, 'SIGUSR2')
  await until(() => codes.length === 1)
  t.same(codes, [1], 'the second signal: out now, not clean')
  hook.open()
  await until(() => codes.length === 2)
  t.same(codes, [1, 0], 'the drain itself was clean')
  t.equal(process.listenerCount('SIGUSR2'), listeners, 'its listener removed once stopped')
})

t.test('lifespan(): a start-up hook past its time limit fails start-up, its signal aborted', async (t) => {
  let signal: AbortSignal | undefined
  const { life, fakes } = testLifespan({
    startup: [
      {
        name: 'slow migration',
        timeoutMs: 250,
        run: (s) => {
          signal = s
          return new Promise(() => {})
        },
      },
    ],
  })
  const starting = life.start()
  await until(() => fakes.pending.size > 0)
  t.same(
    [...fakes.pending.values()].map((p) => p.ms),
    [250],
    'its own limit, not hookTimeoutMs',
  )
  fireAfter(fakes, 250)
  await t.rejects(starting, {
    hook: 'slow migration',
    timedOut: true,
    message: 'lifespan(): start-up hook "slow migration" (1 of 1) timed out after 250 ms',
  })
  t.equal(signal?.aborted, true)
})

t.test('lifespan(): shutdown hooks all run in order; failures are reported and make the drain unclean', async (t) => {
  const order: string[] = []
  const reports: Array<{ fields: object; message?: string }> = []
  const logger = { error: (fields: object, message?: string) => reports.push({ fields, message }), warn: () => {} }
  const { life, fakes } = testLifespan({
    logger,
    shutdown: [
      function closePool() {
        order.push('closePool')
        throw new Error('pool already closed')
      },
      {
        name: 'stuck',
        run: () => {
          order.push('stuck')
          return new Promise(() => {})
        },
      },
      function flushMetrics() {
        order.push('flushMetrics')
      },
    ],
  })
  const stopping = life.shutdown()
  t.equal(life.shutdown(), stopping, 'one shutdown')
  await until(() => order.includes('stuck'))
  fireAfter(fakes, HOOK)
  const result = await stopping
  t.same(order, ['closePool', 'stuck', 'flushMetrics'])
  t.same(result, { clean: false, exitCode: 1, aborted: 0, failedHooks: ['closePool', 'stuck'] })
  t.equal(life.state, 'stopped')
  t.equal(reports.length, 2)
  t.match(reports[0]!.message, /shutdown hook "closePool" \(1 of 3\) failed: pool already closed/)
  t.match(reports[1]!.message, /shutdown hook "stuck" \(2 of 3\) timed out after 100 ms/)
})

t.test('lifespan(): readiness flips to 503 before the listener closes (closeDelayMs)', async (t) => {
  const { life, fakes } = testLifespan({ closeDelayMs: 700 })
  const { url } = await serveLife(t, life, (req, res) =>
    req.url === '/readyz' ? life.readiness(req, res) : res.end('ok'),
  )
  await life.start()
  t.equal((await rawGet(url, '/readyz')).status, 200)
  const stopping = life.shutdown()
  const flipped = await rawGet(url, '/readyz')
  t.equal(flipped.status, 503, 'not ready from the moment shutdown begins')
  t.equal(flipped.headers['retry-after'], '5')
  t.equal(flipped.headers.connection, 'close')
  const served = await rawGet(url, '/')
  t.equal(served.body.toString(), 'ok', 'new connections still served during the close delay')
  t.equal(await refused(url), false, 'the listener is still open')
  fireAfter(fakes, 700)
  t.same(await stopping, { clean: true, exitCode: 0, aborted: 0, failedHooks: [] })
  t.equal(await refused(url), true, 'then the listener closed')
})

t.test('lifespan(): idle kept-alive connections are closed at once', async (t) => {
  const { life } = testLifespan()
  const { url } = await serveLife(t, life, (_req, res) => res.end('ok'))
  const socket = await openSocket(url)
  const seen = collect(socket)
  socket.write(keepAliveGet('/'))
  await until(() => seen.text().endsWith('ok'))
  t.match(seen.text(), /keep-alive/i)
  t.equal(seen.closed(), false)
  const result = await life.shutdown()
  await until(() => seen.closed())
  t.equal(seen.closed(), true, 'the idle connection was closed')
  t.equal(result.clean, true)
})

t.test(
  'lifespan(): a request in flight finishes normally with Connection: close, and the drain waits for it',
  async (t) => {
    const release = gate()
    const { life } = testLifespan()
    const { url } = await serveLife(t, life, async (_req, res) => {
      await release.opened
      res.end('finished')
    })
    const socket = await openSocket(url)
    const seen = collect(socket)
    socket.write(keepAliveGet('/'))
    await until(() => life.inFlight === 1)
    let done = false
    const stopping = life.shutdown().then((r) => {
      done = true
      return r
    })
    await until(() => life.state === 'draining')
    t.equal(await refused(url), true, 'the listener closed')
    t.equal(done, false, 'the drain waits for the request')
    release.open()
    const result = await stopping
    await until(() => seen.closed())
    const response = parseRawResponse(Buffer.from(seen.text(), 'latin1'))
    t.equal(response.status, 200)
    t.equal(response.body.toString(), 'finished')
    t.equal(response.headers.connection, 'close')
    t.equal(seen.closed(), true)
    t.same(result, { clean: true, exitCode: 0, aborted: 0, failedHooks: [] })
  },
)

/**
 * A kept-alive connection whose first response (headers already out before shutdown) is still
 * streaming; a second request is sent on it during the drain.
 */
async function secondRequestDuringDrain(t: Test, afterGrace: boolean) {
  const release = gate()
  const { life, fakes } = testLifespan()
  let served = 0
  const { url } = await serveLife(t, life, async (req, res) => {
    served++
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first ')
      await release.opened
      res.end('done')
    } else res.end('second')
  })
  const socket = await openSocket(url)
  const seen = collect(socket)
  socket.write(keepAliveGet('/stream'))
  await until(() => seen.text().includes('first'))
  const stopping = life.shutdown()
  await until(() => fakes.pending.size === 2) // the grace period and the drain deadline
  if (afterGrace) t.equal(fireAfter(fakes, GRACE), 1)
  socket.write(keepAliveGet('/second'))
  await until(() => life.inFlight === 2)
  release.open()
  const result = await stopping
  await until(() => seen.closed())
  const text = seen.text()
  const second = parseRawResponse(Buffer.from(text.slice(text.indexOf('HTTP/1.1', 5)), 'latin1'))
  return { second, first: text.slice(0, text.indexOf('HTTP/1.1', 5)), result, served, closed: seen.closed() }
}

t.test(
  'lifespan(): a request arriving on a kept-alive connection in the grace period is served, with Connection: close',
  async (t) => {
    const { first, second, result, served, closed } = await secondRequestDuringDrain(t, false)
    t.match(first, /keep-alive/i, 'the first response started before the drain')
    t.match(first, /0\r\n\r\n$/, 'and ended whole')
    t.equal(second.status, 200)
    t.equal(second.body.toString(), 'second')
    t.equal(second.headers.connection, 'close')
    t.equal(served, 2)
    t.equal(closed, true)
    t.equal(result.clean, true)
  },
)

t.test(
  'lifespan(): after the grace period, late requests get 503 with Retry-After and Connection: close',
  async (t) => {
    const { second, result, served } = await secondRequestDuringDrain(t, true)
    t.equal(second.status, 503)
    t.equal(second.headers['retry-after'], '5')
    t.equal(second.headers.connection, 'close')
    t.match(JSON.parse(second.body.toString()), { status: 503, code: 'shutting_down' })
    t.equal(served, 1, 'the handler never saw it')
    t.equal(result.clean, true)
  },
)

t.test('lifespan(): at the drain deadline a slow request is aborted through its signal and answered 503', async (t) => {
  let reason: unknown
  const { life, fakes } = testLifespan()
  const { url } = await serveLife(
    t,
    life,
    compose(timeout({ ms: 60_000 }))(async (req, res) => {
      const signal = getRequestSignal(req)
      try {
        // A query that honours the signal: it rejects with its reason.
        await new Promise<void>((_ok, fail) => signal.addEventListener('abort', () => fail(signal.reason)))
      } catch (err) {
        reason = err
        throw err
      }
      res.end('too late')
    }),
  )
  const answer = rawGet(url, '/slow')
  await until(() => life.inFlight === 1)
  const stopping = life.shutdown()
  await until(() => fakes.pending.size === 2)
  t.equal(fireAfter(fakes, DRAIN), 1)
  const response = await answer
  t.equal(response.status, 503)
  t.match(JSON.parse(response.body.toString()), { code: 'shutting_down' })
  t.match(reason, { name: 'AbortError', code: 'ERR_REQUEST_ABORTED', kind: 'shutdown' }, "timeout()'s signal, aborted")
  t.match(response.headers, { connection: 'close', 'retry-after': '5' })
  const result = await stopping
  t.same(result, { clean: false, exitCode: 1, aborted: 1, failedHooks: [] })
})

t.test(
  'lifespan(): without timeout(), getRequestSignal() is the lifespan signal, aborted at the deadline',
  async (t) => {
    let reason: unknown
    const { life, fakes } = testLifespan()
    const { url } = await serveLife(t, life, (req, res) => {
      getRequestSignal(req).addEventListener('abort', (e) => {
        reason = (e.target as AbortSignal).reason
        res.end('stopped')
      })
    })
    const answer = rawGet(url, '/slow')
    await until(() => life.inFlight === 1)
    const stopping = life.shutdown()
    await until(() => fakes.pending.size === 2)
    fireAfter(fakes, DRAIN)
    const response = await answer
    t.equal(response.body.toString(), 'stopped', 'the handler answered itself when told')
    t.match(reason, { name: 'AbortError', code: 'ERR_REQUEST_ABORTED', kind: 'shutdown' })
    t.equal((await stopping).aborted, 1)
  },
)

t.test('lifespan(): at the drain deadline an open Server-Sent Events stream is ended cleanly, not cut', async (t) => {
  const { life, fakes } = testLifespan()
  const { url } = await serveLife(t, life, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: one\n\n')
  })
  const events = await fetch(`${url}/events`)
  const reader = events.body!.getReader()
  const firstChunk = await reader.read()
  t.equal(Buffer.from(firstChunk.value!).toString(), 'data: one\n\n')
  const stopping = life.shutdown()
  await until(() => fakes.pending.size === 2)
  fireAfter(fakes, DRAIN)
  const end = await reader.read()
  t.equal(end.done, true, 'the body ended: the last chunk came, no error')
  t.equal((await stopping).aborted, 1)
})

t.test('lifespan(): upgraded connections get goAway(), and the drain waits for them to close', async (t) => {
  const { life } = testLifespan()
  const { server, url } = await serveLife(t, life, (_req, res) => res.end())
  let wentAway = 0
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
    trackUpgraded(server, {
      socket,
      goAway() {
        wentAway++
        socket.end('bye')
      },
    })
  })
  const socket = await openSocket(url)
  const seen = collect(socket)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
  await until(() => seen.text().includes('101'))
  // The client answers the goodbye by closing its side, as a WebSocket client does.
  socket.on('end', () => socket.end())
  const result = await life.shutdown()
  t.equal(wentAway, 1)
  t.match(seen.text(), /bye$/)
  await until(() => seen.closed())
  t.equal(seen.closed(), true)
  t.same(result, { clean: true, exitCode: 0, aborted: 0, failedHooks: [] })
})

t.test('lifespan(): an upgraded connection still open at the deadline is destroyed', async (t) => {
  const { life, fakes } = testLifespan()
  const { server, url } = await serveLife(t, life, (_req, res) => res.end())
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
    trackUpgraded(server, { socket, goAway: () => socket.write('please go') })
  })
  const socket = await openSocket(url)
  const seen = collect(socket)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
  await until(() => seen.text().includes('101'))
  const stopping = life.shutdown()
  await until(() => seen.text().includes('please go'))
  t.equal(seen.closed(), false, 'the client ignores it')
  fireAfter(fakes, DRAIN)
  const result = await stopping
  await until(() => seen.closed())
  t.equal(seen.closed(), true)
  t.equal(result.aborted, 1)
})

t.test('lifespan(): HTTP/2 sessions get GOAWAY; the open stream finishes', async (t) => {
  const release = gate()
  const { life } = testLifespan()
  const server = createH2Server(
    compose(life)(async (_req, res) => {
      await release.opened
      res.end('h2 done')
    }) as never,
  )
  life.attach(server)
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())))
  const session: ClientHttp2Session = connectH2(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  session.on('error', () => {})
  let goaway = false
  session.on('goaway', () => {
    goaway = true
  })
  const stream = session.request({ ':path': '/' })
  let body = ''
  stream.setEncoding('utf8')
  stream.on('data', (d: string) => {
    body += d
  })
  const ended = new Promise<void>((ok) => stream.on('end', ok))
  await until(() => life.inFlight === 1)
  const stopping = life.shutdown()
  await until(() => goaway)
  t.equal(goaway, true, 'the client got GOAWAY')
  release.open()
  await ended
  t.equal(body, 'h2 done')
  t.same(await stopping, { clean: true, exitCode: 0, aborted: 0, failedHooks: [] })
})

t.test('lifespan(): the access log is flushed before shutdown hooks run', async (t) => {
  const written: string[] = []
  // A file-like stream that confirms each write a turn later.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      setImmediate(() => {
        written.push(chunk.toString())
        done()
      })
    },
  })
  let linesAtHook = -1
  const countLines = () => {
    linesAtHook = written.join('').split('\n').length - 1
  }
  const { life } = testLifespan({ shutdown: [countLines] })
  const { url } = await serveLife(
    t,
    life,
    compose(accessLog({ sink }))((_req, res) => res.end('ok')),
  )
  const last = await rawGet(url, '/last')
  t.equal(last.status, 200)
  await life.shutdown()
  t.equal(linesAtHook, 1, 'the last line was written before the hooks ran')
  t.match(written.join(''), /"path":"\/last"/)
})

t.test('lifespan(): requests are counted exactly, however they end', async (t) => {
  const { life } = testLifespan()
  const { url } = await serveLife(t, life, async (req, res) => {
    if (req.url === '/throw') throw new Error('boom')
    if (req.url === '/abort') return new Promise<void>(() => {})
    res.end('ok')
  })
  await rawGet(url, '/')
  await rawGet(url, '/throw')
  const socket = await openSocket(url)
  socket.write(keepAliveGet('/abort'))
  await until(() => life.inFlight === 1)
  socket.destroy()
  await until(() => life.inFlight === 0)
  t.equal(life.inFlight, 0)
})
