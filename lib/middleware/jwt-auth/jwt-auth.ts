/**
 * jwtAuth(): verify a JSON Web Token (RFC 7519) on every request, with jose. The token
 * comes from `Authorization: Bearer` (RFC 6750 §2.1), a cookie, or a function; verified
 * claims land in typed request state and the subject in `userIdState`, so access logs and
 * per-user limits see who the request acts for. Refusals are 401 (`missing_token`,
 * `invalid_token`, `token_expired`) or 403 (`insufficient_scope`) with an RFC 6750
 * challenge; no token a client can send causes a 500.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { getCookie, isCookieName } from '../../core/cookies.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, type HttpError } from '../../core/errors.js'
import { isQuotedStringSafe, singleHeader } from '../../core/headers.js'
import {
  defineDefaults,
  expectArray,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectNumber,
  expectString,
  withDefaults,
} from '../../core/options.js'
import { expectAmbiguousPaths, type AmbiguousPaths, type PathPattern } from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import { userIdState } from '../../core/shared-state.js'
import { defineState } from '../../core/state.js'
import type { Middleware } from '../../core/types.js'
import { compileExemption, exemptionsOf } from '../../core/auth-exemption.js'
import { attachScheme, type AuthOutcome, type AuthScheme, runScheme } from '../../core/auth-scheme.js'
import { acceptableUntil, deepFreeze, TokenCache, type CachedToken } from './cache.js'
import { buildRefusals, refusalFor } from './errors.js'
import { resolveKeys, type JwtPublicKey, type JwtSecret } from './keys.js'

export type { JwtPublicKey, JwtSecret } from './keys.js'

/** Options for {@link jwtAuth}. Give exactly one of `secret`, `publicKey`, `jwks`, `jwksUrl`. */
export interface JwtAuthOptions<C extends object = JWTPayload> {
  /** HMAC secret (HS256/384/512), at least 32 bytes. Never a PEM: public keys go in `publicKey`. */
  secret?: JwtSecret
  /** A public key (PEM, JWK, KeyObject, CryptoKey) for RS*, PS*, ES* or EdDSA; needs `algorithms`. */
  publicKey?: JwtPublicKey
  /** A local JSON Web Key Set of public keys, chosen by the token's `kid`; needs `algorithms`. */
  jwks?: JSONWebKeySet
  /** The issuer's JWKS URL (https, or http on loopback), fetched and cached by jose; needs `algorithms`. */
  jwksUrl?: string | URL
  /**
   * The signing algorithms accepted. Required for public keys and key sets; for a secret
   * it defaults to HS256, HS384 and HS512. Each must belong to the key's family; `none` never does.
   */
  algorithms?: readonly string[]
  /** After fetching the JWKS (or failing to), no refetch for an unknown `kid` before this many ms. @default 30_000 */
  jwksCooldownMs?: number
  /** Longest wait for the JWKS endpoint; a token that needs it is refused after it. @default 5_000 */
  jwksTimeoutMs?: number
  /** Refetch the JWKS when the copy held is older than this. @default 600_000 */
  jwksMaxAgeMs?: number
  /** Accepted `iss` value(s). Set it whenever the key is shared by several issuers. */
  issuer?: string | readonly string[]
  /** Accepted `aud` value(s): this API's identifier. Without it, a token minted for another API of the same issuer passes. */
  audience?: string | readonly string[]
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. @default 5 */
  clockToleranceSeconds?: number
  /** Refuse tokens whose `iat` is older than this many seconds (and tokens without `iat`). */
  maxTokenAgeSeconds?: number
  /** Refuse tokens without `exp` (they would never expire). @default true */
  requireExpiry?: boolean
  /** Claims that must be present, e.g. `['sub', 'jti']`. @default [] */
  requiredClaims?: readonly string[]
  /** Scopes the token must all carry, else 403 `insufficient_scope`. @default [] */
  scopes?: readonly string[]
  /** Claim holding the scopes: a space-separated string (RFC 8693 §4.2) or an array (`scp`). @default 'scope' */
  scopeClaim?: string
  /** Required `typ` header, e.g. `'at+jwt'` (RFC 9068) to refuse ID tokens used as access tokens. */
  typ?: string
  /** Also read the token from this cookie when there is no `Authorization` header. Protect such routes from CSRF. */
  cookie?: string
  /** Read the token yourself (replaces the header and the cookie); return undefined when there is none. */
  getToken?: (req: IncomingMessage) => string | undefined | null
  /**
   * Paths that need no token: `'/health'`, `'/docs/*'`, anchored RegExps, predicates, matched
   * on `matchablePath(req.url)`; an ambiguous target (`/admin/..%2fpublic`) is never public.
   * @default []
   */
  publicPaths?: readonly PathPattern[]
  /** Match `publicPaths` case-sensitively; only if every router behind is case-sensitive too. @default false */
  caseSensitivePaths?: boolean
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * requires a token for them like for any protected path; `'refuse'` answers them 400
   * `ambiguous_path`, token or not.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
  /** Let requests without a token through (without claims); a token that is sent must still be valid. @default false */
  optional?: boolean
  /** Claim copied to `userIdState` (access logs, per-user limits); false to copy none. @default 'sub' */
  userIdClaim?: string | false
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string
  /** A last check on verified claims (revoked `jti`, disabled user): return true to accept; anything else refuses with 401. Runs on every request, cache hits included. */
  validate?: (claims: C, req: IncomingMessage) => boolean | Promise<boolean>
  /** Longest token accepted; longer ones are refused unread. @default 8192 */
  maxTokenLength?: number
  /** Tokens whose verification is remembered (0 turns the cache off). @default 1000 */
  cacheSize?: number
  /** Longest time a verification is remembered, in ms (never past the token's `exp`). @default 60_000 */
  cacheMaxAgeMs?: number
  /** Wall clock, epoch ms (tests). @default Date.now */
  now?: () => number
}

