/**
 * apiKey(): require a static API key in a header (or, opted in, a query parameter).
 * Keys are configured as a list, as SHA-256 hashes (so the server never stores them), or
 * looked up by a function. Listed keys are compared in constant time: the presented key
 * is hashed to a fixed-length digest and compared with every stored digest using
 * `crypto.timingSafeEqual`, without stopping at the first match, so the answer time says
 * nothing about how much of a key was right. The key's identity lands in request state
 * and its id in `userIdState`.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { isQuotedStringSafe, singleHeader } from '../../core/headers.js'
import {
  type DefaultsOf,
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectPlainObject,
  expectString,
  isToken,
  withDefaults,
  withNestedDefaults,
} from '../../core/options.js'
import { expectAmbiguousPaths, type AmbiguousPaths, type PathPattern } from '../../core/path.js'
import { reportError } from '../../core/report.js'
import { sendError } from '../../core/send-error.js'
import { userIdState } from '../../core/shared-state.js'
import { defineState } from '../../core/state.js'
import type { Middleware } from '../../core/types.js'
import { compileExemption, exemptionsOf } from '../../core/auth-exemption.js'
import { attachScheme, type AuthOutcome, type AuthScheme, runScheme } from '../../core/auth-scheme.js'

/** Who a key belongs to. `id` names it in logs and per-client limits; never the key itself. */
export interface ApiKeyIdentity {
  readonly id: string
}

/** A listed key with the id it is known by. */
export interface NamedApiKey {
  readonly key: string
  readonly id: string
}

/** A key known only by its SHA-256 digest (64 hex digits), with its id. */
export interface HashedApiKey {
  readonly sha256: string
  readonly id: string
}

/** Options for {@link apiKey}. Give `keys` and/or `hashes`, or `lookup`. */
export interface ApiKeyOptions<I extends ApiKeyIdentity = ApiKeyIdentity> {
  /** Header carrying the key. @default 'x-api-key' */
  header?: string
  /** Scheme before the key in the header, e.g. `'ApiKey'` for `Authorization: ApiKey <key>`; compared case-insensitively. */
  scheme?: string
  /** Also accept the key in this query parameter. Off by default: URLs end up in logs, histories and Referer headers. */
  query?: string
  /** Accepted keys (at least `minKeyLength` characters); a plain string gets an id derived from its hash. */
  keys?: ReadonlyArray<string | NamedApiKey>
  /** Accepted keys by SHA-256 digest (hex), so the configuration holds no secret. */
  hashes?: ReadonlyArray<string | HashedApiKey>
  /** Find the identity of a key (e.g. in a database, by its SHA-256); resolve undefined for an unknown key. */
  lookup?: (key: string, req: IncomingMessage) => I | undefined | null | Promise<I | undefined | null>
  /** Paths that need no key, matched on `matchablePath(req.url)`; an ambiguous target is never public. @default [] */
  publicPaths?: readonly PathPattern[]
  /** Match `publicPaths` case-sensitively. @default false */
  caseSensitivePaths?: boolean
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * requires a key for them; `'refuse'` answers them 400 `ambiguous_path`, key or not.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
  /** Let requests without a key through (a key that is sent must still be valid). @default false */
  optional?: boolean
  /** Shortest key accepted in `keys`; shorter ones can be guessed. @default 16 */
  minKeyLength?: number
  /** Longest key read from a request; longer ones are refused unhashed. @default 256 */
  maxKeyLength?: number
  /** Copy the identity's `id` to `userIdState` (access logs, per-client limits). @default true */
  setUserId?: boolean
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string
}

/** Defaults of {@link apiKey}. */
export const apiKeyDefaults = defineDefaults<
  ApiKeyOptions,
  'scheme' | 'query' | 'keys' | 'hashes' | 'lookup' | 'realm'
>({
  header: 'x-api-key',
  scheme: undefined,
  query: undefined,
  keys: undefined,
  hashes: undefined,
  lookup: undefined,
  publicPaths: Object.freeze([]),
  caseSensitivePaths: false,
  ambiguousPaths: 'fail-closed',
  optional: false,
  minKeyLength: 16,
  maxKeyLength: 256,
  setUserId: true,
  realm: undefined,
})

