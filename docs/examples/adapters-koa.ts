// Adapters: the production layers in a Koa app through toKoa(); errorBoundary inside it
// answers the errors of Koa's routes too (docs/adapters.md).
import { createServer } from 'node:http'
import Koa from 'koa'
import {
  compose,
  compression,
  cors,
  errorBoundary,
  getJwtClaims,
  jwtAuth,
  requestId,
  securityHeaders,
  serverTimeouts,
} from 'http-onion'
import { toKoa } from 'http-onion/koa'

const app = new Koa()

// app.use(cors({ origin: 'https://app.example.com', credentials: true })) with @koa/cors becomes:
app.use(
  toKoa(
    compose(
      errorBoundary(),
      requestId(),
      securityHeaders(),
      cors({ origins: ['https://app.example.com'], credentials: true }),
      compression(),
      jwtAuth({ secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!!', publicPaths: ['/health'] }),
    ),
  ),
)

app.use(async (ctx) => {
  if (ctx.path === '/health') ctx.body = 'ok'
  else if (ctx.path === '/me') ctx.body = { user: getJwtClaims(ctx.req).sub }
  else if (ctx.path === '/report') throw new Error('reporting database unreachable at 10.0.0.5')
})

serverTimeouts(createServer(app.callback())).listen(3000, '127.0.0.1')
