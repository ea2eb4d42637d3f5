// Start-up and shutdown hooks, liveness and readiness, and a graceful drain on SIGTERM or
// Ctrl-C (docs/lifespan.md). `pool` stands for a database pool or any client to open and close.
import { createServer } from 'node:http'
import { accessLog, compose, errorBoundary, lifespan, requestId, serverTimeouts } from 'http-onion'

const pool = {
  open: async () => console.log('pool opened'),
  close: async () => console.log('pool closed'),
}

const life = lifespan({
  startup: [{ name: 'open pool', run: () => pool.open() }],
  shutdown: [{ name: 'close pool', run: () => pool.close() }],
  signals: ['SIGTERM', 'SIGINT'], // drain, then exit 0 (clean) or 1
})

// Outermost: it counts every request and can abort it at the drain deadline.
const app = compose(
  life,
  errorBoundary(),
  requestId(),
  accessLog(),
)((req, res) => {
  if (req.url === '/healthz') return life.liveness(req, res)
  if (req.url === '/readyz') return life.readiness(req, res)
  res.end('hello')
})

// Runs the start-up hooks, then listens: readiness says 200 only once they all succeeded.
await life.serve(serverTimeouts(createServer(app)), 3000)
