/**
 * when / unless: run layers for some requests only.
 *
 * The condition is a predicate on the request, or a filter `{ paths, methods }` matched on
 * `matchablePath(req.url)` (query dropped, escapes decoded once, trailing slash dropped) and,
 * by default, case-insensitively, as many routers (Express's among them) route `/ADMIN` to
 * `/admin`. A target routers may read differently from its normal form is *ambiguous*: a
 * dot segment (`/admin/..`, `/admin/%2e%2e`), an escaped separator (`/admin/..%2fx`), `//`,
 * `\`, `;`, an escaped unreserved character (`/%61dmin`). Express and Fastify serve
 * `/admin/..` as `/admin/:page` while its normal form is `/`, so such a target gets the
 * layers in both `when` and `unless`: it fails closed, protected. So does a target that
 * cannot be normalised (bad escapes, `%00`). With `ambiguousPaths: 'refuse'` both are
 * answered 400 instead. A filter cannot be bypassed by spelling a path differently.
 *
 * The inner stack is built once, when the outer stack is. Making a security layer (one
 * whose `MiddlewareInfo` says `security: true`) conditional emits a warning once: a
 * filter that misses one path turns the protection off for it; prefer the layer's own
 * exemptions, or `unless` with a short, explicit list.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { compose } from '../../core/compose.js'
import { defineMiddleware, middlewareInfo, type MiddlewareInfo } from '../../core/define.js'
import { ConfigError, describeValue, type HttpError } from '../../core/errors.js'
import { defineDefaults, expectArray, expectBoolean, isToken, withDefaults } from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { sendError } from '../../core/send-error.js'

/** A filter on path and method; both must match when both are given. */
export interface RequestFilter {
  /** Path patterns: `'/exact'`, `'/prefix/*'`, anchored RegExps, predicates on the normal form. @default any path */
  paths?: readonly PathPattern[]
  /** Methods, e.g. `['POST', 'PUT']`; `GET` also matches `HEAD`, which routers answer with the GET handler. @default any method */
  methods?: readonly string[]
  /** Compare paths case-sensitively; only if every router behind is case-sensitive too. @default false */
  caseSensitive?: boolean
  /**
   * Ambiguous targets (see `matchablePath`): `'fail-closed'` runs the layers for them, under
   * `when` and `unless` alike; `'refuse'` answers them 400 `ambiguous_path`.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
}

/** A condition: a filter, or a predicate on the request (it must not throw). */
export type RequestCondition = RequestFilter | ((req: IncomingMessage) => boolean)

const filterDefaults = defineDefaults<RequestFilter, 'paths' | 'methods'>({
  paths: undefined,
  methods: undefined,
  caseSensitive: false,
  ambiguousPaths: 'fail-closed',
})

/**
 * Run `layers` only for requests matching `condition`; others go straight to the next layer.
 * @example
 * compose(errorBoundary(), when({ paths: ['/api/*'] }, rateLimit({ limit: 100 })))(router)
 */
export function when(condition: RequestCondition, ...layers: Middleware[]): Middleware {
  return conditional('when', condition, layers, false)
}

/**
 * Run `layers` for every request except those matching `condition`.
 * @example
 * compose(unless({ paths: ['/health', '/metrics'] }, accessLog()))(router)
 */
export function unless(condition: RequestCondition, ...layers: Middleware[]): Middleware {
  return conditional('unless', condition, layers, true)
}

function conditional(
  name: 'when' | 'unless',
  condition: RequestCondition,
  layers: Middleware[],
  negate: boolean,
): Middleware {
  const { test, description } = compileCondition(name, condition, negate)
  if (layers.length === 0)
    throw new ConfigError(name, 'layers', 'at least one middleware after the condition', undefined)
  const stack = compose(...layers)
  const infos = stack.layers.map((layer, i) => middlewareInfo(layer, i + 1))
  for (const info of infos) if (info.security) warnSecurity(name, info.name, description)

  // One inner layer keeps its name and ordering constraints, so `compose` still checks them
  // and `explain()` shows it; several are one conditional group.
  const only = infos.length === 1 ? infos[0]! : undefined
  const info: MiddlewareInfo = only
    ? { ...only, detail: `${name} ${description}${only.detail ? `; ${only.detail}` : ''}` }
    : { name, detail: `${description}: ${infos.map((i) => i.name).join(', ')}` }

  return defineMiddleware(info, (next) => {
    const inner = stack(next)
    return function conditionalHandler(req, res) {
      const verdict = test(req)
      if (verdict === true) return inner(req, res)
      if (verdict === false) return next(req, res)
      return void sendError(req, res, verdict)
    }
  })
}

/** The test deciding whether the layers run (already negated for `unless`), or the refusal to answer. */
function compileCondition(
  name: string,
  condition: RequestCondition,
  negate: boolean,
): { test: (req: IncomingMessage) => boolean | HttpError; description: string } {
  if (typeof condition === 'function') {
    const predicate = condition
    return {
      test: negate ? (req) => !predicate(req) : predicate,
      description: `predicate ${predicate.name || '(anonymous)'}`,
    }
  }
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
    throw new ConfigError(
      name,
      'condition',
      'a predicate (req) => boolean or a filter { paths, methods }',
      condition,
      Array.isArray(condition) ? 'Wrap the paths: { paths: [...] }.' : '',
    )
  }
  const opts = withDefaults(name, filterDefaults, condition)
  const caseSensitive = expectBoolean(name, 'caseSensitive', opts.caseSensitive)
  const refuseAmbiguous = expectAmbiguousPaths(name, opts.ambiguousPaths)
  const matchesPath =
    opts.paths === undefined ? undefined : compilePathPatterns(name, 'paths', opts.paths, { caseSensitive })
  const methods =
    opts.methods === undefined
      ? undefined
      : new Set(
          expectArray(name, 'methods', opts.methods, (m) => {
            if (typeof m !== 'string' || !isToken(m)) throw new ConfigError(name, 'methods', 'HTTP method names', m)
            return m.toUpperCase()
          }),
        )
  if (methods?.has('GET')) methods.add('HEAD')
  if (matchesPath === undefined && methods === undefined) {
    throw new ConfigError(
      name,
      'condition',
      'a filter with paths, methods or both',
      condition,
      'An empty filter matches every request.',
    )
  }
  const description =
    [
      opts.paths && `paths ${opts.paths.map(describePattern).join(', ')}`,
      methods && `methods ${[...methods].join(', ')}`,
    ]
      .filter(Boolean)
      .join(' and ') + (refuseAmbiguous ? ', ambiguous paths refused' : '')

