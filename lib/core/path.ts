/**
 * Path normalisation and matching for every layer that decides by path (public paths of
 * jwtAuth, exempt paths, when/unless, mount). Matching is done on one normal form, so
 * `/%61dmin`, `//admin`, `/public/../admin`, `/admin/` and `\admin` are all `/admin`,
 * and, by default, case is ignored, because many routers (Express's among them) route
 * `/ADMIN` to `/admin`: a filter must never be narrower than the router behind it.
 * @module
 */
import { ConfigError } from './errors.js'

/**
 * The normal form of a request target's path: query and fragment dropped, `\` read as
 * `/`, percent-escapes decoded (once), duplicate slashes folded, dot segments resolved,
 * no trailing slash. Undefined for a target that cannot be a path: bad escapes,
 * invalid UTF-8, control characters. Callers must treat undefined as "matches nothing
 * that exempts, everything that protects" or answer 400.
 */
export function normalizePath(target: string | undefined): string | undefined {
  if (target === undefined) return undefined
  let path = target
  const end = firstIndexOf(path, '?', '#')
  if (end >= 0) path = path.slice(0, end)
  if (path === '*') return '*'
  // Absolute-form targets (sent to proxies, accepted by Node): keep only the path.
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path)
  if (scheme) path = path.slice(scheme[0].length)
  if (!path.startsWith('/') && !path.startsWith('\\')) path = '/' + path
  // Fast path: nothing to decode, fold or resolve.
  if (!/[%\\]|\/\/|\/\.|[\x00-\x1f\x7f]/.test(path)) {
    return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  }
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
    if (segment === '' || segment === '.') continue
    if (segment === '..') out.pop()
    else out.push(segment)
  }
  return '/' + out.join('/')
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
        throw new ConfigError(middleware, option, 'patterns whose RegExps start with ^ and have no g or y flag', pattern,
          `An unanchored pattern matches anywhere in the path (/admin/ matches /x/admin/); write ${/^\//.source}... instead.`)
      }
      const regex = options.caseSensitive || pattern.ignoreCase ? pattern : new RegExp(pattern.source, pattern.flags + 'i')
      tests.push((path) => regex.test(path))
    } else if (typeof pattern === 'string' && pattern.startsWith('/')) {
      const isPrefix = pattern.endsWith('/*')
      const normal = normalizePath(isPrefix ? pattern.slice(0, -2) || '/' : pattern)
      if (normal === undefined) throw new ConfigError(middleware, option, 'valid paths', pattern)
      if (isPrefix) prefixes.push(fold(normal === '/' ? '' : normal))
      else exact.add(fold(normal))
    } else {
      throw new ConfigError(middleware, option, 'path patterns: "/exact", "/prefix/*", an anchored RegExp or a function', pattern,
        typeof pattern === 'string' ? `Paths start with "/": write "/${pattern}".` : '')
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
