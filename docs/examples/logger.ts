// Reports and access-log lines into one logger: Fastify's own pino logger (docs/errors.md,
// "Sending reports to your logger"). Fastify's request logging is off, as accessLog() writes
// one line per exchange; the lines Fastify still writes (request.log) carry the same id.
import Fastify from 'fastify'
import { accessLog, compose, errorBoundary, requestId, serverTimeouts } from 'http-onion'
import { fastifyRequestId } from 'http-onion/fastify'

// One id per request for Fastify's lines (reqId, request.log) and the stack's (access log,
// reports, error bodies, x-request-id): Fastify asks the requestId() layer the stack mounts.
const ids = requestId()
const app = Fastify({ logger: true, disableRequestLogging: true, genReqId: fastifyRequestId(ids) })
const log = app.log

const stack = compose(
  { logger: log },
  errorBoundary(),
  ids,
  accessLog({ sink: (_line, entry) => log.info({ access: entry }, 'exchange') }),
)

const handler = stack((req, res) => {
  if (req.url === '/fail') throw new Error('the orders table is locked')
  res.end('ok')
})
app.all('/*', (request, reply) => {
  request.log.info('handing over to the stack')
  reply.hijack()
  return handler(request.raw, reply.raw)
})

serverTimeouts(app.server)
await app.listen({ port: 3000, host: '127.0.0.1' })
