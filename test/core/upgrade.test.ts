import { createServer, type IncomingMessage, ServerResponse, type Server } from 'node:http'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import {
  accessLog,
  bodyCapture,
  bodyLimit,
  clientIp,
  compose,
  compression,
  conditional,
  cors,
  errorBoundary,
  getJwtClaims,
  getRequestId,
  getSession,
  handleUpgrades,
  HttpError,
  jwtAuth,
  loadShedding,
  type Middleware,
  rateLimit,
  requestId,
  securityHeaders,
  sendError,
  session,
  timeout,
  trustedHost,
  tryGetRequestSignal,
  type AccessLogEntry,
  type HandleUpgradesOptions,
  type UpgradeHandler,
} from '../../lib/index.js'
import { isUpgradeRequest, upgradedConnections } from '../../lib/core.js'
import { listen } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'

const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'
const token = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))

interface WsServer {
  url: string
  port: number
  server: Server
  wss: WebSocketServer
  /** What the upgrade handler saw of each handshake it reached. */
  seen: IncomingMessage[]
}

/** An http.Server whose upgrades go through `stack` into ws; requests get 200 "http". */
async function startWs(
  t: Test,
  stack: Middleware,
  options?: HandleUpgradesOptions,
  onUpgrade?: (wss: WebSocketServer) => UpgradeHandler,
  httpHandler: (req: IncomingMessage, res: ServerResponse) => unknown = (_req, res) => res.end('http'),
): Promise<WsServer> {
  const server = createServer(httpHandler)
  const wss = new WebSocketServer({ noServer: true })
  const seen: IncomingMessage[] = []
  const upgrade: UpgradeHandler =
    onUpgrade?.(wss) ??
    ((req, socket, head) => {
      seen.push(req)
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
  handleUpgrades(server, stack, upgrade, options)
  // Upgraded sockets are not the HTTP server's: end them, or close() waits for them.
  t.teardown(() => {
    for (const client of wss.clients) client.terminate()
  })
  const { url, port } = await listen(t, server)
  return { url: url.replace('http:', 'ws:'), port, server, wss, seen }
}

interface Refusal {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/** Open a WebSocket; resolves with it once open, or with the HTTP answer that refused it. */
function open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket | Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err)
    })
  })
}

async function refused(t: Test, url: string, options?: ConstructorParameters<typeof WebSocket>[2]): Promise<Refusal> {
  const outcome = await open(url, options)
  if (outcome instanceof WebSocket) {
    outcome.terminate()
    t.fail('the handshake was accepted')
    return { status: 101, headers: {}, body: '{}' }
  }
  return outcome
}

async function accepted(t: Test, url: string, options?: ConstructorParameters<typeof WebSocket>[2]) {
  const outcome = await open(url, options)
  if (!(outcome instanceof WebSocket)) {
    t.fail(`the handshake was refused: ${outcome.status} ${outcome.body}`)
    throw new Error('refused')
  }
  t.teardown(() => outcome.terminate())
  return outcome
}

