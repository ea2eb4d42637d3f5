/**
 * Middleware metadata: a name for `explain()` and stack traces, and the ordering
 * constraints `compose` checks. Plain `(next) => handler` functions need none of it.
 * @module
 */
import type { Middleware } from './types.js'

/** One ordering constraint: the other layer's name and why the order matters. */
export interface OrderingRule {
  /** Name of the other middleware, as its factory is called (`'cors'`, `'jwtAuth'`). */
  readonly name: string
  /** Why, as a phrase completing "because …"; shown in warnings and `explain()`. */
  readonly reason: string
}

/** What a middleware says about itself. */
export interface MiddlewareInfo {
  /** The factory's name, e.g. `'rateLimit'`. */
  readonly name: string
  /** A short summary of its configuration for `explain()`, e.g. `'limit 100 / 60s by ip'`. */
  readonly detail?: string
  /** Layers this one must be outside of (listed before in `compose`), whenever both are present. */
  readonly wraps?: readonly OrderingRule[]
  /** Layers this one must be inside of (listed after in `compose`), whenever both are present. */
  readonly inside?: readonly OrderingRule[]
  /**
   * True for layers that protect something (auth, CORS, host checks, limits, security
   * headers): making one conditional with `when`/`unless` earns a warning, because a path
   * filter that misses one spelling of a path turns the protection off for it.
   */
  readonly security?: boolean
}

const INFO = Symbol('http-onion.middlewareInfo')

type Described = Middleware & { [INFO]?: MiddlewareInfo }

/**
 * Attach `info` to `middleware` and return it. Every factory in this library ends with it.
 * @example
 * return defineMiddleware({ name: 'cors', wraps: [{ name: 'jwtAuth', reason: 'preflights carry no token' }] },
 *   (next) => function corsHandler(req, res) { ... })
 */
export function defineMiddleware(info: MiddlewareInfo, middleware: Middleware): Middleware {
  ;(middleware as Described)[INFO] = Object.freeze({ ...info })
  return middleware
}

/** The info of a layer: what `defineMiddleware` attached, else a name taken from the function. */
export function middlewareInfo(middleware: Middleware, position?: number): MiddlewareInfo {
  const info = (middleware as Described)[INFO]
  if (info) return info
  return { name: middleware.name || (position === undefined ? 'anonymous' : `anonymous#${position}`) }
}
