/**
 * Express (4 and 5) and Connect, both ways. Translation only: no behaviour of its own.
 * - `toExpress(middleware)`: an http-onion middleware as Express middleware. Its downstream
 *   is the rest of the Express chain; what it throws or rejects with goes to `next(err)`;
 *   a response it sends itself ends the chain.
 * - `fromExpress(expressMiddleware)`: any Connect/Express `(req, res, next)` middleware as an
 *   http-onion layer; `next(err)` becomes a rejection an outer `errorBoundary()` catches.
 * - `expressRoute(req)`: the route template Express matched (`req.baseUrl` + `req.route.path`),
 *   which `toExpress` leaves on every request for layers that label by route (metrics).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware, RawHandler } from '../lib/core/types.js'
import { answerError } from '../lib/core/answer-error.js'
import { defineMiddleware, middlewareInfo } from '../lib/core/define.js'
import { reportError } from '../lib/core/report.js'
import { onResponseEnd } from '../lib/core/response-end.js'
import { setRouteReader } from '../lib/core/route.js'
import { isThenable } from '../lib/core/thenable.js'

/** Express's `next`: no argument continues, an error (anything but 'route'/'router') skips to error handlers. */
export type ExpressNext = (err?: unknown) => void

/** A Connect/Express middleware. */
export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: ExpressNext) => unknown

const NEXT = Symbol('http-onion.expressNext')
type NextSlot = { [NEXT]?: ExpressNext }

/** Hand the request to the rest of the Express chain, once. */
function takeNext(req: IncomingMessage): ExpressNext | undefined {
  const slot = req as unknown as NextSlot
  const next = slot[NEXT]
  slot[NEXT] = undefined
  return next
}

// The downstream of every adapted middleware: the rest of the Express chain.
const continueExpressChain: RawHandler = function continueExpressChain(req) {
  takeNext(req)?.()
}

/**
 * Mount an http-onion middleware in Express.
 * @example
 * app.use(toExpress(cors({ origins: ['https://app.example'] })))
 */
export function toExpress(middleware: Middleware): ExpressMiddleware {
  // Built once: the per-request `next` travels on the request, not in a closure per request.
  const handler = middleware(continueExpressChain)
  const name = middlewareInfo(middleware).name
  return function expressAdapter(req, res, next) {
    ;(req as unknown as NextSlot)[NEXT] = next
    setRouteReader(req, expressRoute)
    const fail = (err: unknown) => {
      const pending = takeNext(req)
      if (pending) pending(err ?? new Error(`${name} rejected without a reason`))
      // The chain went on already: Express has no way to take an error now.
      else reportError(`toExpress(${name}) after next()`, err)
    }
    try {
      const result = handler(req, res)
      if (isThenable(result)) {
        result.then(undefined, fail)
      }
    } catch (err) {
      fail(err)
    }
  }
}

/**
 * Run a Connect/Express middleware inside a raw stack. Middleware that rely on Express's
 * own request and response methods (`req.path`, `res.json`) need Express itself; plain
 * Connect middleware (cors, compression, helmet, morgan) run on Node's objects.
 * @example
 * const app = compose(errorBoundary(), fromExpress(morgan('tiny')))(router)
 */
export function fromExpress(
  expressMiddleware: ExpressMiddleware,
  name = expressMiddleware.name || 'expressMiddleware',
): Middleware {
  return defineMiddleware(
    { name, detail: 'Connect/Express middleware' },
    (next) =>
      function fromExpressHandler(req, res) {
        return new Promise((resolve, reject) => {
          let settled = false
          // A middleware that answers by itself never calls next: the exchange ending settles it.
          // onResponseEnd, not the response's 'close', which a pipelined response cut while
          // still queued never emits.
          onResponseEnd(res, () => {
            if (!settled) {
              settled = true
              resolve(undefined)
            }
          })
          const expressNext: ExpressNext = (err) => {
            if (settled) return
            settled = true
            if (err !== undefined && err !== null && err !== 'route' && err !== 'router') reject(err)
            else {
              try {
                resolve(next(req, res))
              } catch (thrown) {
                reject(thrown)
              }
            }
          }
          try {
            const result = expressMiddleware(req, res, expressNext)
            if (isThenable(result)) {
              result.then(undefined, expressNext)
            }
          } catch (err) {
            expressNext(err)
          }
        })
      },
  )
}

/** An Express error handler: Express calls a middleware of four parameters with what failed. */
export type ExpressErrorHandler = (
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: ExpressNext,
) => unknown

/**
 * Answer what reaches Express's error handlers (a route that throws or calls `next(err)`,
 * `express.json()` refusing a malformed or oversized body) through `boundary`, an
 * `errorBoundary()`: the toolkit's JSON shape, the status the error carries (400 and 413 from
 * body parsers, with their message only when they mark it safe to expose), a generic 500
 * otherwise, and the boundary's report, instead of Express's HTML page with a stack trace.
 * Mount it after the routes. An error after the response started cuts the connection, as
 * the boundary does.
 * @example
 * app.use(express.json())
 * app.post('/orders', createOrder)
 * app.use(toExpressErrorHandler(errorBoundary()))
 */
export function toExpressErrorHandler(boundary: Middleware): ExpressErrorHandler {
  const answer = answerError(boundary, 'toExpressErrorHandler()', 'next() was called with a falsy error')
  // Four parameters, `_next` unused: Express tells an error handler from a middleware by its
  // declared arity, and would skip a function of three.
  return function expressErrorHandler(err, req, res, _next) {
    answer(req, res, err)
  }
}

/** What Express leaves on the request once a route matched. */
type ExpressRouted = { route?: { path?: unknown }; baseUrl?: unknown }

/**
 * The template of the route Express matched for `req`: the mount path of the routers it went
 * through (`req.baseUrl`, lower-cased: Express matches it case-insensitively by default, and
 * it is the path as sent) joined with the route's own path (`/users/:id`). `undefined` when
 * no route matched (a 404, or a layer answered before routing). Pass it as `metrics({ route })`
 * when Express runs inside a raw stack instead of the other way round.
 * @example
 * compose(metrics({ route: expressRoute }))(expressApp)
 */
export function expressRoute(req: IncomingMessage): string | undefined {
  const { route, baseUrl } = req as IncomingMessage & ExpressRouted
  if (route === undefined || route === null) return undefined
  // Express 5 takes arrays and RegExps too: their text is code, not input, so it is bounded.
  const path = typeof route.path === 'string' ? route.path : String(route.path)
  return (typeof baseUrl === 'string' ? baseUrl.toLowerCase() : '') + path
}