  const readsPath = matchesPath !== undefined || refuseAmbiguous
  const test = (req: IncomingMessage): boolean | HttpError => {
    const path = readsPath ? matchablePath(req.url) : undefined
    if (refuseAmbiguous && path === undefined) return AMBIGUOUS_PATH_ERROR
    if (methods !== undefined && !methods.has(req.method ?? '')) return negate
    if (matchesPath === undefined) return !negate
    // Fail closed: an ambiguous target, or one that cannot be normalised, gets the layers either way.
    if (path === undefined) return true
    return matchesPath(path) !== negate
  }
  return { test, description }
}

const describePattern = (pattern: PathPattern): string =>
  typeof pattern === 'string' ? pattern : pattern instanceof RegExp ? String(pattern) : describeValue(pattern)

// Process-wide on purpose, as compose's ordering warnings: a stack built per test or per
// tenant must not repeat the same warning. One string per distinct layer and filter.
const warned = new Set<string>()

function warnSecurity(name: string, layer: string, description: string): void {
  const message =
    `${name}(): ${layer} is a security layer, and ${name}(${description}) makes it conditional: ` +
    `any request the filter lets past runs without it. Prefer ${layer}'s own exemptions, or check the filter ` +
    `against every path your router serves.`
  if (warned.has(message)) return
  warned.add(message)
  process.emitWarning(message, { type: 'SecurityWarning', code: 'HTTP_ONION_CONDITIONAL_SECURITY' })
}
