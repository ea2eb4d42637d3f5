/**
 * basicAuth(): HTTP Basic authentication (RFC 7617). Users are configured with scrypt
 * hashes (recommended), SHA-256 digests of random secrets, or plain passwords; or checked by
 * your `verify` function. Comparisons are constant-time and every configured user is
 * compared, so the answer's timing does not say which user names exist. Refusals are 401
 * with `WWW-Authenticate: Basic realm="…", charset="UTF-8"`. The accepted user name lands in
 * request state and its id in `userIdState`.
 * @module
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { compileExemption, exemptionsOf } from '../../core/auth-exemption.js'
import { attachScheme, type AuthOutcome, type AuthScheme, runScheme } from '../../core/auth-scheme.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { isQuotedStringSafe, singleHeader } from '../../core/headers.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectPlainObject,
  withDefaults,
  withNestedDefaults,
} from '../../core/options.js'
import { type AmbiguousPaths, expectAmbiguousPaths, type PathPattern } from '../../core/path.js'
import { reportError } from '../../core/report.js'
import { sendError } from '../../core/send-error.js'
import { userIdState } from '../../core/shared-state.js'
import { defineState } from '../../core/state.js'
import type { Middleware } from '../../core/types.js'
import { parseScrypt, type ScryptHash, scryptMatches, sha256, VerifiedCache } from './password.js'

const NAME = 'basicAuth'

/** A configured user: a name and exactly one of `scrypt`, `sha256` or `password`. */
export interface BasicAuthUser {
  /** The user name, as typed (compared after Unicode NFC normalisation). No `:`, no control characters. */
  readonly user: string
  /** The password's scrypt hash, from `hashPassword()`: `$scrypt$ln=15,r=8,p=1$…$…`. Recommended. */
  readonly scrypt?: string
  /** SHA-256 of the password, 64 hex digits: for random machine secrets only (128 bits or more), never for human passwords. */
  readonly sha256?: string
  /** The password itself: the configuration then holds a secret; see the docs before using it. */
  readonly password?: string
  /** The id set as the request's user id. @default the user name */
  readonly id?: string
}

/** Options for {@link basicAuth}. Give `users` or `verify`. */
export interface BasicAuthOptions {
  /** Accepted users with their stored passwords. */
  users?: readonly BasicAuthUser[]
  /**
   * Check a user name and password yourself (a database, LDAP); resolve true to accept. A
   * rejection is answered 503 `auth_unavailable` and reported. Compare in constant time.
   */
  verify?: (user: string, password: string, req: IncomingMessage) => boolean | Promise<boolean>
  /** `realm` of the challenge: what the browser's prompt names. Printable ASCII, no quotes. @default 'Restricted' */
  realm?: string
  /** Paths that need no credentials, matched on `matchablePath(req.url)`; an ambiguous target is never public. @default [] */
  publicPaths?: readonly PathPattern[]
  /** Match `publicPaths` case-sensitively. @default false */
  caseSensitivePaths?: boolean
  /** Ambiguous request targets: `'fail-closed'` requires credentials, `'refuse'` answers 400 `ambiguous_path`. @default 'fail-closed' */
  ambiguousPaths?: AmbiguousPaths
  /** Let requests without credentials through (credentials that are sent must still be valid). @default false */
  optional?: boolean
  /** Longest `Authorization` value read; longer ones are refused before decoding or hashing. @default 1024 */
  maxLength?: number
  /** Verified scrypt credentials remembered, so a client pays scrypt once, not per request; 0 disables. @default 1000 */
  cacheSize?: number
  /** Copy the user's id to `userIdState` (access logs, per-user limits). @default true */
  setUserId?: boolean
}

/** Defaults of {@link basicAuth}. */
export const basicAuthDefaults = defineDefaults<BasicAuthOptions, 'users' | 'verify'>({
  users: undefined,
  verify: undefined,
  realm: 'Restricted',
  publicPaths: Object.freeze([]),
  caseSensitivePaths: false,
  ambiguousPaths: 'fail-closed',
  optional: false,
  maxLength: 1024,
  cacheSize: 1000,
  setUserId: true,
})

const userState = defineState<string>('basicAuthUser', 'basicAuth()')

/** The user name basicAuth() accepted for `req`; throws, naming what to mount, when none was. */
export const getBasicAuthUser = (req: IncomingMessage): string => userState.get(req)
/** The user name basicAuth() accepted for `req`, or undefined (not mounted, optional without credentials, a public path). */
export const tryGetBasicAuthUser = (req: IncomingMessage): string | undefined => userState.tryGet(req)

/** A configured user, compiled. */
interface Account {
  readonly user: string
  readonly userDigest: Buffer
  readonly id: string
  readonly scrypt?: ScryptHash
  readonly digest?: Buffer
}

/** A user accepted by the check: the name and the id. */
interface Accepted {
  readonly user: string
  readonly id: string
}

