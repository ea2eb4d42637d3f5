/**
 * cors(): Cross-Origin Resource Sharing per the Fetch standard (§3.2). Preflights are
 * answered here, validated against the configuration; actual requests get their CORS
 * headers at response start, so a 401 from auth, a 429 from a rate limit or a 500 from
 * the error boundary outside carries them too, and a browser shows the real error
 * instead of a CORS failure (Starlette#1116).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import {
  addFixedHeaders,
  appendOwnVary,
  appendVary,
  FixedHeaders,
  isCorsPreflight,
  setOwnHeader,
  singleHeader,
} from '../../core/headers.js'
import {
  defineDefaults,
  expectArray,
  expectBoolean,
  expectHeaderName,
  expectInteger,
  isToken,
  withDefaults,
} from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import { sendError } from '../../core/send-error.js'
import { corsPreflightState } from '../../core/shared-state.js'
import type { Middleware, RawHandler } from '../../core/types.js'
import { compileOriginList, isSameOrigin, type OriginEntry } from '../../core/origin.js'
import { isUpgradeRequest } from '../../core/upgrade.js'

/** Decides an origin at run time; only `true` allows. Rejections propagate (answered as 500 by an error boundary). */
export type OriginPredicate = (origin: string, req: IncomingMessage) => boolean | Promise<boolean>

/** Options for {@link cors}. */
export interface CorsOptions {
  /**
   * Who may call: `'*'` (anyone, only without credentials), a list of exact origins
   * (`'https://app.example.com'`), label-boundary wildcards (`'https://*.example.com'`:
   * subdomains only, never the apex or `evil-example.com`), anchored RegExps, `'null'`
   * (sandboxed frames and `file:` pages: list it only if you mean it), or a predicate.
   * @default '*'
   */
  origins?: '*' | OriginEntry | readonly OriginEntry[] | OriginPredicate
  /** Allow cookies and HTTP auth (`Access-Control-Allow-Credentials: true`). Needs listed origins. @default false */
  credentials?: boolean
  /**
   * Reflect every origin (except `null`) with credentials: any site may then act as the
   * user. Only for development tools or APIs that carry no user data.
   * @default false
   */
  dangerouslyAllowAnyOriginWithCredentials?: boolean
  /** Methods allowed in preflights, or `'*'` for any. Case-sensitive, except DELETE, GET, HEAD, OPTIONS, POST and PUT (as in browsers). @default ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'] */
  methods?: readonly string[] | '*'
  /** Request headers allowed in preflights (case-insensitive), or `'*'` for any well-formed list. @default ['content-type', 'authorization'] */
  allowedHeaders?: readonly string[] | '*'
  /** Response headers readable by scripts (`Access-Control-Expose-Headers`). @default [] */
  exposedHeaders?: readonly string[]
  /** Seconds a browser may cache a preflight (Chromium caps it at 7200, Firefox at 86400). @default 600 */
  maxAge?: number
  /** Answer Private Network Access preflights (`Access-Control-Allow-Private-Network`), for public sites calling this server on a private network. @default false */
  privateNetwork?: boolean
  /**
   * Pass preflights on to the handler after setting the headers, instead of answering 204.
   * A preflight that passed validation reaches it without credentials (jwtAuth and apiKey let
   * it through); one that failed reaches it without CORS headers and must authenticate.
   * @default false
   */
  preflightContinue?: boolean
  /**
   * Refuse (403) WebSocket handshakes that come through `handleUpgrades()` from an origin that
   * is neither this server's own nor allowed by `origins`. Browsers send `Origin` on every
   * handshake and never preflight one, so this is what stops cross-site WebSocket hijacking;
   * a handshake without `Origin` (not a browser) passes. Turn it off only to check origins in
   * the upgrade handler yourself.
   * @default true
   */
  checkUpgradeOrigin?: boolean
}

export const corsDefaults = defineDefaults<CorsOptions>({
  origins: '*',
  credentials: false,
  dangerouslyAllowAnyOriginWithCredentials: false,
  methods: Object.freeze(['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE']),
  allowedHeaders: Object.freeze(['content-type', 'authorization']),
  exposedHeaders: Object.freeze([]),
  maxAge: 600,
  privateNetwork: false,
  preflightContinue: false,
  checkUpgradeOrigin: true,
})

/** Longest `Access-Control-Request-Headers` read; a longer one is refused before it is split. */
export const MAX_REQUEST_HEADERS_LENGTH = 2048