/** The 101's headers, as the client got them. */
function openWithHead(
  url: string,
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<{ ws: WebSocket; headers: IncomingMessage['headers']; first: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    // Listened for from the start: a message sent on connection can come with the 101.
    const first = nextMessage(ws)
    let headers: IncomingMessage['headers'] = {}
    ws.once('upgrade', (res) => {
      headers = res.headers
    })
    ws.once('open', () => resolve({ ws, headers, first }))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

const nextMessage = (ws: WebSocket): Promise<string> => new Promise((ok) => ws.once('message', (m) => ok(String(m))))

/** A raw handshake: the bytes the server wrote, and whether it closed the socket. */
function rawHandshake(port: number, path = '/', version = '13'): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          `Sec-WebSocket-Version: ${version}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      )
    })
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve({ text, closed: true }))
  })
}

const authStack = () =>
  compose(
    errorBoundary(),
    requestId(),
    securityHeaders(),
    jwtAuth({ secret: SECRET, cookie: 'token', algorithms: ['HS256'] }),
  )

t.test('handleUpgrades(): a handshake without a token gets 401 JSON with outer headers, and no upgrade', async (t) => {
  const { url, port, seen } = await startWs(t, authStack())
  const answer = await refused(t, `${url}/chat`)
  t.equal(answer.status, 401)
  t.match(answer.headers['content-type'], /^application\/json/)
  t.match(JSON.parse(answer.body), { status: 401, code: 'missing_token', requestId: answer.headers['x-request-id'] })
  t.match(answer.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(answer.headers['x-content-type-options'], 'nosniff')
  t.ok(answer.headers['content-security-policy'], 'security headers on the refusal')
  t.equal(answer.headers.connection, 'close')
  t.equal(seen.length, 0, 'the upgrade handler never ran')
  // The server closes the socket after its answer: no hanging handshake.
  const raw = await rawHandshake(port, '/chat')
  t.match(raw.text, /^HTTP\/1\.1 401 Unauthorized\r\n/)
  t.ok(raw.closed)
})

t.test('handleUpgrades(): with a token it connects; the handler reads claims, request id and client ip', async (t) => {
  const { url } = await startWs(t, authStack(), undefined, (wss) => (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ claims: getJwtClaims(req), id: getRequestId(req), ip: clientIp(req) }))
    })
  })
  const jwt = await token({ sub: 'ada', room: 'lobby' })
  for (const how of [{ cookie: `token=${jwt}` }, { authorization: `Bearer ${jwt}` }]) {
    const { ws, headers, first } = await openWithHead(`${url}/chat`, { headers: how })
    t.teardown(() => ws.terminate())
    const seen = JSON.parse(await first)
    t.match(seen.claims, { sub: 'ada', room: 'lobby' })
    t.equal(seen.id, headers['x-request-id'], 'the 101 carries the request id the handler read')
    t.equal(seen.ip, '127.0.0.1')
  }
})

t.test('handleUpgrades(): the 101 carries x-request-id, security headers and the session cookie', async (t) => {
  const sessions = session({ secrets: ['a-session-secret-of-at-least-32-bytes!!'] })
  const { url } = await startWs(
    t,
    compose(requestId(), securityHeaders(), sessions),
    undefined,
    (wss) => (req, s, h) => {
      getSession(req).set('joined', 'lobby')
      wss.handleUpgrade(req, s, h, (ws) => ws.send(getRequestId(req)))
    },
  )
  const { ws, headers, first } = await openWithHead(url)
  t.teardown(() => ws.terminate())
  t.equal(headers['x-request-id'], await first)
  t.match(headers['set-cookie']?.[0], /^session=[^;]+; /)
  t.equal(headers['x-content-type-options'], 'nosniff')
  t.equal(headers.upgrade, 'websocket', "ws's own headers are kept")
  t.ok(headers['sec-websocket-accept'])
  t.notOk(headers['content-length'], 'a 101 has no body framing')
  t.notOk(headers['transfer-encoding'])
})

t.test(
  'handleUpgrades(): cors() refuses cross-site handshakes and lets same-origin, listed and non-browser ones through',
  async (t) => {
    const { url, port } = await startWs(t, compose(requestId(), cors({ origins: ['https://app.example'] })))
    const evil = await refused(t, url, { origin: 'https://evil.example' })
    t.equal(evil.status, 403)
    t.match(JSON.parse(evil.body), { status: 403, code: 'cors_origin_not_allowed' })
    t.ok(evil.headers['x-request-id'])
    t.equal((await refused(t, url, { origin: 'null' })).status, 403)
    t.equal(
      (await refused(t, url, { origin: `https://127.0.0.1:${port}` })).status,
      403,
      'another scheme is another origin',
    )
    for (const origin of ['https://app.example', `http://127.0.0.1:${port}`, undefined]) {
      const ws = await accepted(t, url, origin === undefined ? {} : { origin })
      t.equal(ws.readyState, WebSocket.OPEN, `origin ${origin}`)
    }
    const open = await startWs(t, cors({ origins: ['https://app.example'], checkUpgradeOrigin: false }))
    t.equal((await accepted(t, open.url, { origin: 'https://evil.example' })).readyState, WebSocket.OPEN)
    const any = await startWs(t, cors())
    t.equal((await accepted(t, any.url, { origin: 'https://evil.example' })).readyState, WebSocket.OPEN, "origins '*'")
    const byFunction = await startWs(t, cors({ origins: async (origin) => origin === 'https://ok.example' }))
    t.equal((await accepted(t, byFunction.url, { origin: 'https://ok.example' })).readyState, WebSocket.OPEN)
    t.equal((await refused(t, byFunction.url, { origin: 'https://no.example' })).status, 403)
  },
)

