import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import { SignJWT } from 'jose'
import Koa from 'koa'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import {
  compose,
  getJwtClaims,
  getRequestId,
  handleUpgrades,
  jwtAuth,
  rateLimit,
  requestId,
  type UpgradeHandler,
} from '../../lib/index.js'
import { toExpress } from '../../adapters/express.js'
import { toFastify } from '../../adapters/fastify.js'
import { toKoa } from '../../adapters/koa.js'

// The frameworks never see an upgrade: handleUpgrades() takes the server they listen on, and
// the same stack serves their requests through the adapter and the handshakes directly, so
// its state (a rate limit's counts) is one.

const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'
const token = (sub: string): Promise<string> =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))

const makeStack = () =>
  compose(requestId(), rateLimit({ limit: 3, windowMs: 60_000 }), jwtAuth({ secret: SECRET, algorithms: ['HS256'] }))

function upgradeInto(t: Test, wss: WebSocketServer): UpgradeHandler {
  t.teardown(() => {
    for (const client of wss.clients) client.terminate()
  })
  return (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.send(`${getJwtClaims(req).sub} ${getRequestId(req)}`))
}

type Outcome = { status: number; message?: string; id?: string }

function handshake(port: number, bearer?: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(
      `ws://127.0.0.1:${port}/live`,
      bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {},
    )
    let id: string | undefined
    ws.once('upgrade', (res) => {
      id = res.headers['x-request-id'] as string
    })
    ws.once('message', (m) => {
      ws.terminate()
      resolve({ status: 101, message: String(m), id })
    })
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      resolve({ status: res.statusCode ?? 0 })
    })
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err)
    })
  })
}

async function scenario(t: Test, port: number): Promise<void> {
  const jwt = await token('ada')
  t.equal((await handshake(port)).status, 401, 'no token: refused, through the stack')
  const http = await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${jwt}` } })
  t.equal(http.status, 200, 'a request through the adapter')
  t.equal(await http.text(), 'ada')
  const ok = await handshake(port, jwt)
  t.equal(ok.status, 101)
  t.equal(ok.message, `ada ${ok.id}`, 'the handler read the claims and request id; the 101 carried the id')
  t.equal((await handshake(port, jwt)).status, 429, 'one rate limit for requests and handshakes')
}

t.test('handleUpgrades(): Express, on the server app.listen returns', async (t) => {
  const stack = makeStack()
  const app = express()
  app.use(toExpress(stack))
  app.get('/', (req, res) => {
    res.send(getJwtClaims(req).sub)
  })
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())))
  handleUpgrades(server, stack, upgradeInto(t, new WebSocketServer({ noServer: true })))
  await scenario(t, (server.address() as AddressInfo).port)
})

t.test('handleUpgrades(): Koa, on the server app.listen returns', async (t) => {
  const stack = makeStack()
  const app = new Koa()
  app.use(toKoa(stack))
  app.use((ctx) => {
    ctx.body = getJwtClaims(ctx.req).sub
  })
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())))
  handleUpgrades(server, stack, upgradeInto(t, new WebSocketServer({ noServer: true })))
  await scenario(t, (server.address() as AddressInfo).port)
})

t.test('handleUpgrades(): Fastify, on fastify.server', async (t) => {
  const stack = makeStack()
  const fastify = Fastify()
  await fastify.register(toFastify(stack) as never)
  fastify.get('/', async (request) => getJwtClaims(request.raw).sub)
  handleUpgrades(fastify.server, stack, upgradeInto(t, new WebSocketServer({ noServer: true })))
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  await scenario(t, (fastify.server.address() as AddressInfo).port)
})
