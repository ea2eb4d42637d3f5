/**
 * conditional(): the cost of tagging a 64 KB JSON answer from its bytes (a 200 with a
 * computed ETag), and of answering a revalidation with a 304 from a handler-set tag,
 * against the bare routes and against Express's own building blocks, `etag` and `fresh`,
 * used on node:http the way `res.send` uses them (benchmarks/peers/conditional.mjs). Both
 * come with Express; no package is added for them.
 */
import type { RequestListener } from 'node:http'
import { checkPreconditions, compose, conditional, type RawHandler } from '../../lib/index.js'
import { largeJson, listen, routes, type Comparison, type Scenario } from '../common.js'

/** The shared routes, plus `/tagged`: the 64 KB JSON with a version tag set by the handler. */
export const taggedRoutes: RawHandler = (req, res) => {
  if (req.url !== '/tagged') return routes(req, res)
  res.setHeader('content-type', 'application/json')
  res.setHeader('etag', '"v42"')
  res.end(largeJson)
}

/** `/tagged` checked before the body is made, as Express's `res.send` decides before it writes. */
const checkedRoutes: RawHandler = (req, res) => {
  if (req.url === '/tagged' && !checkPreconditions(req, res, { etag: '"v42"' })) return
  return taggedRoutes(req, res)
}

const serveWith = (handler: RawHandler) => () => listen(handler as RequestListener)

export const scenarios: Record<string, Scenario> = {
  'conditional-bare': {
    description: 'node:http, the shared routes, no validators',
    start: serveWith(taggedRoutes),
  },
  'conditional-etag': {
    description: 'http-onion conditional({ etag: true }): SHA-256 of bodies handed over whole',
    start: serveWith(compose(conditional({ etag: true }))(taggedRoutes)),
  },
  'conditional-handler-tags': {
    description: "http-onion conditional(): the handler's validators only",
    start: serveWith(compose(conditional())(taggedRoutes)),
  },
  'conditional-check': {
    description: 'http-onion checkPreconditions() in the handler, before the body is made',
    start: serveWith(compose(conditional())(checkedRoutes)),
  },
}

export const comparisons: Comparison[] = [
  {
    name: 'conditional: 64 KB JSON tagged from its bytes, 200',
    route: '/json64',
    baseline: 'conditional-bare',
    scenarios: ['conditional-bare', 'conditional-etag', 'conditional-express-etag-fresh'],
    expect: { status: 200, headers: ['etag'] },
    unchecked: ['conditional-bare'],
  },
  {
    name: 'conditional: 64 KB JSON revalidated by If-None-Match, 304',
    route: '/tagged',
    baseline: 'conditional-bare',
    headers: { 'if-none-match': '"v42"' },
    scenarios: ['conditional-bare', 'conditional-handler-tags', 'conditional-check', 'conditional-express-etag-fresh'],
    expect: { status: 304, absentHeaders: ['content-type'] },
    unchecked: ['conditional-bare'],
  },
]