t.test('handleUpgrades(): the 11th handshake within a rateLimit of 10 gets 429', async (t) => {
  const { url } = await startWs(t, compose(requestId(), rateLimit({ limit: 10, windowMs: 60_000 })))
  for (let i = 1; i <= 10; i++) {
    const ws = await accepted(t, url)
    ws.terminate()
  }
  const answer = await refused(t, url)
  t.equal(answer.status, 429)
  t.match(JSON.parse(answer.body), { code: 'too_many_requests' })
  t.ok(answer.headers['retry-after'])
})

t.test(
  'handleUpgrades(): loadShedding counts handshakes with requests; trustedHost refuses a foreign host',
  async (t) => {
    let release = (): void => {}
    const held = new Promise<void>((ok) => (release = ok))
    const shed = loadShedding({ maxInFlight: 1, maxEventLoopDelayMs: 0 })
    let entered = false
    const { url } = await startWs(t, shed, undefined, undefined, async (req, res) => {
      await shed(async () => {
        entered = true
        await held
        res.end('slow')
      })(req, res)
    })
    const slow = fetch(url.replace('ws:', 'http:')).then((r) => r.text())
    // The request holds the one slot.
    await until(() => entered)
    const answer = await refused(t, url)
    t.equal(answer.status, 503)
    t.ok(answer.headers['retry-after'])
    release()
    t.equal(await slow, 'slow')
    const ws = await accepted(t, url)
    t.equal(ws.readyState, WebSocket.OPEN, 'a slot again once the request ended')

    const hosts = await startWs(t, trustedHost({ allowedHosts: ['app.example'] }))
    const foreign = await refused(t, hosts.url)
    t.equal(foreign.status, 400)
    t.match(JSON.parse(foreign.body), { code: 'host_not_allowed' })
    t.equal((await accepted(t, hosts.url, { headers: { host: 'app.example' } })).readyState, WebSocket.OPEN)
  },
)

t.test(
  'handleUpgrades(): a layer that throws gets 500 JSON and a closed socket, with or without an error boundary',
  async (t) => {
    const boom: Middleware = () => () => {
      throw new Error('boom')
    }
    const rejecting: Middleware = () => async () => {
      throw new Error('async boom')
    }
    for (const stack of [compose(requestId(), boom), compose(errorBoundary(), requestId(), rejecting)]) {
      const { port, seen } = await startWs(t, stack)
      const raw = await rawHandshake(port)
      t.match(raw.text, /^HTTP\/1\.1 500 Internal Server Error\r\n/)
      t.match(raw.text, /\r\nx-request-id: /)
      t.match(raw.text, /"code":"internal_server_error"/)
      t.notMatch(raw.text, /boom/, 'the message is not exposed')
      t.ok(raw.closed)
      t.equal(seen.length, 0)
    }
    // The upgrade handler itself throwing before it answered.
    const { port } = await startWs(t, requestId(), undefined, () => () => {
      throw new Error('handler boom')
    })
    const raw = await rawHandshake(port)
    t.match(raw.text, /^HTTP\/1\.1 500 /)
    t.ok(raw.closed)
  },
)

