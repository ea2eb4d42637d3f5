import { createServer } from 'node:http'
import { accessLog, compose, compression, cors, errorBoundary, rateLimit, requestId, serverTimeouts } from 'http-onion'

// Outermost first: the boundary answers any failure, every request gets an id and a log line,
// CORS wraps the limiter so a browser can read its 429, and compression wraps the routes.
const stack = compose(
  { strict: true },
  errorBoundary(),
  requestId(),
  accessLog(),
  cors({ origins: ['https://app.example.com'] }),
  rateLimit({ limit: 100, windowMs: 60_000 }),
  compression(),
)

// serverTimeouts: clients that trickle their headers or body are cut within seconds, not minutes.
serverTimeouts(
  createServer(
    stack((req, res) => {
      if (req.url === '/boom') throw new Error('database password is hunter2') // never shown to the client
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ hello: 'world', items: Array.from({ length: 200 }, (_, id) => ({ id })) }))
    }),
  ),
).listen(3000)