// Fetch §2.2.1 "normalize a method": browsers upper-case these six and no others, so
// fetch(url, { method: 'patch' }) asks for "patch", which "PATCH" does not allow.
const STANDARD_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

// Browsers send Origin once. Node joins repeated lines into one value, which neither this
// layer nor any other may read as an origin: such a preflight is refused, never passed on.
const REPEATED_ORIGIN = new HttpError(400, 'Origin sent more than once', { code: 'cors_preflight_invalid' })

// A WebSocket handshake from a page on an origin not allowed: the browser would run it with
// the user's cookies, and nothing after the 101 asks the origin again.
const UPGRADE_ORIGIN_REFUSED = new HttpError(403, 'Origin not allowed to open a WebSocket', {
  code: 'cors_origin_not_allowed',
})

type Decision = string | undefined

/**
 * Answer CORS preflights and add CORS headers to responses for allowed origins.
 * Mount it inside the error boundary and outside auth and rate limiting: preflights
 * carry no credentials, and errors must carry CORS headers to be readable.
 * @example
 * compose(errorBoundary(), cors({ origins: ['https://app.example.com'], credentials: true }), jwtAuth(...))
 */
export function cors(options: CorsOptions = {}): Middleware {
  const opts = withDefaults('cors', corsDefaults, options)
  const credentials = expectBoolean('cors', 'credentials', opts.credentials)
  const reflectAny = expectBoolean(
    'cors',
    'dangerouslyAllowAnyOriginWithCredentials',
    opts.dangerouslyAllowAnyOriginWithCredentials,
  )
  const privateNetwork = expectBoolean('cors', 'privateNetwork', opts.privateNetwork)
  const preflightContinue = expectBoolean('cors', 'preflightContinue', opts.preflightContinue)
  const checkUpgradeOrigin = expectBoolean('cors', 'checkUpgradeOrigin', opts.checkUpgradeOrigin)
  const maxAge = String(
    expectInteger('cors', 'maxAge', opts.maxAge, 0, 86_400, 'maxAge is in seconds, e.g. 600 for ten minutes.'),
  )
  const anyOrigin = opts.origins === '*'
  if (reflectAny && (!anyOrigin || !credentials)) {
    throw new ConfigError(
      'cors',
      'dangerouslyAllowAnyOriginWithCredentials',
      'used only with credentials: true and origins left at "*"',
      reflectAny,
      anyOrigin
        ? 'Without credentials, origins: "*" already allows everyone.'
        : 'You listed origins: drop this option.',
    )
  }
  if (anyOrigin && credentials && !reflectAny) {
    // Fetch §3.2.5: "*" with credentials is refused by browsers; reflecting the Origin
    // instead (Starlette, Hono's reverted change) lets every site act as the user.
    throw new ConfigError(
      'cors',
      'origins',
      'a list of origins when credentials is true',
      '*',
      'List the origins that may send credentials, e.g. origins: ["https://app.example.com"]. ' +
        'Reflecting any origin is possible only with dangerouslyAllowAnyOriginWithCredentials: true.',
    )
  }
  const predicate = typeof opts.origins === 'function' ? opts.origins : undefined
  const originList =
    anyOrigin || predicate
      ? undefined
      : typeof opts.origins === 'string' || opts.origins instanceof RegExp
        ? [opts.origins]
        : (opts.origins as readonly OriginEntry[])
  const matches = originList === undefined ? undefined : compileOriginList('cors', 'origins', originList)
  if (credentials && matches?.('null') === true) {
    // Fetch §3.2: "null" is the origin of sandboxed iframes, data: URLs and file: pages, so
    // any site can send it (from an <iframe sandbox> of its own): with credentials, every
    // site could act as the user, as with a reflected "*".
    throw new ConfigError(
      'cors',
      'origins',
      'origins other than "null" when credentials is true',
      originList!.find((e) => e === 'null' || (e instanceof RegExp && e.test('null'))),
      'Any site can send Origin: null from a sandboxed iframe, so allowing it with credentials lets every site act as your users. ' +
        'Remove "null" (or the RegExp that matches it) from origins, or set credentials: false.',
    )
  }
  const methods = compileList('methods', opts.methods, (m, i) => {
    if (typeof m !== 'string' || !isToken(m))
      throw new ConfigError('cors', `methods[${i}]`, 'an HTTP method (a token)', m)
    return STANDARD_METHODS.has(m.toUpperCase()) ? m.toUpperCase() : m
  })
  const allowedHeaders = compileList('allowedHeaders', opts.allowedHeaders, (h, i) =>
    expectHeaderName('cors', `allowedHeaders[${i}]`, h),
  )
  const exposed = expectArray('cors', 'exposedHeaders', opts.exposedHeaders, (h, i) => {
    if (h !== '*') return expectHeaderName('cors', `exposedHeaders[${i}]`, h)
    if (!credentials) return '*'
    // Fetch §3.2.3: with credentials, "*" is the literal header name "*".
    throw new ConfigError(
      'cors',
      `exposedHeaders[${i}]`,
      'header names when credentials is true',
      h,
      'List the headers scripts may read, e.g. ["x-request-id"].',
    )
  })

  // Precomputed header values.
  const exposeHeaders = exposed.length > 0 ? exposed.join(', ') : undefined
  const allowMethods = methods === '*' ? undefined : [...methods].join(', ')
  // With "*" and no credentials the answer is the same for every origin: no Vary: Origin.
  const fixedOrigin = anyOrigin && !reflectAny ? '*' : undefined
  // The constant headers of an allowed actual request, validated once.
  const constantFields: Array<[string, string]> = []
  if (credentials) constantFields.push(['access-control-allow-credentials', 'true'])
  if (exposeHeaders !== undefined) constantFields.push(['access-control-expose-headers', exposeHeaders])
  const actualConstants = constantFields.length > 0 ? new FixedHeaders(constantFields) : undefined
  const preflightVary = ['Access-Control-Request-Method', 'Access-Control-Request-Headers']
  if (privateNetwork) preflightVary.push('Access-Control-Request-Private-Network')
  if (fixedOrigin === undefined) preflightVary.unshift('Origin')

  /** The origin to answer with, or undefined when not allowed; a promise only for async predicates. */
  function decide(origin: string, req: IncomingMessage): Decision | Promise<Decision> {
    if (fixedOrigin !== undefined) return fixedOrigin
    if (reflectAny) return origin === 'null' ? undefined : origin
    if (matches !== undefined) return matches(origin) ? origin : undefined
    const verdict = predicate!(origin, req)
    if (verdict === true) return origin
    if (verdict === false || typeof (verdict as Promise<boolean>)?.then !== 'function') return undefined
    return (verdict as Promise<boolean>).then((ok) => (ok === true ? origin : undefined))
  }

  /** Response-start listener of actual requests: context is the origin to allow, or undefined. */
  function actualHeaders(res: ServerResponse, allowed: Decision): void {
    if (fixedOrigin === undefined) appendOwnVary(res, 'Origin')
    if (allowed === undefined) return
    // A listed origin was checked when the list was compiled; any other (a predicate's, a
    // pattern's, a reflected one) goes through setHeader's checks.
    if (matches?.exact.has(allowed) === true) setOwnHeader(res, 'access-control-allow-origin', allowed)
    else res.setHeader('access-control-allow-origin', allowed)
    if (actualConstants !== undefined) addFixedHeaders(res, actualConstants, true)
  }

  function preflightVaryListener(res: ServerResponse): void {
    appendVary(res, ...preflightVary)
  }

  /** Validate a preflight; the error to answer, or undefined with the headers set on `res`. */
  function preflight(req: IncomingMessage, res: ServerResponse, allowed: Decision): HttpError | undefined {
    if (allowed === undefined) return refused('cors_origin_not_allowed', 'Origin not allowed')
    const method = singleHeader(req, 'access-control-request-method')
    if (method === undefined || !isToken(method))
      return new HttpError(400, 'Invalid Access-Control-Request-Method', { code: 'cors_preflight_invalid' })
    const normalMethod = STANDARD_METHODS.has(method.toUpperCase()) ? method.toUpperCase() : method
    if (methods !== '*' && !methods.has(normalMethod))
      return refused('cors_method_not_allowed', `Method ${normalMethod} not allowed`)
    const requested = req.headers['access-control-request-headers']
    let allowHeaders: string | undefined
    if (typeof requested === 'string' && requested.length > 0) {
      // Checked before splitting: a 16 KiB list costs one comparison.
      if (requested.length > MAX_REQUEST_HEADERS_LENGTH) {
        return new HttpError(431, 'Access-Control-Request-Headers too long', { code: 'cors_preflight_invalid' })
      }
      const names: string[] = []
      for (const part of requested.split(',')) {
        const name = part.trim().toLowerCase()
        if (name === '') continue
        if (!isToken(name))
          return new HttpError(400, 'Invalid Access-Control-Request-Headers', { code: 'cors_preflight_invalid' })
        if (allowedHeaders !== '*' && !allowedHeaders.has(name))
          return refused('cors_header_not_allowed', `Header ${name} not allowed`)
        names.push(name)
      }
      if (names.length > 0) allowHeaders = names.join(', ')
    }
    res.setHeader('access-control-allow-origin', allowed)
    if (credentials) res.setHeader('access-control-allow-credentials', 'true')
    res.setHeader('access-control-allow-methods', allowMethods ?? normalMethod)
    if (allowHeaders !== undefined) res.setHeader('access-control-allow-headers', allowHeaders)
    res.setHeader('access-control-max-age', maxAge)
    // Private Network Access §3.2: answer the request flag only when enabled.
    if (privateNetwork && req.headers['access-control-request-private-network'] === 'true') {
      res.setHeader('access-control-allow-private-network', 'true')
    }
    return undefined
  }

  function handlePreflight(
    req: IncomingMessage,
    res: ServerResponse,
    next: (req: IncomingMessage, res: ServerResponse) => unknown,
    allowed: Decision,
  ): unknown {
    onResponseStart(res, preflightVaryListener)
    const error = preflight(req, res, allowed)
    if (preflightContinue) {
      // Only a validated preflight is marked: authenticating layers exempt nothing else.
      if (error === undefined) corsPreflightState.set(req, true)
      return next(req, res)
    }
    if (error !== undefined) return void sendError(req, res, error)
    res.statusCode = 204
    res.setHeader('content-length', '0')
    res.end()
  }

  /**
   * A WebSocket handshake: no CORS headers (a browser reads none on a 101), but the origin
   * check a preflight would have made. Same-origin pages pass, and so do listed origins.
   */
  function handleUpgrade(req: IncomingMessage, res: ServerResponse, next: RawHandler): unknown {
    const origin = singleHeader(req, 'origin')
    if (origin === undefined) {
      if (req.headers.origin !== undefined) return void sendError(req, res, REPEATED_ORIGIN)
      return next(req, res)
    }
    if (fixedOrigin !== undefined || isSameOrigin(req, origin)) return next(req, res)
    const allowed = decide(origin, req)
    if (typeof allowed === 'object') {
      return allowed.then((decided) =>
        decided === undefined ? void sendError(req, res, UPGRADE_ORIGIN_REFUSED) : next(req, res),
      )
    }
    if (allowed === undefined) return void sendError(req, res, UPGRADE_ORIGIN_REFUSED)
    return next(req, res)
  }

  const detail = predicate
    ? 'origins by function'
    : anyOrigin
      ? reflectAny
        ? 'DANGEROUSLY reflecting any origin with credentials'
        : 'any origin'
      : 'listed origins'
  return defineMiddleware(
    {
      name: 'cors',
      detail: `${detail}${credentials ? ', credentials' : ''}`,
      security: true,
    },
    (next) =>
      function corsHandler(req, res) {
        if (checkUpgradeOrigin && isUpgradeRequest(req)) return handleUpgrade(req, res, next)
        const origin = singleHeader(req, 'origin')
        const isPreflight = origin !== undefined && isCorsPreflight(req)
        if (origin === undefined) {
          if (req.headers.origin !== undefined && isCorsPreflight(req)) return void sendError(req, res, REPEATED_ORIGIN)
          // Not a CORS request, but a cache must not serve this answer to one.
          onResponseStart(res, actualHeaders, fixedOrigin)
          return next(req, res)
        }
        const allowed = decide(origin, req)
        if (typeof allowed === 'object') {
          return allowed.then((decided) => {
            if (isPreflight) return handlePreflight(req, res, next, decided)
            onResponseStart(res, actualHeaders, decided)
            return next(req, res)
          })
        }
        if (isPreflight) return handlePreflight(req, res, next, allowed)
        onResponseStart(res, actualHeaders, allowed)
        return next(req, res)
      },
  )
}

/** A validated list as a Set, or `'*'`. */
function compileList(
  option: string,
  value: readonly string[] | '*',
  each: (item: unknown, index: number) => string,
): Set<string> | '*' {
  if (value === '*') return '*'
  const list = expectArray('cors', option, value, each)
  if (list.length === 0 && option === 'methods')
    throw new ConfigError('cors', option, 'a non-empty list of methods or "*"', value)
  return new Set(list)
}

function refused(code: string, message: string): HttpError {
  return new HttpError(403, message, { code })
}
