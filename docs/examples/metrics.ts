// metrics(): Prometheus metrics labelled by route template, with a metric of your own
// (docs/middleware/metrics.md).
import { createServer } from 'node:http'
import {
  compose,
  compression,
  errorBoundary,
  metrics,
  mount,
  rateLimit,
  serverTimeouts,
  type RawHandler,
} from 'http-onion'
import { setRoute } from 'http-onion/core'

const m = metrics()
const signups = m.registry.counter('signups_total', 'Accounts created.')

const router: RawHandler = (req, res) => {
  const user = /^\/users\/(\d+)$/.exec(req.url ?? '')
  if (user) {
    setRoute(req, '/users/:id') // the template, never req.url
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ id: user[1], bio: 'Lorem ipsum. '.repeat(200) }))
  } else if (req.method === 'POST' && req.url === '/signup') {
    signups.inc()
    res.writeHead(201).end()
  } else {
    res.writeHead(404).end()
  }
}

const app = compose(
  errorBoundary(),
  m,
  // Scrapes are answered before the limiter. Expose them only where your scraper reaches:
  // a private network, an auth layer, or a server of their own.
  mount('/metrics', m.registry.handler),
  rateLimit({ limit: 5, windowMs: 60_000 }),
  compression(),
)(router)

serverTimeouts(createServer(app)).listen(3000)
