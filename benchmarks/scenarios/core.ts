/**
 * The core's cost: bare node:http against the same handler under 1 and 10 layers, each
 * layer doing what the cheapest real middleware does (register a response-start listener).
 */
import type { RequestListener } from 'node:http'
import { compose, type Middleware } from '../../lib/index.js'
import { defineMiddleware, onResponseStart } from '../../lib/core.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'

const noopListener = (): void => undefined
const noopLayer = (i: number): Middleware =>
  defineMiddleware(
    { name: `noop${i}` },
    (next) =>
      function noopHandler(req, res) {
        onResponseStart(res, noopListener)
        return next(req, res)
      },
  )

export const scenarios: Record<string, Scenario> = {
  bare: {
    description: 'node:http, the handler alone',
    start: () => listen(routes),
  },
  'noop-1': {
    description: 'http-onion, one layer registering an onResponseStart listener',
    start: () => listen(compose(noopLayer(0))(routes) as RequestListener),
  },
  'noop-10': {
    description: 'http-onion, 10 layers each registering an onResponseStart listener',
    start: () => listen(compose(...Array.from({ length: 10 }, (_, i) => noopLayer(i)))(routes) as RequestListener),
  },
}

export const comparisons: Comparison[] = [
  {
    name: 'core: no-op layers on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'noop-1', 'noop-10'],
  },
]
