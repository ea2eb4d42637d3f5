// cors(): a credentialed API for known front ends (docs/middleware/cors.md).
import { createServer } from 'node:http'
import { compose, cors, HttpError, sendError, serverTimeouts } from 'http-onion'
import { defineMiddleware } from 'http-onion/core'

const apiCors = cors({
  origins: ['https://app.example.com', 'https://*.preview.example.com', /^http:\/\/localhost:\d+$/],
  credentials: true,
  allowedHeaders: ['content-type', 'authorization', 'x-request-id'],
  exposedHeaders: ['x-request-id'],
  maxAge: 7200,
})

// A stand-in for jwtAuth(): cors wraps it, so preflights never meet it and its 401s
// carry CORS headers that let the browser show them.
const auth = defineMiddleware(
  { name: 'jwtAuth' },
  (next) =>
    function authHandler(req, res) {
      if (req.headers.authorization !== 'Bearer demo') return void sendError(req, res, new HttpError(401))
      return next(req, res)
    },
)

serverTimeouts(
  createServer(
    compose(
      apiCors,
      auth,
    )((_req, res) => {
      res.setHeader('x-request-id', 'req-42')
      res.setHeader('content-type', 'application/json')
      res.end('{"items":[]}')
    }),
  ),
).listen(3000)
