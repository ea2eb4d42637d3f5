/**
 * Path normalisation and matching for every layer that decides by path (public paths of
 * jwtAuth and apiKey, exempt paths, when/unless, per-path timeouts, mount). Matching is done
 * on one normal form, so `/admin/`, `/ADMIN` and `http://host/admin` are all `/admin`, and,
 * by default, case is ignored, because many routers (Express's among them) route `/ADMIN` to
 * `/admin`: a filter must never be narrower than the router behind it.
 *
 * Routers do not normalise the way a filter would: Express 4, Express 5 and Fastify route on
 * the raw path, keep `%2F` inside a segment and resolve no dot segments, so the router serves
 * `/admin/..%2fpublic` as `/admin/:page` while its normal form is `/public`. Such targets are
 * *ambiguous*: {@link matchablePath} refuses to name a path for them, and every layer treats
 * that as "matches nothing that exempts, everything that protects", or answers 400.
 * @module
 */
import { ConfigError, HttpError } from './errors.js'
import { expectOneOf } from './options.js'

// A target with none of these is in normal form already (but for a trailing slash) and
// unambiguous: the fast path, one test and no allocation.
const NEEDS_WORK = /[%\\;]|\/\/|\/\.|[\x00-\x1f\x7f]/
// Spellings routers read differently from the normal form: `\` (a separator here, a
// character to routers), `;` (path parameters, which servers such as Tomcat strip: `..;`
// is `..` to them), `//` (folded here, an empty segment to routers), escapes of separators
// (`%2F`, `%5C`: one segment to routers) and of unreserved characters (`%2E`, `%61`...),
// which Fastify decodes before routing and Express does not (RFC 3986 §2.3: no client needs
// to escape them). Other escapes (`%20`, `%3B`, `%C3%A9`) are characters to every router.
const AMBIGUOUS_SPELLING = /[\\;]|\/\/|%(?:2[d-f]|3\d|4[1-9a-f]|5[\dacf]|6[1-9a-f]|7[\dae])/i

/**
 * The normal form of a request target's path: query and fragment dropped, `\` read as
 * `/`, percent-escapes decoded (once), duplicate slashes folded, dot segments resolved,
 * no trailing slash. Undefined for a target that cannot be a path: bad escapes,
 * invalid UTF-8, control characters (`%00` among them). This is a canonical name for the
 * resource; it is not what a router routes (see {@link matchablePath}), so never grant an
 * exemption on it: layers decide on `matchablePath`.
 */
export function normalizePath(target: string | undefined): string | undefined {
  return normalize(target, false)
}

/**
 * The normal form of `target` when every router reads the target the same way, the path a
 * layer may decide on; undefined when the target cannot be normalised or is ambiguous: it
 * has a dot segment (`.`, `..`, `%2e%2e`), an empty segment (`//`), a `\`, a `;`, or an
 * escaped separator or unreserved character (`%2F`, `%5C`, `%2E`, `%61`). Escapes of other
 * characters (`%20`, `%C3%A9`, `%3F`) are decoded: clients must escape those. Trailing
 * slash, case and an absolute-form target (`http://host/path`) are not ambiguous.
 *
 * Undefined means "matches nothing that exempts, everything that protects": no public path,
 * no exempt path, `unless` does not skip, `when` applies its layers, or, for layers set to
 * `ambiguousPaths: 'refuse'`, 400 with {@link AMBIGUOUS_PATH_ERROR}. An ordinary target costs
 * one regular-expression test and allocates nothing but the query-less slice.
 */
export function matchablePath(target: string | undefined): string | undefined {
  return normalize(target, true)
}

function normalize(target: string | undefined, strict: boolean): string | undefined {
  if (target === undefined) return undefined
  let path = target
  const end = firstIndexOf(path, '?', '#')
  if (end >= 0) path = path.slice(0, end)
  if (path === '*') return '*'
  if (path.charCodeAt(0) !== 0x2f) {
    // Absolute-form targets (sent to proxies, accepted by Node): keep only the path.
    const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path)
    if (scheme) path = path.slice(scheme[0].length)
    if (!path.startsWith('/') && !path.startsWith('\\')) {
      // `admin` is no path to a router: `/admin` is a guess.
      if (strict && path !== '') return undefined
      path = '/' + path
    }
  }
  if (!NEEDS_WORK.test(path)) {
    return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  }
  if (strict && AMBIGUOUS_SPELLING.test(path)) return undefined
  path = path.replace(/\\/g, '/')
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path)
    } catch {
      return undefined
    }
    path = path.replace(/\\/g, '/')
  }
  if (/[\x00-\x1f\x7f]/.test(path)) return undefined
  const out: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') {
      // Strictly, only the empty segment a trailing slash leaves is harmless: `/.` is not.
      if (strict && segment === '.') return undefined
      continue
    }
    if (segment === '..') {
      if (strict) return undefined
      out.pop()
    } else out.push(segment)
  }
  return '/' + out.join('/')
}

