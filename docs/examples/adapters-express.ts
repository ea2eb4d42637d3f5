// Adapters: the production layers in an Express 5 app through toExpress(), and Express's
// error handler answered by errorBoundary() (docs/adapters.md).
import { createServer } from 'node:http'
import express from 'express'
import {
  compose,
  compression,
  cors,
  errorBoundary,
  getJwtClaims,
  jwtAuth,
  rateLimit,
  requestId,
  securityHeaders,
  serverTimeouts,
} from 'http-onion'
import { toExpress, toExpressErrorHandler } from 'http-onion/express'

const app = express()

// One toExpress around the composed stack: ordering checked by compose, one adapter hop.
app.use(
  toExpress(
    compose(
      errorBoundary(),
      requestId(),
      securityHeaders(),
      cors({ origins: ['https://app.example.com'], credentials: true }),
      rateLimit({ limit: 100, windowMs: 60_000 }),
      compression(),
      jwtAuth({ secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!!', publicPaths: ['/health'] }),
    ),
  ),
)

app.get('/health', (_req, res) => {
  res.send('ok')
})
app.get('/me', (req, res) => {
  res.json({ user: getJwtClaims(req).sub })
})
app.get('/report', () => {
  throw new Error('reporting database unreachable at 10.0.0.5')
})

// Route errors go to Express's error handlers, not back up through toExpress, and so do
// express.json()'s refusals. Answer them with an errorBoundary(): the same status, JSON shape,
// headers and report as any other failure, instead of Express's HTML page and stack trace.
app.use(toExpressErrorHandler(errorBoundary()))

// app.listen() would start listening before the timeouts could be set: create the server.
serverTimeouts(createServer(app)).listen(3000, '127.0.0.1')