const USER_ENTRY = defineDefaults<BasicAuthUser, 'user' | 'scrypt' | 'sha256' | 'password' | 'id'>({
  user: undefined,
  scrypt: undefined,
  sha256: undefined,
  password: undefined,
  id: undefined,
})
const HEX_DIGEST = /^[0-9a-f]{64}$/i
// RFC 7617 §2: credentials = "Basic" 1*SP token68, the user-pass base64-encoded.
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i
const SCHEME_ONLY = /^basic(?: *)$/i
const CONTROL = /[\x00-\x1f\x7f]/

/**
 * Require HTTP Basic credentials. Pitfalls: Basic sends the password with every request, so
 * serve it over https only; browsers show a login prompt for the challenge and keep the
 * credentials until closed (there is no logout).
 * @example
 * const auth = basicAuth({ users: [{ user: 'ops', scrypt: process.env.OPS_SCRYPT! }], realm: 'metrics' })
 * http.createServer(compose(auth)((req, res) => res.end(`hello ${getBasicAuthUser(req)}`)))
 */
export function basicAuth(options: BasicAuthOptions): Middleware {
  const opts = withDefaults(NAME, basicAuthDefaults, options)
  const realm = opts.realm
  if (typeof realm !== 'string' || realm === '' || !isQuotedStringSafe(realm)) {
    throw new ConfigError(NAME, 'realm', 'printable ASCII without quotes or backslashes', realm)
  }
  const optional = expectBoolean(NAME, 'optional', opts.optional)
  const setUserId = expectBoolean(NAME, 'setUserId', opts.setUserId)
  const maxLength = expectInteger(NAME, 'maxLength', opts.maxLength, 16, 65_536)
  const cache = new VerifiedCache(expectInteger(NAME, 'cacheSize', opts.cacheSize, 0, 1_000_000))
  const isExempt = compileExemption(
    NAME,
    opts.publicPaths,
    expectBoolean(NAME, 'caseSensitivePaths', opts.caseSensitivePaths),
    expectAmbiguousPaths(NAME, opts.ambiguousPaths),
  )
  const verify =
    opts.verify === undefined
      ? undefined
      : expectFunction<NonNullable<BasicAuthOptions['verify']>>(NAME, 'verify', opts.verify)
  if (verify !== undefined && opts.users !== undefined) {
    throw new ConfigError(
      NAME,
      'users',
      'unset when verify is given',
      opts.users,
      'Check listed users inside verify, or drop verify.',
    )
  }
  const accounts = compileUsers(opts.users)
  if (verify === undefined && accounts.length === 0) {
    throw new ConfigError(
      NAME,
      'users',
      'a non-empty list (or give verify)',
      opts.users,
      "Hash a password with hashPassword('…') and list { user, scrypt }.",
    )
  }
  // An unknown user is checked against a stand-in of the slowest kind configured, so its
  // answer takes as long as a known user's (a timing side channel would list user names).
  const standIn = accounts.find((a) => a.scrypt !== undefined) ?? accounts[0]

  const challenge = `Basic realm="${realm}", charset="UTF-8"`
  const headers = { 'www-authenticate': challenge }
  const missing = new HttpError(401, 'Credentials are required', { code: 'missing_credentials', headers })
  const invalid = new HttpError(401, 'The credentials are not valid', { code: 'invalid_credentials', headers })
  const unavailable = new HttpError(503, 'Credentials cannot be checked right now', {
    code: 'auth_unavailable',
    headers: { 'retry-after': '5' },
  })

  /** The user and password sent with `req`; undefined when none, `invalid` when what was sent cannot be one. */
  function readCredentials(req: IncomingMessage): [string, string] | HttpError | undefined {
    const header = singleHeader(req, 'authorization')
    if (header === undefined) return req.headers.authorization === undefined ? undefined : invalid // sent twice
    if (header.length > maxLength) return /^basic /i.test(header) ? invalid : undefined
    const match = BASIC.exec(header)
    if (match === null) return SCHEME_ONLY.test(header) || /^basic /i.test(header) ? invalid : undefined
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    // RFC 7617 §2: the user-id cannot contain a colon; neither part may contain control characters.
    if (colon < 0 || CONTROL.test(decoded) || decoded.includes('\uFFFD')) return invalid
    return [decoded.slice(0, colon).normalize('NFC'), decoded.slice(colon + 1).normalize('NFC')]
  }

  /** The account named `user`, compared against every configured name in constant time. */
  function findAccount(user: string): Account | undefined {
    const digest = sha256(user)
    let found: Account | undefined
    for (const account of accounts) {
      // No early exit: every name is compared whatever the outcome.
      if (timingSafeEqual(digest, account.userDigest)) found = account
    }
    return found
  }

  /** Check `password` against a scrypt account (or the stand-in, for an unknown user, whose answer is always no). */
  async function checkScrypt(
    account: Account,
    known: boolean,
    user: string,
    password: string,
  ): Promise<AuthOutcome<Accepted>> {
    const key = cache.keyOf(user, password)
    if (known && cache.get(key) !== undefined) return { user: account.user, id: account.id }
    const ok = await scryptMatches(password, account.scrypt!)
    if (!ok || !known) return invalid
    cache.set(key, 1)
    return { user: account.user, id: account.id }
  }

  async function checkVerify(
    check: NonNullable<typeof verify>,
    user: string,
    password: string,
    req: IncomingMessage,
  ): Promise<AuthOutcome<Accepted>> {
    let accepted: boolean
    try {
      accepted = (await check(user, password, req)) === true
    } catch (err) {
      // The user store failing says nothing about the password: a 503 to retry, not a 401.
      reportError(`${NAME}(): verify failed`, err)
      return unavailable
    }
    return accepted ? { user, id: user } : invalid
  }

  const scheme: AuthScheme<Accepted> = {
    name: NAME,
    challenge,
    check(req) {
      const credentials = readCredentials(req)
      if (credentials === undefined || credentials instanceof HttpError) return credentials
      const [user, password] = credentials
      if (verify !== undefined) return checkVerify(verify, user, password, req)
      const account = findAccount(user)
      const target = account ?? standIn!
      if (target.scrypt !== undefined) return checkScrypt(target, account !== undefined, user, password)
      const matches = timingSafeEqual(sha256(password), target.digest!)
      return matches && account !== undefined ? { user: account.user, id: account.id } : invalid
    },
    admit(req, accepted) {
      userState.set(req, accepted.user)
      if (setUserId) userIdState.set(req, accepted.id)
    },
  }

  const layer = defineMiddleware(
    {
      name: NAME,
      detail: `realm ${realm}, ${verify ? 'verify' : `${accounts.length} users`}${optional ? ', optional' : ''}`,
      security: true,
    },
    (next) =>
      function basicAuthHandler(req, res) {
        const exempt = isExempt(req)
        if (exempt === true) return next(req, res)
        if (exempt !== false) return sendError(req, res, exempt)
        return runScheme(scheme, missing, optional, next, req, res)
      },
  )
  return attachScheme(layer, scheme, { exemptions: exemptionsOf(opts.publicPaths, optional, opts.ambiguousPaths) })
}