t.test('handleUpgrades(): the upgrade handler may refuse through res like a route', async (t) => {
  const { url } = await startWs(t, requestId(), undefined, (wss) => (req, socket, head, res) => {
    if (req.url !== '/chat') return void sendError(req, res, new HttpError(404))
    wss.handleUpgrade(req, socket, head, () => {})
  })
  const answer = await refused(t, `${url}/nope`)
  t.equal(answer.status, 404)
  t.match(JSON.parse(answer.body), { code: 'not_found', requestId: answer.headers['x-request-id'] })
  t.equal((await accepted(t, `${url}/chat`)).readyState, WebSocket.OPEN)
})

t.test(
  "handleUpgrades(): ws's own refusal of a bad handshake goes out through the response, with the layers' headers",
  async (t) => {
    const lines: AccessLogEntry[] = []
    const { port } = await startWs(t, compose(requestId(), accessLog({ sink: (_line, entry) => lines.push(entry) })))
    // A version ws does not speak: ws answers 400 itself.
    const bad = await rawHandshake(port, '/', '99')
    t.match(bad.text, /^HTTP\/1\.1 400 Bad Request\r\n/)
    t.match(bad.text, /\r\nx-request-id: [0-9a-f-]{36}\r\n/)
    await until(() => lines.some((l) => l.status === 400))
    t.match(
      lines.find((l) => l.status === 400),
      { status: 400, upgrade: 'handshake', level: 'warn' },
    )
  },
)

t.test('handleUpgrades(): the access log writes the handshake line, and the close line when asked', async (t) => {
  const lines: AccessLogEntry[] = []
  const texts: string[] = []
  const log = accessLog({
    sink: (line, entry) => {
      lines.push(entry)
      texts.push(line)
    },
    upgradeClose: true,
    query: 'keep',
  })
  const { url } = await startWs(t, compose(requestId(), log, jwtAuth({ secret: SECRET, algorithms: ['HS256'] })))
  const answer = await refused(t, `${url}/chat?room=1`)
  t.equal(answer.status, 401)
  await until(() => lines.length === 1)
  t.match(lines[0], { method: 'GET', path: '/chat?room=1', status: 401, upgrade: 'handshake', level: 'warn' })
  const jwt = await token({ sub: 'ada' })
  const { ws, headers } = await openWithHead(`${url}/chat?room=2`, { headers: { authorization: `Bearer ${jwt}` } })
  await until(() => lines.length === 2)
  t.match(lines[1], {
    path: '/chat?room=2',
    status: 101,
    outcome: 'finished',
    upgrade: 'handshake',
    level: 'info',
    requestId: headers['x-request-id'],
    userId: 'ada',
  })
  t.equal(lines.length, 2, 'no line for the open connection yet')
  ws.send('hello there')
  ws.close()
  await until(() => lines.length === 3)
  t.match(lines[2], { status: 101, upgrade: 'closed', requestId: headers['x-request-id'], userId: 'ada' })
  t.ok(lines[2]!.bytesIn > 0, 'the connection bytes after the 101')
  t.ok(lines[2]!.durationMs >= lines[1]!.durationMs)
  t.same(
    texts.map((line) => JSON.parse(line).upgrade),
    ['handshake', 'handshake', 'closed'],
    'the written lines carry the field too',
  )
})

t.test('handleUpgrades(): an accepted connection is tracked; goAway closes it with 1001', async (t) => {
  const { url, server } = await startWs(t, requestId())
  t.equal(upgradedConnections(server).size, 0)
  const ws = await accepted(t, url)
  await until(() => upgradedConnections(server).size === 1)
  t.equal(upgradedConnections(server).size, 1)
  const closed = new Promise<number>((ok) => ws.once('close', (code) => ok(code)))
  for (const connection of upgradedConnections(server)) connection.goAway()
  t.equal(await closed, 1001)
  await until(() => upgradedConnections(server).size === 0)
  t.equal(upgradedConnections(server).size, 0, 'gone from the registry once closed')

  // A refused handshake is never tracked.
  const refusing = await startWs(t, jwtAuth({ secret: SECRET, algorithms: ['HS256'] }))
  await refused(t, refusing.url)
  t.equal(upgradedConnections(refusing.server).size, 0)
})

