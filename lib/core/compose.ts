/**
 * `compose`: the onion. The first layer is the outermost: first to see the request,
 * last to touch the response. Nested stacks are flattened, so ordering constraints are
 * checked across the whole stack and `explain()` shows every layer.
 * @module
 */
import type { Middleware, RawHandler } from './types.js'
import { ConfigError, describeValue, OrderingError } from './errors.js'
import { defineDefaults, expectBoolean, withDefaults } from './options.js'
import { type Logger, loggerState } from './report.js'
import { defineMiddleware, middlewareInfo, type MiddlewareInfo } from './define.js'
import { checkOrdering, unknownLayerNames, type CheckedRule, type OrderingViolation } from './ordering.js'

/** Options of {@link compose}, given as its first argument. */
export interface ComposeOptions {
  /** Throw an `OrderingError` on a broken ordering constraint instead of warning. @default false */
  strict?: boolean
  /**
   * Where the stack's layers report what they cannot throw into a request (the error
   * boundary's exceptions, failing log sinks, teardown hooks, store failures): a pino logger,
   * Fastify's `app.log`, `console`, or anything with `error(fields, message)` and
   * `warn(fields, message)`. Unset, reports are process warnings. @default undefined
   */
  logger?: Logger
}

/** What `compose` returns: a Middleware that also knows its layers. */
export interface ComposedMiddleware extends Middleware {
  /** The flattened layers, outermost first. */
  readonly layers: readonly Middleware[]
  /** The ordering constraints this stack breaks (warned about, or thrown in strict mode). */
  readonly violations: readonly OrderingViolation[]
  /** The request path and the response path, one named layer per line, then the constraints. */
  explain(): string
}

const LAYERS = Symbol('http-onion.layers')

const composeDefaults = defineDefaults<ComposeOptions, 'logger'>({ strict: false, logger: undefined })

/**
 * Compose layers into one Middleware, outermost first.
 * Sync throws and async rejections of inner layers reach outer layers as rejections, so
 * `try { await next(req, res) } catch {}` sees both. Calling `next` twice for one request
 * rejects, because the inner layers and the handler would run again on a used response.
 * @example
 * const app = compose(errorBoundary(), requestId(), cors({ origins: ['https://app.example'] }))(router)
 * http.createServer(app).listen(3000)
 */
export function compose(...layers: Middleware[]): ComposedMiddleware
export function compose(options: ComposeOptions, ...layers: Middleware[]): ComposedMiddleware
export function compose(...args: Array<Middleware | ComposeOptions>): ComposedMiddleware {
  // Validated like every factory's options: a typo (`stirct`) must not quietly turn strict mode off.
  const given = typeof args[0] === 'object' && args[0] !== null ? (args.shift() as ComposeOptions) : undefined
  const options = withDefaults('compose', composeDefaults, given)
  const strict = expectBoolean(
    'compose',
    'strict',
    options.strict,
    'Pass strict: true to throw an OrderingError on a misordered stack, or leave it out to be warned.',
  )
  const logger = options.logger === undefined ? undefined : expectLogger(options.logger)
  const layers = flatten(args)
  const infos = layers.map((layer, i) => middlewareInfo(layer, i + 1))
  for (const message of unknownLayerNames(infos)) warnOnce(message, 'HTTP_ONION_ORDER_UNKNOWN_NAME')
  const { rules, violations } = checkOrdering(infos)
  for (const violation of violations) {
    if (strict) throw new OrderingError(`compose(): ${violation.message}`)
    warnOnce(violation.message, 'HTTP_ONION_ORDER')
  }

  const composed = function composed(handler: RawHandler): RawHandler {
    if (typeof handler !== 'function') {
      throw new TypeError(
        `compose(): the innermost handler must be a function (req, res) => ...; received ${describeValue(handler)}.`,
      )
    }
    // Each application of a stack gets its own depth slot, so a stack mounted inside
    // another never confuses the two counts.
    const depth = Symbol('http-onion.depth')
    let inner = handler
    for (let i = layers.length - 1; i >= 0; i--) {
      const built = layers[i]!(guardNext(inner, i + 1, depth, infos[i]!.name))
      if (typeof built !== 'function') {
        throw new TypeError(
          `compose(): layer ${i + 1} (${infos[i]!.name}) returned ${describeValue(built)} instead of a handler; a middleware is (next) => (req, res) => ...`,
        )
      }
      inner = built
    }
    return logger === undefined ? enterStack(inner, depth) : enterStackWithLogger(inner, depth, logger)
  } as ComposedMiddleware

  Object.defineProperties(composed, {
    [LAYERS]: { value: layers },
    layers: { value: layers, enumerable: true },
    violations: { value: Object.freeze(violations), enumerable: true },
    explain: { value: () => explain(infos, rules) },
  })
  defineMiddleware({ name: 'compose', detail: `${layers.length} layers` }, composed)
  return composed
}

