/**
 * csrf(): cross-site request forgery protection from what browsers already say, without
 * tokens: the decision table of Go 1.25's `http.CrossOriginProtection`. Safe methods pass;
 * an unsafe one passes when `Sec-Fetch-Site` says `same-origin` or `none`, or, from a
 * browser too old to send it, when `Origin` is this server's own origin (the scheme and
 * host the client used, as client identity reports them). Anything else is refused unless
 * its origin is trusted or its path is a bypass path. Never by `Content-Type`: peers that
 * only looked at form types were bypassed by a request without one (GHSA-2234-fmw7-43wr).
 * An opt-in token bound to the session covers the one row the headers cannot decide.
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { compileOriginList, isSameOrigin, type OriginEntry } from '../../core/origin.js'
import { defineDefaults, expectBoolean, expectHeaderName, expectString, withDefaults } from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import { type SessionFields, sessionState } from '../../core/shared-state.js'
import { defineState } from '../../core/state.js'
import type { Middleware } from '../../core/types.js'

/** Options for {@link csrf}. */
export interface CsrfOptions {
  /**
   * Origins whose unsafe requests pass although they are cross-origin: a sibling front end
   * on another port or subdomain. The grammar of cors()'s `origins` (exact origins,
   * `'https://*.example.com'`, anchored RegExps), so one list can serve both; `'null'` is
   * refused (sandboxed frames and `file:` pages send it, any site can make one).
   * @default []
   */
  trustedOrigins?: readonly OriginEntry[]
  /**
   * Paths whose unsafe requests pass from any origin: webhooks, OAuth form-post callbacks.
   * `'/exact'`, `'/prefix/*'`, an anchored RegExp or a predicate, matched like jwtAuth's
   * `publicPaths` on the unambiguous normal form: `/hooks/..%2fadmin` is no bypass.
   * @default []
   */
  bypassPaths?: readonly PathPattern[]
  /** Match `bypassPaths` case-sensitively; only if every router behind is case-sensitive too. @default false */
  caseSensitivePaths?: boolean
  /**
   * An unsafe request whose target is ambiguous (`/a/..%2fb`, `//a`, `;`): `'fail-closed'`
   * decides it as for any path that is not a bypass; `'refuse'` answers 400 first.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
  /**
   * For an unsafe request that carries neither `Sec-Fetch-Site` nor `Origin` (a browser from
   * before 2020, or a client that is no browser) and comes with a live session: require
   * the session's token ({@link getCsrfToken}) in `tokenHeader`. Without it such requests
   * pass, as in Go. Needs session() mounted outside csrf().
   * @default false
   */
  tokenFallback?: boolean
  /** Request header carrying the token. Only a header: see the docs on why not a form field or the query. @default 'x-csrf-token' */
  tokenHeader?: string
  /** Session field holding the token. @default 'csrfToken' */
  tokenSessionKey?: string
}

export const csrfDefaults = defineDefaults<CsrfOptions>({
  trustedOrigins: Object.freeze([]),
  bypassPaths: Object.freeze([]),
  caseSensitivePaths: false,
  ambiguousPaths: 'fail-closed',
  tokenFallback: false,
  tokenHeader: 'x-csrf-token',
  tokenSessionKey: 'csrfToken',
})

const CROSS_ORIGIN = new HttpError(403, 'Cross-origin request refused', { code: 'csrf_cross_origin' })
const BAD_TOKEN = new HttpError(403, 'Missing or invalid CSRF token', { code: 'csrf_token' })

/** What a handler needs to mint the token: the session field, fixed per csrf() layer. */
interface TokenConfig {
  readonly sessionKey: string
  readonly header: string
}
const tokenState = defineState<TokenConfig>('csrfToken', 'csrf({ tokenFallback: true })')

/**
 * The session's CSRF token, minted (32 random bytes, base64url) and stored in the session
 * on first use; put it in pages so scripts can send it in `tokenHeader`. Throws, naming
 * what to mount, without csrf({ tokenFallback: true }) or session() above the caller.
 */
export function getCsrfToken(req: IncomingMessage): string {
  return tokenOf(tokenState.get(req), sessionState.get(req))
}

/** Like {@link getCsrfToken}, but `undefined` where that throws. */
export function tryGetCsrfToken(req: IncomingMessage): string | undefined {
  const config = tokenState.tryGet(req)
  const session = sessionState.tryGet(req)
  return config === undefined || session === undefined ? undefined : tokenOf(config, session)
}

/**
 * Refuse (403) unsafe requests a browser made on behalf of another site. Mount it inside
 * proxyHeaders() (when you use it), so the origin compared is the one the client used.
 * @example
 * compose(proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] }),
 *   csrf({ trustedOrigins: ['https://admin.example.com'], bypassPaths: ['/webhooks/*'] }))
 */