/**
 * What a layer that decides by path does with a target {@link matchablePath} will not name:
 * `'fail-closed'` treats it as matching nothing that exempts and everything that protects;
 * `'refuse'` answers it with 400 ({@link AMBIGUOUS_PATH_ERROR}) before deciding anything.
 */
export type AmbiguousPaths = 'fail-closed' | 'refuse'

/** The answer to an ambiguous or unreadable target under `ambiguousPaths: 'refuse'`. */
export const AMBIGUOUS_PATH_ERROR = new HttpError(400, 'Ambiguous request path', { code: 'ambiguous_path' })

/** Validate the `ambiguousPaths` option of `middleware`; true when such targets are refused. */
export function expectAmbiguousPaths(middleware: string, value: unknown): boolean {
  return expectOneOf(middleware, 'ambiguousPaths', value, ['fail-closed', 'refuse'] as const) === 'refuse'
}

/**
 * A path pattern: `'/health'` (exactly that path), `'/api/*'` (that path and everything
 * under it, on a segment boundary: never `/apix`), an anchored RegExp tested against the
 * normal form, or a predicate on it.
 */
export type PathPattern = string | RegExp | ((path: string) => boolean)

/** Options of {@link compilePathPatterns}. */
export interface PathMatchOptions {
  /** Compare case-sensitively. Turn on only if every router behind the filter is case-sensitive too. @default false */
  caseSensitive?: boolean
}

/**
 * Compile patterns into one test on a normalised path. Validates at construction:
 * relative strings, unanchored or stateful (`g`, `y`) regexes are refused, naming `option`.
 */
export function compilePathPatterns(
  middleware: string,
  option: string,
  patterns: readonly PathPattern[],
  options: PathMatchOptions = {},
): (normalizedPath: string) => boolean {
  if (!Array.isArray(patterns)) throw new ConfigError(middleware, option, 'an array of path patterns', patterns)
  const fold = options.caseSensitive ? (s: string) => s : (s: string) => s.toLowerCase()
  const exact = new Set<string>()
  const prefixes: string[] = []
  const tests: Array<(path: string) => boolean> = []
  for (const pattern of patterns) {
    if (typeof pattern === 'function') {
      tests.push(pattern)
    } else if (pattern instanceof RegExp) {
      if (!pattern.source.startsWith('^') || pattern.global || pattern.sticky) {
        throw new ConfigError(
          middleware,
          option,
          'patterns whose RegExps start with ^ and have no g or y flag',
          pattern,
          `An unanchored pattern matches anywhere in the path (/admin/ matches /x/admin/); write ${/^\//.source}... instead.`,
        )
      }
      const regex =
        options.caseSensitive || pattern.ignoreCase ? pattern : new RegExp(pattern.source, pattern.flags + 'i')
      tests.push((path) => regex.test(path))
    } else if (typeof pattern === 'string' && pattern.startsWith('/')) {
      const isPrefix = pattern.endsWith('/*')
      const normal = normalizePath(isPrefix ? pattern.slice(0, -2) || '/' : pattern)
      if (normal === undefined) throw new ConfigError(middleware, option, 'valid paths', pattern)
      if (isPrefix) prefixes.push(fold(normal === '/' ? '' : normal))
      else exact.add(fold(normal))
    } else {
      throw new ConfigError(
        middleware,
        option,
        'path patterns: "/exact", "/prefix/*", an anchored RegExp or a function',
        pattern,
        typeof pattern === 'string' ? `Paths start with "/": write "/${pattern}".` : '',
      )
    }
  }
  return function matchesPath(path: string): boolean {
    const folded = fold(path)
    if (exact.has(folded)) return true
    for (const prefix of prefixes) {
      if (folded === prefix || folded.startsWith(prefix + '/') || (prefix === '' && folded.startsWith('/'))) return true
    }
    for (const test of tests) if (test(path)) return true
    return false
  }
}

function firstIndexOf(text: string, a: string, b: string): number {
  const i = text.indexOf(a)
  const j = text.indexOf(b)
  return i < 0 ? j : j < 0 ? i : Math.min(i, j)
}
