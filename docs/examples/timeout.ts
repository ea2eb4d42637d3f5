// timeout(): a deadline to start answering, a signal the handler passes on, per-path
// deadlines (docs/middleware/timeout.md).
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { compose, errorBoundary, getRequestSignal, serverTimeouts, timeout } from 'http-onion'

const app = compose(
  errorBoundary(),
  timeout({ ms: 200, retryAfterSeconds: 5, perPath: [{ paths: ['/reports/*'], ms: 2000 }] }),
)(async (req, res) => {
  // Stand-in for a slow query; the signal cancels it at the deadline or when the client leaves.
  await sleep(req.url === '/fast' ? 10 : 500, undefined, { signal: getRequestSignal(req) })
  res.end(`done ${req.url}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