export function csrf(options: CsrfOptions = {}): Middleware {
  const opts = withDefaults('csrf', csrfDefaults, options)
  const trusted = compileTrusted(opts.trustedOrigins)
  const bypassList = opts.bypassPaths
  const isBypass = compilePathPatterns('csrf', 'bypassPaths', bypassList, {
    caseSensitive: expectBoolean('csrf', 'caseSensitivePaths', opts.caseSensitivePaths),
  })
  const hasBypass = Array.isArray(bypassList) && bypassList.length > 0
  const refuseAmbiguous = expectAmbiguousPaths('csrf', opts.ambiguousPaths)
  const tokenFallback = expectBoolean('csrf', 'tokenFallback', opts.tokenFallback)
  const token: TokenConfig = Object.freeze({
    header: expectHeaderName('csrf', 'tokenHeader', opts.tokenHeader).toLowerCase(),
    sessionKey: expectString('csrf', 'tokenSessionKey', opts.tokenSessionKey),
  })

  /** Go's exemptions, in its order: a bypass path, then a trusted origin. */
  function isExempt(req: IncomingMessage): boolean {
    if (hasBypass) {
      const path = matchablePath(req.url)
      // An ambiguous target is never a bypass: fail closed.
      if (path !== undefined && isBypass(path)) return true
    }
    const origin = req.headers.origin
    return trusted !== undefined && typeof origin === 'string' && trusted(origin)
  }

  /** The refusal for an unsafe request, or undefined when it may go on. */
  function refusal(req: IncomingMessage): HttpError | undefined {
    if (refuseAmbiguous && matchablePath(req.url) === undefined) return AMBIGUOUS_PATH_ERROR
    const site = req.headers['sec-fetch-site']
    // Fetch Metadata: the browser's own verdict. `none` is a user's navigation (address
    // bar, bookmark); duplicates arrive joined ("same-origin, cross-site") and are refused.
    if (site === 'same-origin' || site === 'none') return undefined
    if (site !== undefined && site !== '') return isExempt(req) ? undefined : CROSS_ORIGIN
    const origin = req.headers.origin
    if (origin === undefined || origin === '') {
      // Neither header: a same-origin request of an old browser, or no browser at all. The
      // headers cannot tell these from a forged form post of an old browser; the token can.
      return tokenFallback ? checkToken(req) : undefined
    }
    if (isSameOrigin(req, origin) || isExempt(req)) return undefined
    return CROSS_ORIGIN
  }

  function checkToken(req: IncomingMessage): HttpError | undefined {
    const session = sessionState.tryGet(req)
    if (session === undefined) {
      throw new Error('csrf(): tokenFallback reads the session; mount session() before (outside) csrf().')
    }
    // A request that brought no live session has no ambient authority to ride on.
    if (session.isNew) return undefined
    const expected = session.get(token.sessionKey)
    const sent = req.headers[token.header]
    return typeof expected === 'string' && typeof sent === 'string' && sameToken(sent, expected) ? undefined : BAD_TOKEN
  }

  return defineMiddleware(
    {
      name: 'csrf',
      detail:
        [
          (opts.trustedOrigins as readonly OriginEntry[]).length > 0
            ? `trusted ${(opts.trustedOrigins as readonly OriginEntry[]).map(String).join(', ')}`
            : '',
          hasBypass
            ? `bypass ${bypassList!.map((p) => (typeof p === 'function' ? 'a function' : String(p))).join(', ')}`
            : '',
          tokenFallback ? `token in ${token.header}` : '',
        ]
          .filter(Boolean)
          .join('; ') || 'same origin only',
      variant: tokenFallback ? 'token' : 'headers',
      security: true,
    },
    (next) =>
      function csrfHandler(req, res) {
        if (tokenFallback) tokenState.set(req, token)
        const method = req.method
        // RFC 9110 §9.2.1: safe methods change nothing, so a forged one gains nothing.
        if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return next(req, res)
        const problem = refusal(req)
        if (problem === undefined) return next(req, res)
        sendError(req, res, problem)
      },
  )
}

function compileTrusted(entries: unknown): ((origin: string) => boolean) | undefined {
  if (Array.isArray(entries) && entries.length === 0) return undefined
  const match = compileOriginList('csrf', 'trustedOrigins', entries as readonly OriginEntry[])
  if (match('null')) {
    // Fetch §3.2: "null" is the origin of sandboxed iframes, data: URLs and file: pages.
    throw new ConfigError(
      'csrf',
      'trustedOrigins',
      'origins other than "null"',
      (entries as readonly OriginEntry[]).find((e) => e === 'null' || (e instanceof RegExp && e.test('null'))),
      'Any site can send Origin: null from a sandboxed iframe; list the real origins instead.',
    )
  }
  return match
}

function tokenOf(config: TokenConfig, session: SessionFields): string {
  const stored = session.get(config.sessionKey)
  if (typeof stored === 'string' && stored.length > 0) return stored
  const minted = randomBytes(32).toString('base64url')
  session.set(config.sessionKey, minted)
  return minted
}

/** Constant-time comparison, so the time taken tells nothing about how much of a guess was right. */
function sameToken(sent: string, expected: string): boolean {
  const a = Buffer.from(sent)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