type DepthSlots = Record<symbol, number | undefined>

/** The stack's entry: resets the depth count and turns a sync throw into a rejection. */
function enterStack(first: RawHandler, depth: symbol): RawHandler {
  return function composedHandler(req, res) {
    ;(req as unknown as DepthSlots)[depth] = 0
    try {
      return first(req, res)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

/** {@link enterStack}, first marking the request with the stack's logger for `reportError`. */
function enterStackWithLogger(first: RawHandler, depth: symbol, logger: Logger): RawHandler {
  const enter = enterStack(first, depth)
  return function composedHandler(req, res) {
    loggerState.set(req, logger)
    return enter(req, res)
  }
}

function expectLogger(value: unknown): Logger {
  const candidate = value as Partial<Logger> | null
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.error !== 'function' ||
    typeof candidate.warn !== 'function'
  ) {
    throw new ConfigError(
      'compose',
      'logger',
      'an object with error(fields, message) and warn(fields, message) methods',
      value,
      "Pass a pino logger, Fastify's app.log or console; leave it out to report through process warnings.",
    )
  }
  return candidate as Logger
}

/**
 * The `next` handed to the layer at `position - 1`: refuses a second call for the same
 * request and turns sync throws from inside into rejections.
 */
function guardNext(inner: RawHandler, position: number, depth: symbol, callerName: string): RawHandler {
  return function next(req, res) {
    const slots = req as unknown as DepthSlots
    const reached = slots[depth]
    // Undefined when the caller passed a request object of its own (a wrapper): allowed.
    if (reached !== undefined && reached >= position) {
      return Promise.reject(
        new Error(`compose(): ${callerName} called next() twice for one request; call it at most once.`),
      )
    }
    slots[depth] = position
    try {
      return inner(req, res)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

function flatten(layers: ReadonlyArray<Middleware | ComposeOptions>): Middleware[] {
  const flat: Middleware[] = []
  layers.forEach((layer, i) => {
    if (typeof layer !== 'function') {
      const hint = layer === undefined ? ' Did you forget to call a factory, or pass options anywhere but first?' : ''
      throw new TypeError(
        `compose(): layer ${i + 1} must be a middleware (next) => handler; received ${describeValue(layer)}.${hint}`,
      )
    }
    const nested = (layer as { [LAYERS]?: Middleware[] })[LAYERS]
    if (nested) flat.push(...nested)
    else flat.push(layer)
  })
  return flat
}

function explain(infos: readonly MiddlewareInfo[], rules: readonly CheckedRule[]): string {
  const label = (info: MiddlewareInfo, i: number) =>
    `${String(i + 1).padStart(2)}. ${info.name}${info.detail ? ` (${info.detail})` : ''}`
  const lines = ['request path (outermost first):']
  infos.forEach((info, i) => {
    lines.push(`  → ${label(info, i)}`)
  })
  lines.push('  → handler', 'response path (response-start hooks, innermost first):', '  ← handler')
  for (let i = infos.length - 1; i >= 0; i--) lines.push(`  ← ${label(infos[i]!, i)}`)
  if (rules.length > 0) {
    lines.push('ordering constraints:')
    for (const rule of rules) {
      lines.push(`  ${rule.satisfied ? 'ok     ' : 'BROKEN '} ${rule.outer} wraps ${rule.inner}: ${rule.reason}`)
    }
  }
  return lines.join('\n')
}

// Process-wide on purpose: a stack built per request (or per test) must not repeat the
// same warning thousands of times. Holds one string per distinct broken or unknown constraint.
const warned = new Set<string>()

function warnOnce(message: string, code: 'HTTP_ONION_ORDER' | 'HTTP_ONION_ORDER_UNKNOWN_NAME'): void {
  if (warned.has(message)) return
  warned.add(message)
  process.emitWarning(`compose(): ${message}`, { type: 'OrderingWarning', code })
}
