/**
 * The servers the benchmarks compare. Each scenario is started in its own process by
 * `server.ts`; every one serves the same routes, so any two can be compared.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import { compose, defineMiddleware, onResponseStart, type Middleware, type RawHandler } from '../lib/index.js'

/** A server under test, listening on an ephemeral loopback port. */
export interface Scenario {
  readonly description: string
  start(): Promise<Server>
}

// ~1 KB of JSON, as an API answers.
const smallJson = JSON.stringify({
  items: Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['alpha', 'beta'], price: 10.5 + i })),
})

/** The routes every scenario serves. */
export const routes: RawHandler = (req, res) => {
  if (req.url === '/json' || req.url === '/') {
    res.setHeader('content-type', 'application/json')
    res.end(smallJson)
    return
  }
  res.statusCode = 404
  res.end()
}

const listen = (handler: RequestListener): Promise<Server> =>
  new Promise((ok) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () => ok(server))
  })

/** A layer that does what the cheapest real middleware does: register a response-start listener. */
const noopLayer = (i: number): Middleware =>
  defineMiddleware({ name: `noop${i}` }, (next) => function noopHandler(req, res) {
    onResponseStart(res, noopListener)
    return next(req, res)
  })
const noopListener = (): void => undefined

export const scenarios: Record<string, Scenario> = {
  bare: {
    description: 'node:http, the handler alone',
    start: () => listen(routes),
  },
  'noop-10': {
    description: 'http-onion, 10 layers each registering an onResponseStart listener',
    start: () => listen(compose(...Array.from({ length: 10 }, (_, i) => noopLayer(i)))(routes) as RequestListener),
  },
  'noop-1': {
    description: 'http-onion, one layer registering an onResponseStart listener',
    start: () => listen(compose(noopLayer(0))(routes) as RequestListener),
  },
}