/** Defaults of {@link jwtAuth}. */
export const jwtAuthDefaults = defineDefaults<
  JwtAuthOptions,
  | 'secret'
  | 'publicKey'
  | 'jwks'
  | 'jwksUrl'
  | 'algorithms'
  | 'issuer'
  | 'audience'
  | 'maxTokenAgeSeconds'
  | 'typ'
  | 'cookie'
  | 'getToken'
  | 'realm'
  | 'validate'
>({
  secret: undefined,
  publicKey: undefined,
  jwks: undefined,
  jwksUrl: undefined,
  algorithms: undefined,
  jwksCooldownMs: 30_000,
  jwksTimeoutMs: 5_000,
  jwksMaxAgeMs: 600_000,
  issuer: undefined,
  audience: undefined,
  clockToleranceSeconds: 5,
  maxTokenAgeSeconds: undefined,
  requireExpiry: true,
  requiredClaims: Object.freeze([]),
  scopes: Object.freeze([]),
  scopeClaim: 'scope',
  typ: undefined,
  cookie: undefined,
  getToken: undefined,
  publicPaths: Object.freeze([]),
  caseSensitivePaths: false,
  ambiguousPaths: 'fail-closed',
  optional: false,
  userIdClaim: 'sub',
  realm: undefined,
  validate: undefined,
  maxTokenLength: 8192,
  cacheSize: 1000,
  cacheMaxAgeMs: 60_000,
  now: Date.now,
})

const claimsState = defineState<JWTPayload>('jwtClaims', 'jwtAuth()')

/**
 * The verified claims of `req`; throws, naming what to mount, when jwtAuth() verified no token
 * for it (not mounted, optional mode without a token, a public path).
 */
export const getJwtClaims = <C extends object = JWTPayload>(req: IncomingMessage): C => claimsState.get(req) as C
/** The verified claims of `req`, or undefined (no jwtAuth(), optional mode without a token, a public path). */
export const tryGetJwtClaims = <C extends object = JWTPayload>(req: IncomingMessage): C | undefined =>
  claimsState.tryGet(req) as C | undefined

