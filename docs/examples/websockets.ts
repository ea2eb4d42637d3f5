// handleUpgrades(): WebSocket handshakes through the same stack as requests, with ws
// (docs/websockets.md). One stack: a request id, an access log, an origin check, a rate limit,
// a session and a token; the chat reads the claims and the session like a route.
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import {
  accessLog,
  compose,
  cors,
  errorBoundary,
  getJwtClaims,
  getRequestId,
  getSession,
  handleUpgrades,
  jwtAuth,
  rateLimit,
  requestId,
  securityHeaders,
  session,
} from 'http-onion'

const stack = compose(
  errorBoundary(),
  requestId(),
  accessLog({ upgradeClose: true }),
  securityHeaders(),
  // Browsers never preflight a handshake: cors() refuses one from an origin not listed (403).
  cors({ origins: ['https://app.example'], credentials: true }),
  rateLimit({ limit: 10, windowMs: 60_000 }),
  session({ secrets: [process.env.SESSION_SECRET ?? 'dev-only-session-secret-of-32-bytes!!'] }),
  // Browsers cannot set Authorization on a WebSocket: the token comes in a cookie.
  jwtAuth({ secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!!', cookie: 'token' }),
)

const server = createServer(stack((req, res) => res.end(`hello ${getJwtClaims(req).sub}\n`)))

const wss = new WebSocketServer({ noServer: true })
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify({ hello: getJwtClaims(req).sub, requestId: getRequestId(req) }))
  ws.on('message', (text) => ws.send(`echo ${text}`))
})

// Every handshake runs the stack; a refusal is a JSON answer on the socket. The 101 that ws
// writes carries x-request-id and the session cookie the layers set.
handleUpgrades(server, stack, (req, socket, head) => {
  getSession(req).set('joinedAt', Date.now())
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
})

server.listen(3000)