const identityState = defineState<ApiKeyIdentity>('apiKeyIdentity', 'apiKey()')

/**
 * The identity of the key `req` presented (never the key itself); throws, naming what to
 * mount, when apiKey() did not accept one.
 */
export const getApiKeyIdentity = <I extends ApiKeyIdentity = ApiKeyIdentity>(req: IncomingMessage): I =>
  identityState.get(req) as I
/** The identity of the key `req` presented, or undefined (no apiKey(), optional mode without a key, a public path). */
export const tryGetApiKeyIdentity = <I extends ApiKeyIdentity = ApiKeyIdentity>(req: IncomingMessage): I | undefined =>
  identityState.tryGet(req) as I | undefined

/** What apiKey() returns: a middleware that also reads its identities with their type. */
export interface ApiKeyMiddleware<I extends ApiKeyIdentity> extends Middleware {
  /** The identity accepted for `req`, as {@link getApiKeyIdentity}: throws, naming what to mount, when there is none. */
  get(req: IncomingMessage): I
  /** The identity accepted for `req`, or undefined, as {@link tryGetApiKeyIdentity}. */
  tryGet(req: IncomingMessage): I | undefined
}

const HEX_DIGEST = /^[0-9a-f]{64}$/i

/**
 * Require an API key. Pitfalls: keys in a query string leak into logs (hence opt-in);
 * listed keys are compared one by one, so keep lists short (hundreds) and use `lookup`
 * with hashed keys for a database of clients.
 * @example
 * const auth = apiKey({ hashes: [{ sha256: process.env.PARTNER_KEY_SHA256!, id: 'partner-a' }] })
 * http.createServer(compose(auth)((req, res) => res.end(auth.get(req).id)))
 */
