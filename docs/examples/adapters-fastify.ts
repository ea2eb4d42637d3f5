// Adapters: the production layers in a Fastify app through toFastify(), and Fastify's error
// handler answered by errorBoundary() (docs/adapters.md).
import Fastify from 'fastify'
import {
  apiKey,
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
import { toFastify, toFastifyErrorHandler, toFastifyHook } from 'http-onion/fastify'

const fastify = Fastify()

// await fastify.register(fastifyCors, { origin: ['https://app.example.com'], credentials: true }) becomes:
await fastify.register(
  toFastify(
    compose(
      errorBoundary(),
      requestId(),
      securityHeaders(),
      cors({ origins: ['https://app.example.com'], credentials: true }),
      compression(),
      jwtAuth({
        secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!!',
        publicPaths: ['/health', '/admin/*'],
      }),
    ),
  ),
)

// Route errors go to Fastify's error handler, which would show a 500's message. Answer them
// with an errorBoundary() instead: the same status, JSON shape, headers and report. Set it
// before declaring routes: a route keeps the error handler in place when it was added.
fastify.setErrorHandler(toFastifyErrorHandler(errorBoundary()))

fastify.get('/health', async () => 'ok')
fastify.get('/me', async (request) => ({ user: getJwtClaims(request.raw).sub }))
fastify.get('/report', async () => {
  throw new Error('reporting database unreachable at 10.0.0.5')
})

// A layer for one scope only: a hook in an encapsulated plugin, here an API key for /admin.
await fastify.register(
  async (admin) => {
    admin.addHook(
      'onRequest',
      toFastifyHook(apiKey({ keys: [process.env.ADMIN_KEY ?? 'dev-only-admin-key-0123456789'] })),
    )
    admin.get('/stats', async () => ({ uptime: Math.round(process.uptime()) }))
  },
  { prefix: '/admin' },
)

// Fastify creates its server at construction; it listens only below.
serverTimeouts(fastify.server)
await fastify.listen({ port: 3000, host: '127.0.0.1' })
