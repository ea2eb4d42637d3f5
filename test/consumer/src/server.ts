// A consumer of the published package: three layers on node:http, one request, then exit.
// Type-checked under strict NodeNext without skipLibCheck, with no Redis client installed.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  compose,
  errorBoundary,
  getRequestId,
  memoryStore,
  rateLimit,
  type RedisClient,
  redisStore,
  requestId,
  securityHeaders,
  serverTimeouts,
} from 'http-onion'
import { toExpress } from 'http-onion/express'
import { toFastify } from 'http-onion/fastify'
import { toKoa } from 'http-onion/koa'

const stack = compose(errorBoundary(), requestId(), securityHeaders(), rateLimit({ limit: 10, store: memoryStore() }))
const server = serverTimeouts(
  createServer(
    stack((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ id: getRequestId(req) }))
    }),
  ),
)

// The Redis store's option type compiles without ioredis: a client is any object of this shape.
export const makeStore = (client: RedisClient) => redisStore({ client })
export const adapters = [toExpress(stack), toKoa(stack), toFastify(stack)]

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as AddressInfo
  const res = await fetch(`http://127.0.0.1:${port}/`)
  const body = (await res.json()) as { id: string }
  const ok = res.status === 200 && body.id === res.headers.get('x-request-id') && res.headers.has('ratelimit')
  console.log(`consumer (ESM): ${res.status} x-request-id ${body.id}; ${ok ? 'ok' : 'WRONG'}`)
  server.close()
  process.exitCode = ok ? 0 : 1
})
