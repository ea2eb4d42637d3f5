// Express 5 with the middleware people use: cors, helmet, express-rate-limit, compression,
// pino-http (with request ids echoed), response-time, express-jwt on the protected route.
import { createServer } from 'node:http'
import compression from 'compression'
import cors from 'cors'
import express from 'express'
import { expressjwt } from 'express-jwt'
import { rateLimit } from 'express-rate-limit'
import helmet from 'helmet'
import pino from 'pino'
import { pinoHttp } from 'pino-http'
import responseTime from 'response-time'
import { v7 as uuidv7 } from 'uuid'
import { benchSettings as S, largeJson, logFile, smallJson, streamMegabytes, streamText } from './shared.mjs'

function expressStack({ compress }) {
  const app = express()
  app.disable('x-powered-by')
  app.use(
    pinoHttp({
      logger: pino(pino.destination({ dest: logFile('express'), sync: false })),
      genReqId: (_req, res) => {
        const id = uuidv7()
        res.setHeader('x-request-id', id)
        return id
      },
    }),
  )
  app.use(responseTime())
  app.use(helmet())
  app.use(cors({ origin: [S.allowedOrigin], credentials: true, maxAge: 600 }))
  app.use(rateLimit({ windowMs: S.windowMs, limit: S.rateLimit, standardHeaders: 'draft-8', legacyHeaders: false }))
  if (compress) app.use(compression({ level: S.gzipLevel, threshold: S.threshold }))
  const jwt = expressjwt({ secret: S.jwtSecret, algorithms: ['HS256'] })
  app.get('/json', (_req, res) => {
    res.type('application/json').send(smallJson)
  })
  app.get('/json64', (_req, res) => {
    res.type('application/json').send(largeJson)
  })
  app.get('/stream', (req, res) => streamText(res, streamMegabytes(req.url)))
  app.get('/protected', jwt, (_req, res) => {
    res.type('application/json').send(smallJson)
  })
  return app
}

const listen = (app) =>
  new Promise((ok) => {
    const server = createServer(app)
    server.listen(0, '127.0.0.1', () => ok(server))
  })

export const scenarios = {
  express: {
    description: 'Express 5 + cors, helmet, express-rate-limit, compression, pino-http, response-time, express-jwt',
    start: () => listen(expressStack({ compress: true })),
  },
}
