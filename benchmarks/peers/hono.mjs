// Hono on @hono/node-server with its own middleware: logger (to the same kind of file
// sink), request-id, timing, secure-headers, cors, hono-rate-limiter, compress, jwt.
import { createWriteStream } from 'node:fs'
import { serve } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { Hono } from 'hono'
import { compress } from 'hono/compress'
import { cors } from 'hono/cors'
import { csrf } from 'hono/csrf'
import { jwt } from 'hono/jwt'
import { logger } from 'hono/logger'
import { requestId } from 'hono/request-id'
import { secureHeaders } from 'hono/secure-headers'
import { timing } from 'hono/timing'
import { rateLimiter } from 'hono-rate-limiter'
import { v7 as uuidv7 } from 'uuid'
import { benchSettings as S, largeJson, logFile, smallJson, streamChunk, streamMegabytes } from './shared.mjs'

function honoStack({ withCompression }) {
  const log = createWriteStream(logFile(withCompression ? 'hono' : 'hono-nocompress'))
  const app = new Hono()
  app.use(
    logger((line) => {
      log.write(line + '\n')
    }),
  )
  app.use(requestId({ generator: () => uuidv7() }))
  app.use(timing())
  app.use(secureHeaders())
  app.use(cors({ origin: [S.allowedOrigin], credentials: true, maxAge: 600 }))
  app.use(
    rateLimiter({ windowMs: S.windowMs, limit: S.rateLimit, keyGenerator: (c) => getConnInfo(c).remote.address ?? '' }),
  )
  if (withCompression) app.use(compress({ encoding: 'gzip', threshold: S.threshold }))
  const json = (body) => (c) => c.body(body, 200, { 'content-type': 'application/json' })
  app.get('/json', json(smallJson))
  app.get('/json64', json(largeJson))
  app.get('/stream', (c) => {
    let left = streamMegabytes(c.req.url) * 16
    const body = new ReadableStream({
      pull(controller) {
        if (left-- > 0) controller.enqueue(new Uint8Array(streamChunk))
        else controller.close()
      },
    })
    return c.body(body, 200, { 'content-type': 'text/plain; charset=utf-8' })
  })
  app.get('/protected', jwt({ secret: S.jwtSecret, alg: 'HS256' }), json(smallJson))
  return new Promise((ok) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(server))
  })
}

export const scenarios = {
  hono: {
    description: 'Hono + logger, request-id, timing, secure-headers, cors, hono-rate-limiter, compress, jwt',
    start: () => honoStack({ withCompression: true }),
  },
  'hono-nocompress': {
    description: 'the Hono stack without compress',
    start: () => honoStack({ withCompression: false }),
  },
  'hono-post': {
    description: 'Hono alone answering POST /json, the baseline of hono-csrf',
    start: () => honoPost(false),
  },
  'hono-csrf': {
    description: "Hono's csrf (Origin and Sec-Fetch-Site; form content types only) on POST /json",
    start: () => honoPost(true),
  },
}

function honoPost(withCsrf) {
  const app = new Hono()
  if (withCsrf) app.use(csrf())
  app.post('/json', (c) => c.body(smallJson, 200, { 'content-type': 'application/json' }))
  return new Promise((ok) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(server))
  })
}
