/**
 * The flow and resilience layers' cost: each of errorBoundary, timeout, bodyLimit,
 * bodyCapture, loadShedding, hooks, when and mount alone against bare node:http on the 1 KB
 * JSON route (the path every request takes when nothing goes wrong), the five that a
 * production stack runs together, a mounted sub-stack, and the cost of a shed request: a 503
 * from an overloaded loadShedding against the same 503 sent by a bare handler.
 */
import type { RequestListener } from 'node:http'
import {
  bodyCapture,
  bodyLimit,
  compose,
  errorBoundary,
  hooks,
  HttpError,
  lifespan,
  loadShedding,
  mount,
  sendError,
  timeout,
  when,
  type Middleware,
  type RawHandler,
} from '../../lib/index.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'

const scenario = (description: string, ...layers: Middleware[]): Scenario => ({
  description,
  start: () => listen(compose(...layers)(routes) as RequestListener),
})

const noop = (): undefined => undefined
const noopLayer: Middleware = (next) => next
// Delay and in-flight tracking on, thresholds never reached on a healthy benchmark server.
const shedding = () => loadShedding({ maxEventLoopDelayMs: 1000, maxInFlight: 10_000 })

/** The `/api/json` route answered by a handler that strips the prefix itself. */
const handStripped: RawHandler = (req, res) => {
  if (req.url?.startsWith('/api/')) req.url = req.url.slice(4)
  return routes(req, res)
}

const overloaded = new HttpError(503, 'The server is overloaded; retry later', {
  code: 'overloaded',
  expose: true,
  headers: { 'retry-after': '1' },
})

export const scenarios: Record<string, Scenario> = {
  'flow-errorBoundary': scenario('errorBoundary alone: no error, the await and the error listener', errorBoundary()),
  'flow-timeout': scenario(
    'timeout alone: 30 s deadline, one timer and one end listener per request',
    timeout({ ms: 30_000 }),
  ),
  'flow-bodyLimit': scenario('bodyLimit alone: a GET without body (a header check)', bodyLimit()),
  'flow-bodyCapture': scenario('bodyCapture alone: a GET without body', bodyCapture()),
  'flow-loadShedding': scenario('loadShedding alone: delay sampled, in-flight counted (never reached)', shedding()),
  'flow-lifespan': scenario(
    'lifespan alone: each request counted, an abort source and an end listener each',
    lifespan(),
  ),
  'flow-hooks': scenario(
    'hooks alone: one no-op before, after and teardown',
    hooks({ before: noop, after: noop, teardown: noop }),
  ),
  'flow-when': scenario(
    'when alone: a path filter that does not match, one layer inside',
    when({ paths: ['/admin/*'] }, noopLayer),
  ),
  'flow-mount-miss': scenario('mount alone: a prefix that does not match', mount('/admin', routes)),
  'flow-all': scenario(
    'errorBoundary, loadShedding, timeout, bodyLimit, hooks in order',
    errorBoundary(),
    shedding(),
    timeout({ ms: 30_000 }),
    bodyLimit(),
    hooks({ before: noop, after: noop, teardown: noop }),
  ),
  'flow-api-bare': {
    description: 'node:http, a handler stripping /api itself',
    start: () => listen(handStripped as RequestListener),
  },
  'flow-mount-hit': {
    description: "mount('/api') sending /api/json to the routes, prefix stripped",
    start: () => listen(compose(mount('/api', routes))(routes) as RequestListener),
  },
  'flow-bare-503': {
    description: 'node:http, the same 503 sent by sendError from a bare handler',
    start: () =>
      listen(((req, res) => {
        sendError(req, res, overloaded)
      }) as RequestListener),
  },
  'flow-shed': {
    description: 'loadShedding while overloaded (rss threshold 1 byte): every request shed with 503',
    start: () => {
      const shed = loadShedding({ maxEventLoopDelayMs: 0, maxRssBytes: 1 })
      shed.sample()
      return listen(compose(shed)(routes) as RequestListener)
    },
  },
  'flow-shed-problem': {
    description: "the same, inside errorBoundary({ format: 'problem' }): the 503 as RFC 9457 problem details",
    start: () => {
      const shed = loadShedding({ maxEventLoopDelayMs: 0, maxRssBytes: 1 })
      shed.sample()
      return listen(compose(errorBoundary({ format: 'problem' }), shed)(routes) as RequestListener)
    },
  },
  'flow-shed-custom': {
    description: 'the same, inside errorBoundary({ format }) with a function returning an object',
    start: () => {
      const shed = loadShedding({ maxEventLoopDelayMs: 0, maxRssBytes: 1 })
      shed.sample()
      const format = ({ code, status }: { code: string; status: number }) => ({ error: code, status })
      return listen(compose(errorBoundary({ format }), shed)(routes) as RequestListener)
    },
  },
}

export const comparisons: Comparison[] = [
  {
    name: 'lifespan: the per-request bookkeeping of the graceful drain',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'flow-lifespan'],
    expect: { status: 200 },
  },
  {
    name: 'flow: each layer alone on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: [
      'bare',
      'flow-errorBoundary',
      'flow-timeout',
      'flow-bodyLimit',
      'flow-bodyCapture',
      'flow-loadShedding',
      'flow-lifespan',
      'flow-hooks',
      'flow-when',
      'flow-mount-miss',
      'flow-all',
    ],
    expect: { status: 200 },
  },
  {
    name: 'flow: mount, a matching prefix',
    route: '/api/json',
    baseline: 'flow-api-bare',
    scenarios: ['flow-api-bare', 'flow-mount-hit'],
    expect: { status: 200 },
  },
  {
    // Every answer is a 503, which autocannon counts as non-2xx: the errors column is expected.
    name: 'flow: the cost of a shed request (503 + Retry-After)',
    route: '/json',
    baseline: 'flow-bare-503',
    scenarios: ['flow-bare-503', 'flow-shed', 'flow-shed-problem', 'flow-shed-custom'],
    expect: { headers: ['retry-after'] },
  },
]