export function apiKey<I extends ApiKeyIdentity = ApiKeyIdentity>(options: ApiKeyOptions<I>): ApiKeyMiddleware<I> {
  const opts = withDefaults('apiKey', apiKeyDefaults, options)
  const header = expectHeaderName('apiKey', 'header', opts.header)
  const scheme = opts.scheme === undefined ? undefined : expectScheme(opts.scheme)
  const query = opts.query === undefined ? undefined : expectString('apiKey', 'query', opts.query)
  const minKeyLength = expectInteger('apiKey', 'minKeyLength', opts.minKeyLength, 8, 1024)
  const maxKeyLength = expectInteger('apiKey', 'maxKeyLength', opts.maxKeyLength, minKeyLength, 65_536)
  const optional = expectBoolean('apiKey', 'optional', opts.optional)
  const setUserId = expectBoolean('apiKey', 'setUserId', opts.setUserId)
  if (opts.realm !== undefined && (typeof opts.realm !== 'string' || !isQuotedStringSafe(opts.realm))) {
    throw new ConfigError('apiKey', 'realm', 'printable ASCII without quotes or backslashes', opts.realm)
  }
  const isExempt = compileExemption(
    'apiKey',
    opts.publicPaths,
    expectBoolean('apiKey', 'caseSensitivePaths', opts.caseSensitivePaths),
    expectAmbiguousPaths('apiKey', opts.ambiguousPaths),
  )

  const lookup =
    opts.lookup === undefined
      ? undefined
      : expectFunction<NonNullable<ApiKeyOptions<I>['lookup']>>('apiKey', 'lookup', opts.lookup)
  if (lookup !== undefined && (opts.keys !== undefined || opts.hashes !== undefined)) {
    throw new ConfigError(
      'apiKey',
      opts.keys !== undefined ? 'keys' : 'hashes',
      'unset when lookup is given',
      opts.keys ?? opts.hashes,
      'Check listed keys inside lookup, or drop lookup.',
    )
  }
  const digests: Buffer[] = []
  const identities: ApiKeyIdentity[] = []
  const addDigest = (option: string, digest: Buffer, id: string): void => {
    if (digests.some((d) => d.equals(digest)))
      throw new ConfigError(
        'apiKey',
        option,
        'distinct keys',
        `a key listed twice (id "${id}")`,
        'Remove the repeat: one key identifies one client.',
      )
    if (identities.some((known) => known.id === id))
      throw new ConfigError(
        'apiKey',
        option,
        'distinct ids',
        id,
        'Give each key its own id: the id is who the request acts for.',
      )
    digests.push(digest)
    identities.push(Object.freeze({ id }))
  }
  listOption('keys', opts.keys).forEach((entry, i) => {
    const path = `keys[${i}]`
    const named = typeof entry === 'string' ? undefined : nestedEntry(path, NAMED_KEY, entry, '{ key, id }')
    const key = named === undefined ? entry : named.key
    if (typeof key !== 'string' || key.length < minKeyLength || key.length > maxKeyLength || !isPrintable(key)) {
      throw new ConfigError(
        'apiKey',
        named === undefined ? path : `${path}.key`,
        `a key of ${minKeyLength} to ${maxKeyLength} printable ASCII characters`,
        typeof key === 'string' ? `a key of ${key.length} characters` : key,
        "Generate one: crypto.randomBytes(32).toString('base64url').",
      )
    }
    const digest = sha256(key)
    addDigest(
      path,
      digest,
      named === undefined ? `key:${digest.toString('hex').slice(0, 12)}` : expectId(`${path}.id`, named.id),
    )
  })
  listOption('hashes', opts.hashes).forEach((entry, i) => {
    const path = `hashes[${i}]`
    const hashed = typeof entry === 'string' ? undefined : nestedEntry(path, HASHED_KEY, entry, '{ sha256, id }')
    const hex = hashed === undefined ? entry : hashed.sha256
    if (typeof hex !== 'string' || !HEX_DIGEST.test(hex)) {
      throw new ConfigError(
        'apiKey',
        hashed === undefined ? path : `${path}.sha256`,
        'a SHA-256 digest as 64 hex digits',
        hex,
        "Compute one: crypto.createHash('sha256').update(key).digest('hex').",
      )
    }
    addDigest(
      path,
      Buffer.from(hex, 'hex'),
      hashed === undefined ? `key:${hex.slice(0, 12).toLowerCase()}` : expectId(`${path}.id`, hashed.id),
    )
  })
  if (lookup === undefined && digests.length === 0) {
    throw new ConfigError(
      'apiKey',
      'keys',
      'a non-empty list (or give hashes or lookup)',
      opts.keys,
      'Without keys every request would be refused.',
    )
  }

  const realmParam = opts.realm === undefined ? '' : ` realm="${opts.realm}",`
  // RFC 9110 §15.5.2: a 401 carries a challenge. No scheme is registered for API keys in a
  // custom header, so the challenge names the header to use.
  const challenge =
    scheme !== undefined ? `${scheme}${realmParam.replace(/,$/, '')}` : `ApiKey${realmParam} header="${header}"`
  const missing = new HttpError(401, 'An API key is required', {
    code: 'missing_api_key',
    headers: { 'www-authenticate': challenge },
  })
  const invalid = new HttpError(401, 'The API key is not valid', {
    code: 'invalid_api_key',
    headers: { 'www-authenticate': challenge },
  })
  const unavailable = new HttpError(503, 'API keys cannot be checked right now', {
    code: 'auth_unavailable',
    headers: { 'retry-after': '5' },
  })
  const schemePrefix = scheme === undefined ? '' : `${scheme.toLowerCase()} `

  /** The key sent with `req`; undefined when none, `invalid` when what was sent cannot be one. */
  function readKey(req: IncomingMessage): string | HttpError | undefined {
    let value = singleHeader(req, header)
    if (value === undefined) {
      if (req.headers[header] !== undefined) return invalid // sent on several lines
      return query === undefined ? undefined : readQuery(req.url, query, invalid)
    }
    if (schemePrefix !== '') {
      if (value.length <= schemePrefix.length || value.slice(0, schemePrefix.length).toLowerCase() !== schemePrefix)
        return undefined
      value = value.slice(schemePrefix.length).trimStart()
    }
    return value === '' ? undefined : value
  }

  /** The identity of a listed key, compared against every digest in constant time. */
  function findListed(key: string): ApiKeyIdentity | undefined {
    const digest = sha256(key)
    let found = -1
    for (let i = 0; i < digests.length; i++) {
      // No early exit: every digest is compared whatever the outcome.
      if (timingSafeEqual(digest, digests[i]!)) found = i
    }
    return found < 0 ? undefined : identities[found]
  }

  async function lookUp(req: IncomingMessage, key: string, find: NonNullable<typeof lookup>): Promise<AuthOutcome<I>> {
    let identity: I | undefined | null
    try {
      identity = await find(key, req)
      if (
        identity !== undefined &&
        identity !== null &&
        (typeof identity !== 'object' || typeof identity.id !== 'string' || identity.id === '')
      ) {
        throw new TypeError(
          `apiKey(): lookup must resolve an object with a non-empty string id, or undefined; it resolved ${typeof identity}.`,
        )
      }
    } catch (err) {
      // The key store failing says nothing about the key: not a 401, which would make
      // clients drop a good key, but a 503 they can retry.
      reportError('apiKey(): lookup failed', err, req)
      return unavailable
    }
    return identity ? identity : invalid
  }

  // The decision apart from the answer (core/auth-scheme.ts), so anyOf() can ask it too.
  const authScheme: AuthScheme<ApiKeyIdentity> = {
    name: 'apiKey',
    challenge,
    check(req) {
      const key = readKey(req)
      if (typeof key !== 'string') return key
      if (key.length > maxKeyLength) return invalid
      if (lookup !== undefined) return lookUp(req, key, lookup)
      return findListed(key) ?? invalid
    },
    admit(req, identity) {
      identityState.set(req, identity)
      if (setUserId) userIdState.set(req, identity.id)
    },
  }

  const middleware = defineMiddleware(
    {
      name: 'apiKey',
      detail: `${header}${query === undefined ? '' : ` or ?${query}`}, ${lookup ? 'lookup' : `${digests.length} keys`}${optional ? ', optional' : ''}`,
      security: true,
    },
    (next) =>
      function apiKeyHandler(req, res) {
        const exempt = isExempt(req)
        if (exempt === true) return next(req, res)
        if (exempt !== false) return sendError(req, res, exempt)
        return runScheme(authScheme, missing, optional, next, req, res)
      },
  )
  attachScheme(middleware, authScheme, { exemptions: exemptionsOf(opts.publicPaths, optional, opts.ambiguousPaths) })

  return Object.assign(middleware, {
    get: (req: IncomingMessage): I => identityState.get(req) as I,
    tryGet: (req: IncomingMessage): I | undefined => identityState.tryGet(req) as I | undefined,
  })
}

