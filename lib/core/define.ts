/**
 * Middleware metadata: a name for `explain()` and stack traces, and the ordering
 * constraints `compose` checks. Plain `(next) => handler` functions need none of it.
 * @module
 */
import { BUILT_IN_NAMES } from './built-ins.js'
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
  /**
   * Layers this one must be outside of (listed before in `compose`), whenever both are present.
   * For layers of your own: the library's middleware declare theirs in one table, `BUILT_IN_RULES`.
   */
  readonly wraps?: readonly OrderingRule[]
  /**
   * Layers this one must be inside of (listed after in `compose`), whenever both are present.
   * A layer of yours needs this to sit inside a built-in one, whose rules it cannot edit.
   */
  readonly inside?: readonly OrderingRule[]
  /**
   * Which variant of its factory this layer is, where the library's ordering constraints
   * differ by configuration: rateLimit's `'key ip'`, `'key user'` or `'key function'`.
   */
  readonly variant?: string
  /**
   * True for layers that protect something (auth, CORS, host checks, limits, security
   * headers): making one conditional with `when`/`unless` earns a warning, because a path
   * filter that misses one spelling of a path turns the protection off for it.
   */
  readonly security?: boolean
}

const INFO = Symbol('http-onion.middlewareInfo')

// Every name given to defineMiddleware so far, so that compose can tell a constraint naming
// a layer of yours from a typo. Process-wide on purpose; one entry per distinct name.
const definedNames = new Set<string>()

type Described = Middleware & { [INFO]?: MiddlewareInfo }

/**
 * Attach `info` to `middleware` and return it. Every factory in this library ends with it.
 * @example
 * return defineMiddleware({ name: 'cors', wraps: [{ name: 'jwtAuth', reason: 'preflights carry no token' }] },
 *   (next) => function corsHandler(req, res) { ... })
 */
export function defineMiddleware(info: MiddlewareInfo, middleware: Middleware): Middleware {
  ;(middleware as Described)[INFO] = Object.freeze({ ...info })
  definedNames.add(info.name)
  return middleware
}

/** Every name a layer can have so far: the built-in middleware's, then those given to `defineMiddleware`. */
export function knownLayerNames(): readonly string[] {
  return [...new Set([...BUILT_IN_NAMES, ...definedNames])]
}

/** True when `name` is a built-in middleware's or was given to `defineMiddleware`. */
export function isKnownLayerName(name: string): boolean {
  return definedNames.has(name) || BUILT_IN_NAMES.includes(name)
}

/** The info of a layer: what `defineMiddleware` attached, else a name taken from the function. */
export function middlewareInfo(middleware: Middleware, position?: number): MiddlewareInfo {
  const info = (middleware as Described)[INFO]
  if (info) return info
  return { name: middleware.name || (position === undefined ? 'anonymous' : `anonymous#${position}`) }
}