function compileUsers(users: readonly BasicAuthUser[] | undefined): Account[] {
  if (users === undefined) return []
  if (!Array.isArray(users))
    throw new ConfigError(NAME, 'users', 'an array of { user, scrypt | sha256 | password }', users)
  const accounts: Account[] = []
  users.forEach((entry, i) => {
    const path = `users[${i}]`
    const expected = 'an object { user, scrypt | sha256 | password, id? }'
    expectPlainObject(NAME, path, entry, expected)
    const u = withNestedDefaults(NAME, path, USER_ENTRY, entry, expected)
    if (typeof u.user !== 'string' || u.user === '' || u.user.includes(':') || CONTROL.test(u.user)) {
      throw new ConfigError(
        NAME,
        `${path}.user`,
        'a non-empty name without ":" or control characters',
        u.user,
        'RFC 7617: the user-id cannot contain a colon.',
      )
    }
    const user = u.user.normalize('NFC')
    if (accounts.some((a) => a.user === user)) {
      throw new ConfigError(NAME, `${path}.user`, 'a name listed once', user, 'Remove the repeat.')
    }
    const given = (['scrypt', 'sha256', 'password'] as const).filter((k) => u[k] !== undefined)
    if (given.length !== 1) {
      throw new ConfigError(
        NAME,
        `${path}.scrypt`,
        'set, or else exactly one of sha256 and password',
        given.length === 0 ? undefined : `${given.join(' and ')} together`,
        "Prefer scrypt: await hashPassword('…') prints one.",
      )
    }
    const id = u.id ?? user
    if (typeof id !== 'string' || id === '' || CONTROL.test(id)) {
      throw new ConfigError(NAME, `${path}.id`, 'a non-empty string without control characters', id)
    }
    const base = { user, id, userDigest: sha256(user) }
    if (u.scrypt !== undefined) {
      const parsed = typeof u.scrypt === 'string' ? parseScrypt(u.scrypt) : undefined
      if (parsed === undefined) {
        throw new ConfigError(
          NAME,
          `${path}.scrypt`,
          'a hash from hashPassword(): $scrypt$ln=14..20,r=…,p=…$salt$hash',
          u.scrypt,
          "Generate one: await hashPassword('…').",
        )
      }
      accounts.push({ ...base, scrypt: parsed })
    } else if (u.sha256 !== undefined) {
      if (typeof u.sha256 !== 'string' || !HEX_DIGEST.test(u.sha256)) {
        throw new ConfigError(
          NAME,
          `${path}.sha256`,
          'a SHA-256 digest as 64 hex digits',
          u.sha256,
          "Compute one: crypto.createHash('sha256').update(secret).digest('hex'); use scrypt for human passwords.",
        )
      }
      accounts.push({ ...base, digest: Buffer.from(u.sha256, 'hex') })
    } else {
      if (typeof u.password !== 'string' || u.password === '') {
        throw new ConfigError(NAME, `${path}.password`, 'a non-empty string', u.password)
      }
      accounts.push({ ...base, digest: sha256(u.password.normalize('NFC')) })
    }
  })
  return accounts
}
