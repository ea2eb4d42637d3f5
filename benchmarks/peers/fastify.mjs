// Fastify 5 with its plugins: @fastify/cors, helmet, rate-limit, compress, jwt, and its
// pino logger; request ids echoed and Server-Timing added in an onSend hook.
import fastifyCompress from '@fastify/compress'
import fastifyCors from '@fastify/cors'
import fastifyHelmet from '@fastify/helmet'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import pino from 'pino'
import { v7 as uuidv7 } from 'uuid'
import { benchSettings as S, largeJson, logFile, smallJson, streamMegabytes, textStream } from './shared.mjs'

async function fastifyStack() {
  const app = Fastify({
    loggerInstance: pino(pino.destination({ dest: logFile('fastify'), sync: false })),
    genReqId: () => uuidv7(),
    requestIdHeader: false,
  })
  await app.register(fastifyHelmet)
  await app.register(fastifyCors, { origin: [S.allowedOrigin], credentials: true, maxAge: 600 })
  await app.register(fastifyRateLimit, { max: S.rateLimit, timeWindow: S.windowMs })
  await app.register(fastifyCompress, {
    threshold: S.threshold,
    encodings: ['gzip', 'deflate'],
    zlibOptions: { level: S.gzipLevel },
  })
  await app.register(fastifyJwt, { secret: S.jwtSecret })
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    reply.header('server-timing', `total;dur=${reply.elapsedTime.toFixed(1)}`)
    done(null, payload)
  })
  const json = (body) => (_request, reply) => {
    reply.type('application/json').send(body)
  }
  app.get('/json', json(smallJson))
  app.get('/json64', json(largeJson))
  app.get('/stream', (request, reply) => {
    reply.type('text/plain; charset=utf-8').send(textStream(streamMegabytes(request.url)))
  })
  app.get(
    '/protected',
    {
      onRequest: async (request) => {
        await request.jwtVerify()
      },
    },
    json(smallJson),
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app.server
}

export const scenarios = {
  fastify: {
    description: 'Fastify 5 + @fastify/cors, helmet, rate-limit, compress, jwt and its logger',
    start: fastifyStack,
  },
}
