// Reports and access-log lines into one logger: Fastify's own pino logger (docs/errors.md,
// "Sending reports to your logger"). Fastify's request logging is off, as accessLog() writes
// one line per exchange.
import Fastify from 'fastify'
import { accessLog, compose, errorBoundary, requestId, serverTimeouts } from '../../lib/index.js'

const app = Fastify({ logger: true, disableRequestLogging: true })
const log = app.log

const stack = compose(
  { logger: log },
  errorBoundary(),
  requestId(),
  accessLog({ sink: (_line, entry) => log.info({ access: entry }, 'exchange') }),
)

const handler = stack((req, res) => {
  if (req.url === '/fail') throw new Error('the orders table is locked')
  res.end('ok')
})
app.all('/*', (request, reply) => {
  reply.hijack()
  return handler(request.raw, reply.raw)
})

serverTimeouts(app.server)
await app.listen({ port: 3000, host: '127.0.0.1' })