/** What jwtAuth() returns: a middleware that also reads its claims with their type. */
export interface JwtAuthMiddleware<C extends object> extends Middleware {
  /** The claims verified for `req`, as {@link getJwtClaims}: throws, naming what to mount, when there are none. */
  get(req: IncomingMessage): C
  /** The claims verified for `req`, or undefined, as {@link tryGetJwtClaims}. */
  tryGet(req: IncomingMessage): C | undefined
}

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i
const SCHEME = /^bearer(?: |$)/i
// A JWS in compact form: three base64url parts (RFC 7515 §7.1), the last one non-empty.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * Require a valid JWT. Pitfalls: set `audience` (and `issuer`), or tokens minted for any
 * other service trusting the same issuer are accepted; mount inside `cors()` so CORS
 * headers reach refusals; a token read from a cookie needs CSRF protection.
 * @example
 * const auth = jwtAuth<{ sub: string; tenant: string }>({ jwksUrl: 'https://id.example/jwks.json', algorithms: ['RS256'], issuer: 'https://id.example/', audience: 'api' })
 * http.createServer(compose(cors(), auth)((req, res) => res.end(auth.get(req).tenant)))
 */
export function jwtAuth<C extends object = JWTPayload>(options: JwtAuthOptions<C>): JwtAuthMiddleware<C> {
  const opts = withDefaults('jwtAuth', jwtAuthDefaults, options)
  expectInteger('jwtAuth', 'jwksCooldownMs', opts.jwksCooldownMs, 0)
  expectInteger('jwtAuth', 'jwksTimeoutMs', opts.jwksTimeoutMs, 1)
  expectInteger('jwtAuth', 'jwksMaxAgeMs', opts.jwksMaxAgeMs, 0)
  for (const key of ['jwksCooldownMs', 'jwksTimeoutMs', 'jwksMaxAgeMs'] as const) {
    if (options[key] !== undefined && options.jwksUrl === undefined) {
      throw new ConfigError(
        'jwtAuth',
        key,
        'set only together with jwksUrl',
        options[key],
        "It tunes fetching a remote key set: remove it, or give the issuer's jwksUrl.",
      )
    }
  }
  const now = expectFunction<() => number>('jwtAuth', 'now', opts.now)
  const keys = resolveKeys(opts, now)
  const remote = opts.jwksUrl !== undefined
  const tolerance = expectNumber(
    'jwtAuth',
    'clockToleranceSeconds',
    opts.clockToleranceSeconds,
    0,
    300,
    'It is in seconds: 5 (the default) to 60 covers servers whose clocks are kept by NTP; every second more keeps expired tokens working a second longer.',
  )
  const maxAge =
    opts.maxTokenAgeSeconds === undefined
      ? undefined
      : expectNumber('jwtAuth', 'maxTokenAgeSeconds', opts.maxTokenAgeSeconds, 1)
  const issuer = opts.issuer === undefined ? undefined : stringOrList('issuer', opts.issuer)
  const audience = opts.audience === undefined ? undefined : stringOrList('audience', opts.audience)
  const requiredClaims = expectArray('jwtAuth', 'requiredClaims', opts.requiredClaims, (c) =>
    expectString('jwtAuth', 'requiredClaims', c),
  )
  const claimsRequired = expectBoolean('jwtAuth', 'requireExpiry', opts.requireExpiry)
    ? [...new Set(['exp', ...requiredClaims])]
    : [...requiredClaims]
  const scopes = expectArray('jwtAuth', 'scopes', opts.scopes, (s) => {
    if (typeof s !== 'string' || !SCOPE_TOKEN.test(s))
      throw new ConfigError(
        'jwtAuth',
        'scopes',
        'scope tokens (printable ASCII without spaces, quotes or backslashes; RFC 6749 §3.3)',
        s,
      )
    return s
  })
  const scopeClaim = expectString('jwtAuth', 'scopeClaim', opts.scopeClaim)
  const typ = opts.typ === undefined ? undefined : expectString('jwtAuth', 'typ', opts.typ)
  if (opts.cookie !== undefined && (typeof opts.cookie !== 'string' || !isCookieName(opts.cookie))) {
    throw new ConfigError(
      'jwtAuth',
      'cookie',
      'a cookie name (RFC 9110 token characters)',
      opts.cookie,
      'Give the name of the cookie holding the token, e.g. "access_token".',
    )
  }
  const getToken =
    opts.getToken === undefined
      ? undefined
      : expectFunction<NonNullable<JwtAuthOptions['getToken']>>('jwtAuth', 'getToken', opts.getToken)
  if (getToken !== undefined) {
    if (opts.cookie !== undefined)
      throw new ConfigError(
        'jwtAuth',
        'cookie',
        'unset when getToken is given',
        opts.cookie,
        'getToken replaces the header and the cookie; read the cookie in it.',
      )
  }
  const isExempt = compileExemption(
    'jwtAuth',
    opts.publicPaths,
    expectBoolean('jwtAuth', 'caseSensitivePaths', opts.caseSensitivePaths),
    expectAmbiguousPaths('jwtAuth', opts.ambiguousPaths),
  )
  const optional = expectBoolean('jwtAuth', 'optional', opts.optional)
  const userIdClaim = opts.userIdClaim === false ? false : expectString('jwtAuth', 'userIdClaim', opts.userIdClaim)
  if (opts.realm !== undefined && (typeof opts.realm !== 'string' || !isQuotedStringSafe(opts.realm))) {
    throw new ConfigError('jwtAuth', 'realm', 'printable ASCII without quotes or backslashes (RFC 6750 §3)', opts.realm)
  }
  const validate =
    opts.validate === undefined
      ? undefined
      : expectFunction<NonNullable<JwtAuthOptions<C>['validate']>>('jwtAuth', 'validate', opts.validate)
  const maxTokenLength = expectInteger('jwtAuth', 'maxTokenLength', opts.maxTokenLength, 16, 1 << 20)
  const cacheSize = expectInteger('jwtAuth', 'cacheSize', opts.cacheSize, 0, 1_000_000)
  const cacheMaxAgeMs = expectInteger('jwtAuth', 'cacheMaxAgeMs', opts.cacheMaxAgeMs, 1)
  const cache = cacheSize > 0 ? new TokenCache(cacheSize) : undefined
  const refusals = buildRefusals(opts.realm, scopes)
  const customClock = options.now !== undefined

  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...keys.algorithms] as JWTVerifyOptions['algorithms'],
    clockTolerance: tolerance,
    requiredClaims: claimsRequired,
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
    ...(maxAge === undefined ? {} : { maxTokenAge: maxAge }),
    ...(typ === undefined ? {} : { typ }),
  }

  /** The token sent with `req`; undefined when there is none, a refusal when what was sent is unusable. */
  const readToken =
    getToken !== undefined
      ? (req: IncomingMessage): string | undefined => {
          const token = getToken(req)
          return typeof token === 'string' ? token : undefined
        }
      : function readToken(req: IncomingMessage): string | HttpError | undefined {
          const header = singleHeader(req, 'authorization')
          if (header === undefined) {
            // Node keeps the first of repeated Authorization lines; singleHeader refuses them.
            if (req.headers.authorization !== undefined) return refusals.repeated
            return opts.cookie === undefined ? undefined : getCookie(req, opts.cookie) || undefined
          }
          const match = BEARER.exec(header)
          if (match) return match[1]!
          // Another scheme (Basic, …) carries no bearer token; a malformed Bearer is an invalid one.
          return SCHEME.test(header) ? refusals.malformed : undefined
        }

  function hasScopes(claims: JWTPayload): boolean {
    if (scopes.length === 0) return true
    const value = claims[scopeClaim]
    const granted = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : []
    return scopes.every((s) => granted.includes(s))
  }

  /** The verdict on a verified token: the scope check, then validate(). */
  function judge(
    entry: CachedToken,
    req: IncomingMessage,
  ): AuthOutcome<CachedToken> | Promise<AuthOutcome<CachedToken>> {
    if (!entry.scopesOk) return refusals.insufficientScope
    if (validate !== undefined) return validateEntry(entry, req, validate)
    return entry
  }

  async function validateEntry(
    entry: CachedToken,
    req: IncomingMessage,
    check: NonNullable<typeof validate>,
  ): Promise<AuthOutcome<CachedToken>> {
    return (await check(entry.claims as C, req)) === true ? entry : refusals.refused
  }

  async function verifyThenJudge(token: string, req: IncomingMessage): Promise<AuthOutcome<CachedToken>> {
    let entry: CachedToken
    try {
      const options = customClock ? { ...verifyOptions, currentDate: new Date(now()) } : verifyOptions
      const { payload } = await jwtVerify(token, keys.key, options)
      // jose checks only typeof === 'number', and JSON's 1e400 parses to Infinity: an `exp`
      // of 1e400 passes `exp > now` forever. RFC 7519 §2: a NumericDate is a number of seconds.
      if (!hasFiniteDates(payload)) return refusals.claims
      const at = now()
      entry = {
        claims: deepFreeze(payload),
        expiresAt: acceptableUntil(payload, at, tolerance, maxAge, cacheMaxAgeMs),
        scopesOk: hasScopes(payload),
      }
    } catch (err) {
      return refusalFor(err, refusals, remote)
    }
    cache?.set(token, entry)
    return judge(entry, req)
  }

  // The decision apart from the answer (core/auth-scheme.ts), so anyOf() can ask it too.
  const scheme: AuthScheme<CachedToken> = {
    name: 'jwtAuth',
    challenge: refusals.missing.headers['www-authenticate'],
    check(req) {
      const found = readToken(req)
      if (found === undefined || found === null || found === '') return undefined
      if (typeof found !== 'string') return found
      if (found.length > maxTokenLength) return refusals.tooLong
      if (!COMPACT_JWS.test(found)) return refusals.malformed
      const cached = cache?.get(found, now())
      if (cached !== undefined) return judge(cached, req)
      return verifyThenJudge(found, req)
    },
    admit(req, entry) {
      claimsState.set(req, entry.claims)
      if (userIdClaim !== false) {
        const id = entry.claims[userIdClaim]
        if (typeof id === 'string' && id.length > 0) userIdState.set(req, id)
        else if (typeof id === 'number') userIdState.set(req, String(id))
      }
    },
  }

  const middleware = defineMiddleware(
    {
      name: 'jwtAuth',
      detail: `${keys.detail}${optional ? ', optional' : ''}${scopes.length > 0 ? `, scopes ${scopes.join(' ')}` : ''}`,
      security: true,
    },
    (next) =>
      function jwtAuthHandler(req, res) {
        const exempt = isExempt(req)
        if (exempt === true) return next(req, res)
        if (exempt !== false) return sendError(req, res, exempt)
        return runScheme(scheme, refusals.missing, optional, next, req, res)
      },
  )
  attachScheme(middleware, scheme, { exemptions: exemptionsOf(opts.publicPaths, optional, opts.ambiguousPaths) })

  return Object.assign(middleware, {
    get: (req: IncomingMessage): C => claimsState.get(req) as C,
    tryGet: (req: IncomingMessage): C | undefined => claimsState.tryGet(req) as C | undefined,
  })
}

/** Whether every NumericDate claim present (`exp`, `nbf`, `iat`) is a finite number. */
function hasFiniteDates(claims: JWTPayload): boolean {
  return (
    (claims.exp === undefined || Number.isFinite(claims.exp)) &&
    (claims.nbf === undefined || Number.isFinite(claims.nbf)) &&
    (claims.iat === undefined || Number.isFinite(claims.iat))
  )
}

function stringOrList(option: string, value: unknown): string | string[] {
  if (typeof value === 'string' && value.length > 0) return value
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v.length > 0))
    return [...value]
  throw new ConfigError('jwtAuth', option, 'a non-empty string or array of strings', value)
}
