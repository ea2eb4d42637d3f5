import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttp2Server } from 'node:http2'
import type { Socket } from 'node:net'
import t from 'tap'
import { serverTimeouts, serverTimeoutsDefaults } from '../../lib/index.js'
import { openSocket } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'

// Small values, checked every 50 ms, so each cut happens within a second.
const FAST = {
  headersTimeoutMs: 300,
  requestTimeoutMs: 600,
  keepAliveTimeoutMs: 200,
  inactivityTimeoutMs: 300,
  checkIntervalMs: 50,
}
// How late a cut may come on a loaded machine: the check interval, timers, scheduling.
const SLACK_MS = 1500

/** Everything `socket` receives until it closes, and when it closed (ms after `started`). */
function collect(socket: Socket, started: number): Promise<{ text: string; ms: number }> {
  let text = ''
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1')
  })
  return new Promise((ok) => socket.once('close', () => ok({ text, ms: performance.now() - started })))
}

/** Write `line` every 30 ms until the socket closes: a client that is never done. */
function trickle(socket: Socket, line: string): void {
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(line)
  }, 30)
  socket.once('close', () => clearInterval(timer))
}

t.test('serverTimeouts(): applies the defaults before listen and returns the server', async (t) => {
  const server = createServer()
  t.equal(server.headersTimeout, 60_000, "Node 20's default, which this replaces")
  t.equal(serverTimeouts(server), server)
  t.equal(server.headersTimeout, 10_000)
  t.equal(server.requestTimeout, 30_000)
  t.equal(server.keepAliveTimeout, 5_000)
  t.equal(server.timeout, 120_000)
  t.equal((server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval, 1_000)
  t.same(serverTimeoutsDefaults, {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000,
    inactivityTimeoutMs: 120_000,
    checkIntervalMs: 1_000,
  })
})

t.test(
  'serverTimeouts(): a client trickling its headers (slowloris) gets 408 and is cut after headersTimeoutMs',
  async (t) => {
    let handled = 0
    const { url } = await listen(
      t,
      serverTimeouts(
        createServer((_req, res) => {
          handled++
          res.end()
        }),
        FAST,
      ),
    )
    const socket = await openSocket(url)
    const started = performance.now()
    const done = collect(socket, started)
    socket.write('GET / HTTP/1.1\r\nHost: app.test\r\n')
    trickle(socket, 'X-Padding: a\r\n')
    const { text, ms } = await done
    t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
    t.ok(ms >= FAST.headersTimeoutMs - 5 && ms < FAST.headersTimeoutMs + SLACK_MS, `cut after ${Math.round(ms)} ms`)
    t.equal(handled, 0, 'the handler never ran')
  },
)

t.test('serverTimeouts(): a client trickling its body gets 408 and is cut after requestTimeoutMs', async (t) => {
  const requests: IncomingMessage[] = []
  const { url } = await listen(
    t,
    serverTimeouts(
      createServer((req, res) => {
        requests.push(req)
        req.resume()
        req.on('end', () => res.end('read it all'))
      }),
      FAST,
    ),
  )
  const socket = await openSocket(url)
  const started = performance.now()
  const done = collect(socket, started)
  socket.write('POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\n\r\n')
  trickle(socket, 'x')
  const { text, ms } = await done
  t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
  t.ok(ms >= FAST.requestTimeoutMs - 5 && ms < FAST.requestTimeoutMs + SLACK_MS, `cut after ${Math.round(ms)} ms`)
  t.equal(requests.length, 1, 'the handler had the request, and never its whole body')
})

t.test('serverTimeouts(): a kept-alive connection idle past keepAliveTimeoutMs is closed', async (t) => {
  const { url } = await listen(
    t,
    serverTimeouts(
      createServer((_req, res) => res.end('ok')),
      FAST,
    ),
  )
  const socket = await openSocket(url)
  let answered = 0
  const done = collect(socket, 0)
  socket.on('data', () => {
    if (answered === 0) answered = performance.now()
  })
  socket.write('GET / HTTP/1.1\r\nHost: app.test\r\n\r\n')
  const { text, ms } = await done
  t.match(
    text,
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*Keep-Alive: timeout=0\r\n[\s\S]*ok$/,
    'one answer, announcing the timeout in whole seconds',
  )
  const idle = ms - answered
  // Node closes one second after the announced timeout, so a client never races it.
  t.ok(
    idle >= FAST.keepAliveTimeoutMs - 5 && idle < FAST.keepAliveTimeoutMs + 1000 + SLACK_MS,
    `closed ${Math.round(idle)} ms after the answer`,
  )
})

t.test('serverTimeouts(): a client that never reads the answer is cut after inactivityTimeoutMs', async (t) => {
  let response: ServerResponse | undefined
  let stalledAt = 0
  const chunk = Buffer.alloc(64 * 1024, 'x')
  const { url } = await listen(
    t,
    serverTimeouts(
      createServer((_req, res) => {
        response = res
        // Write until the socket's buffers are full, then wait for a drain that never comes.
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          stalledAt = performance.now()
          res.once('drain', pump)
        }
        pump()
      }),
      FAST,
    ),
  )
  const socket = await openSocket(url)
  socket.pause() // never read
  socket.write('GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n')
  t.teardown(() => socket.destroy())
  let closedAt = 0
  await until(() => response !== undefined)
  response!.once('close', () => {
    closedAt = performance.now()
  })
  await until(() => closedAt > 0)
  t.ok(closedAt > 0, 'the response was cut')
  t.notOk(response!.writableFinished, 'before its end')
  t.ok(
    closedAt - stalledAt >= FAST.inactivityTimeoutMs - 5 && closedAt - stalledAt < FAST.inactivityTimeoutMs + SLACK_MS,
    `${Math.round(closedAt - stalledAt)} ms after the last write went through`,
  )
})