t.test("handleUpgrades(): goAway can be the WebSocket library's own close", async (t) => {
  const sockets = new WeakMap<IncomingMessage, WebSocket>()
  const { url, server } = await startWs(
    t,
    requestId(),
    { goAway: (_socket: Duplex, req) => sockets.get(req)?.close(1001, 'server restarting') },
    (wss) => (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => sockets.set(req, ws)),
  )
  const ws = await accepted(t, url)
  await until(() => upgradedConnections(server).size === 1)
  const closed = new Promise<[number, string]>((ok) => ws.once('close', (code, reason) => ok([code, String(reason)])))
  for (const connection of upgradedConnections(server)) connection.goAway()
  t.same(await closed, [1001, 'server restarting'])
})

t.test(
  'handleUpgrades(): compression, bodyLimit, bodyCapture, timeout and conditional pass a handshake through',
  async (t) => {
    const marks: boolean[] = []
    const stack = compose(
      requestId(),
      compression({ threshold: 0 }),
      conditional(),
      timeout({ ms: 1 }),
      bodyLimit({ limit: 1 }),
      bodyCapture(),
    )
    const { url } = await startWs(t, stack, undefined, (wss) => (req, socket, head) => {
      marks.push(isUpgradeRequest(req), tryGetRequestSignal(req) === undefined)
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`echo ${m}`)))
    })
    const { ws, headers } = await openWithHead(url, { headers: { 'accept-encoding': 'gzip', 'if-none-match': '*' } })
    t.teardown(() => ws.terminate())
    t.same(marks, [true, true], 'an upgrade, and no request signal from timeout()')
    t.notOk(headers['content-encoding'])
    t.notOk(headers.vary)
    // Longer than the 1 ms timeout: the connection is not cut.
    ws.send('x'.repeat(100))
    t.equal(await nextMessage(ws), `echo ${'x'.repeat(100)}`)
  },
)

t.test('handleUpgrades(): ordinary requests are untouched and are not upgrades', async (t) => {
  let upgrade: boolean | undefined
  const { url } = await startWs(t, requestId(), undefined, undefined, (req, res) => {
    upgrade = isUpgradeRequest(req)
    res.end('http')
  })
  t.equal(await (await fetch(url.replace('ws:', 'http:'))).text(), 'http')
  t.equal(upgrade, false)
})

t.test('handleUpgrades(): pins the Node internals it relies on', async (t) => {
  // A ServerResponse built for a request bound to a socket, as parserOnIncoming does.
  t.type(ServerResponse.prototype.assignSocket, 'function')
  t.type(ServerResponse.prototype.detachSocket, 'function')
  // `closed` reads the `_closed` flag that Node's own resOnFinish sets before emitting 'close'.
  const res = new ServerResponse({ method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: {} } as never)
  t.equal(res.closed, false)
  ;(res as unknown as { _closed: boolean })._closed = true
  t.equal(res.closed, true)
})

t.test('handleUpgrades(): config', async (t) => {
  const server = createServer()
  const noop: UpgradeHandler = () => {}
  t.throws(() => handleUpgrades({} as never, requestId(), noop), { name: 'ConfigError', message: /option "server"/ })
  t.throws(() => handleUpgrades(server, undefined as never, noop), { name: 'ConfigError', message: /option "stack"/ })
  t.throws(() => handleUpgrades(server, requestId(), 'ws' as never), {
    name: 'ConfigError',
    message: /option "onUpgrade"/,
  })
  t.throws(() => handleUpgrades(server, requestId(), noop, { goAway: 1001 as never }), {
    name: 'ConfigError',
    message: /option "goAway"/,
  })
  t.throws(() => handleUpgrades(server, requestId(), noop, { goaway: () => {} } as never), /unknown option "goaway"/)
  t.equal(server.listenerCount('upgrade'), 0, 'nothing attached by a refused call')
  const listener = handleUpgrades(server, requestId(), noop)
  t.equal(server.listeners('upgrade')[0], listener)
})