/** SHA-256 of `text`: 32 bytes whatever its length, so `timingSafeEqual` always applies. */
const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

const isPrintable = (text: string): boolean => /^[\x21-\x7e]+$/.test(text)

function readQuery(url: string | undefined, name: string, invalid: HttpError): string | HttpError | undefined {
  const at = url === undefined ? -1 : url.indexOf('?')
  if (at < 0) return undefined
  const values = new URLSearchParams(url!.slice(at + 1)).getAll(name)
  // Two values would let a proxy and this layer read different keys.
  if (values.length > 1) return invalid
  return values[0] || undefined
}

function listOption<T>(option: string, value: readonly T[] | undefined): readonly T[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new ConfigError('apiKey', option, 'an array', value)
  return value
}

function expectId(option: string, id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || !isQuotedStringSafe(id))
    throw new ConfigError('apiKey', option, 'a non-empty string of printable ASCII without quotes or backslashes', id)
  return id
}

// A listed key given as an object: no key has a default, and every field must be known.
const NAMED_KEY = defineDefaults<NamedApiKey, 'key' | 'id'>({ key: undefined, id: undefined })
const HASHED_KEY = defineDefaults<HashedApiKey, 'sha256' | 'id'>({ sha256: undefined, id: undefined })

function nestedEntry<T extends object, D extends DefaultsOf<T>>(path: string, defaults: D, entry: T, shape: string) {
  const expected = `a string or an object ${shape}`
  expectPlainObject('apiKey', path, entry, expected)
  return withNestedDefaults('apiKey', path, defaults, entry, expected)
}

function expectScheme(value: unknown): string {
  if (typeof value !== 'string' || !isToken(value))
    throw new ConfigError('apiKey', 'scheme', 'an authentication scheme name (a token, e.g. "ApiKey")', value)
  return value
}