t.test('serverTimeouts(): a client within every limit is served, on a kept-alive connection too', async (t) => {
  const { url } = await listen(
    t,
    serverTimeouts(
      createServer((req, res) => {
        req.resume()
        req.on('end', () => res.end(req.url))
      }),
      FAST,
    ),
  )
  for (const path of ['/a', '/b'])
    t.equal(await (await fetch(url + path, { method: 'POST', body: 'hello' })).text(), path)
})

t.test(
  'serverTimeouts(): config: refuses a listening server, other servers and bad values, naming the fix',
  async (t) => {
    const listening = (await listen(t, createServer())).server
    t.throws(() => serverTimeouts(listening), {
      name: 'ConfigError',
      message:
        /^serverTimeouts\(\): option "server" must be a server that is not listening yet; received "a listening server" \(string\)\. Call serverTimeouts\(server\) before server\.listen\(\); with Express, serverTimeouts\(http\.createServer\(app\)\)\.listen\(port\)/,
    })
    t.throws(() => serverTimeouts(createHttp2Server() as never), {
      name: 'ConfigError',
      message: /option "server" must be a node:http or node:https Server.*HTTP\/2 servers have other timeouts/,
    })
    t.throws(() => serverTimeouts({} as never), {
      name: 'ConfigError',
      message: /option "server" must be a node:http or node:https Server/,
    })
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { headersTimeoutMs: 0 },
        /option "headersTimeoutMs" must be an integer from 100 to 120000; received 0 \(number\)\. Real clients send their headers at once/,
      ],
      [
        { headersTimeoutMs: '10s' },
        /option "headersTimeoutMs" must be an integer from 100 to 120000; received "10s" \(string\)\. Real clients/,
      ],
      [
        { requestTimeoutMs: 0 },
        /option "requestTimeoutMs" must be an integer from 100 to 3600000; received 0 \(number\)\. Use 30_000 \(the default\), or more for large uploads/,
      ],
      [
        { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 },
        /option "requestTimeoutMs" must be at least headersTimeoutMs \(20000\); received 10000 \(number\)\. The whole request includes its headers/,
      ],
      [
        { keepAliveTimeoutMs: 0 },
        /option "keepAliveTimeoutMs" must be an integer from 100 to 600000; received 0 \(number\)\. Use 5_000 \(the default\), or just above your load balancer's idle timeout/,
      ],
      [
        { inactivityTimeoutMs: -1 },
        /option "inactivityTimeoutMs" must be an integer from 100 to 3600000; received -1 \(number\)\. Use 120_000 \(the default\), more for silent streams, or 0 to turn it off/,
      ],
      [
        { checkIntervalMs: 5 },
        /option "checkIntervalMs" must be an integer from 10 to 30000; received 5 \(number\)\. Use 1_000 \(the default\)/,
      ],
      [
        { headersTimeoutMs: 500, checkIntervalMs: 1_000 },
        /option "checkIntervalMs" must be at most headersTimeoutMs \(500\); received 1000 \(number\)\. A check interval longer than the timeout/,
      ],
      [
        { headerTimeoutMs: 1000 },
        /^serverTimeouts\(\): unknown option "headerTimeoutMs"; did you mean "headersTimeoutMs"\?$/,
      ],
    ]
    for (const [options, message] of cases)
      t.throws(
        () => serverTimeouts(createServer(), options as never),
        { name: 'ConfigError', message },
        JSON.stringify(options),
      )
    const off = serverTimeouts(createServer(), { inactivityTimeoutMs: 0 })
    t.equal(off.timeout, 0, 'inactivityTimeoutMs 0 turns the inactivity timeout off')
  },
)
