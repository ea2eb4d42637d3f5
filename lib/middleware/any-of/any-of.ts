/**
 * anyOf(): accept a request when any one of several authentication schemes does (jwtAuth,
 * apiKey, basicAuth, or a scheme of your own such as "the session has a user"), and answer
 * one 401 listing every scheme's challenge in `WWW-Authenticate` when none has a credential.
 *
 * The rule: the schemes are asked in the order given, and the first one that finds its own
 * credential on the request decides, accepting or refusing. A credential presented and
 * refused is never rescued by a later scheme (a wrong password is not excused by a cookie
 * sent alongside), and a request carrying two credentials is decided by the first listed.
 * The layers given are not run: anyOf asks their schemes (core/auth-scheme.ts), so nothing
 * is answered twice.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { compileExemption } from '../../core/auth-exemption.js'
import { type AuthOutcome, type AuthScheme, schemeOf } from '../../core/auth-scheme.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { defineDefaults, expectBoolean, expectPlainObject, withDefaults } from '../../core/options.js'
import { type AmbiguousPaths, expectAmbiguousPaths, type PathPattern } from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import { isThenable } from '../../core/thenable.js'
import type { Middleware, RawHandler } from '../../core/types.js'

const NAME = 'anyOf'

/** Options for {@link anyOf}, given as its first argument. They apply to the group as a whole. */
export interface AnyOfOptions {
  /** Paths that need no credentials, matched on `matchablePath(req.url)`; an ambiguous target is never public. @default [] */
  publicPaths?: readonly PathPattern[]
  /** Match `publicPaths` case-sensitively. @default false */
  caseSensitivePaths?: boolean
  /** Ambiguous request targets: `'fail-closed'` requires credentials, `'refuse'` answers 400 `ambiguous_path`. @default 'fail-closed' */
  ambiguousPaths?: AmbiguousPaths
  /** Let requests without any credential through (a credential that is sent must still be accepted). @default false */
  optional?: boolean
}

/** Defaults of {@link anyOf}. */
export const anyOfDefaults = defineDefaults<AnyOfOptions>({
  publicPaths: Object.freeze([]),
  caseSensitivePaths: false,
  ambiguousPaths: 'fail-closed',
  optional: false,
})

/** What anyOf accepts as a scheme: an authenticating layer of the library, or an {@link AuthScheme} of your own. */
export type AnyOfScheme = Middleware | AuthScheme<unknown>

/**
 * Accept a request when any one of `schemes` accepts it; the first scheme that finds its
 * credential decides. Give the layers without their own `publicPaths`/`optional`: the
 * group's options (an optional first argument) decide for all.
 * @example
 * const auth = anyOf(jwtAuth({ jwksUrl }), apiKey({ hashes }), basicAuth({ users }))
 * const app = compose(cors(), auth)(handler)
 */
export function anyOf(...args: [AnyOfOptions, ...AnyOfScheme[]] | AnyOfScheme[]): Middleware {
  const first = args[0]
  const hasOptions = first !== undefined && typeof first !== 'function' && !isScheme(first)
  if (hasOptions) expectPlainObject(NAME, 'options', first, 'an options object, a scheme or an auth layer')
  const opts = withDefaults(NAME, anyOfDefaults, hasOptions ? (first as AnyOfOptions) : {})
  const schemes = compileSchemes((hasOptions ? args.slice(1) : args) as AnyOfScheme[])
  const optional = expectBoolean(NAME, 'optional', opts.optional)
  const isExempt = compileExemption(
    NAME,
    opts.publicPaths,
    expectBoolean(NAME, 'caseSensitivePaths', opts.caseSensitivePaths),
    expectAmbiguousPaths(NAME, opts.ambiguousPaths),
  )

  // RFC 9110 §11.6.1: one WWW-Authenticate may list several challenges, comma-separated;
  // the client picks the one it supports.
  const challenges = schemes.map((s) => s.challenge).filter((c): c is string => c !== undefined)
  const allChallenges = challenges.join(', ')
  const names = schemes.map((s) => s.name)
  const missing = new HttpError(401, 'Credentials are required', {
    code: 'missing_credentials',
    headers: allChallenges === '' ? {} : { 'www-authenticate': allChallenges },
    details: { schemes: names },
  })
  // A 401 refusal of one scheme keeps its own challenge (with its error parameters) first,
  // then offers the others: the client learns both what was wrong and what else would do.
  // Built once per scheme and refusal, never per request.
  const widened = new WeakMap<HttpError, HttpError>()
  function widen(index: number, refusal: HttpError): HttpError {
    if (refusal.status !== 401 || schemes.length === 1) return refusal
    let answer = widened.get(refusal)
    if (answer === undefined) {
      const own = refusal.headers['www-authenticate']
      const others = schemes.filter((_, i) => i !== index).map((s) => s.challenge)
      const header = [own, ...others].filter((c): c is string => c !== undefined).join(', ')
      answer = new HttpError(refusal.status, refusal.message, {
        code: refusal.code,
        expose: refusal.expose,
        headers: { ...refusal.headers, 'www-authenticate': header },
        details: refusal.details,
      })
      widened.set(refusal, answer)
    }
    return answer
  }

  /** Ask the schemes from `from` on; synchronous as long as they are. */
  function tryFrom(from: number, next: RawHandler, req: IncomingMessage, res: ServerResponse): unknown {
    for (let i = from; i < schemes.length; i++) {
      const outcome = schemes[i]!.check(req)
      if (isThenable(outcome)) {
        return (outcome as Promise<AuthOutcome<unknown>>).then((found) =>
          found === undefined ? tryFrom(i + 1, next, req, res) : decide(i, found, next, req, res),
        )
      }
      if (outcome !== undefined) return decide(i, outcome, next, req, res)
    }
    return optional ? next(req, res) : sendError(req, res, missing)
  }

  function decide(index: number, outcome: unknown, next: RawHandler, req: IncomingMessage, res: ServerResponse) {
    if (outcome instanceof HttpError) return sendError(req, res, widen(index, outcome))
    schemes[index]!.admit?.(req, outcome as never)
    return next(req, res)
  }

  return defineMiddleware(
    { name: NAME, detail: names.join(' | '), security: true },
    (next) =>
      function anyOfHandler(req, res) {
        const exempt = isExempt(req)
        if (exempt === true) return next(req, res)
        if (exempt !== false) return sendError(req, res, exempt)
        return tryFrom(0, next, req, res)
      },
  )
}

function isScheme(value: unknown): value is AuthScheme<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as AuthScheme).check === 'function'
}

function compileSchemes(given: readonly AnyOfScheme[]): AuthScheme[] {
  if (given.length === 0) {
    throw new ConfigError(
      NAME,
      'schemes',
      'at least one authentication layer or scheme',
      given,
      'List them: anyOf(jwtAuth({ … }), basicAuth({ … })).',
    )
  }
  return given.map((entry, i) => {
    if (typeof entry === 'function') {
      const attached = schemeOf(entry)
      if (attached === undefined) {
        throw new ConfigError(
          NAME,
          `schemes[${i}]`,
          'an authenticating layer (jwtAuth, apiKey, basicAuth) or an AuthScheme { name, check }',
          entry,
          'Other middleware cannot be asked without running it; wrap your check in an AuthScheme.',
        )
      }
      if (attached.info.exemptions.length > 0) {
        throw new ConfigError(
          NAME,
          `schemes[${i}]`,
          `a ${attached.scheme.name}() without ${attached.info.exemptions.join(', ')}`,
          `${attached.scheme.name}() with ${attached.info.exemptions.join(', ')}`,
          'Inside anyOf() they would not apply; give them to anyOf({ … }, …) as its first argument.',
        )
      }
      return attached.scheme
    }
    if (!isScheme(entry) || typeof (entry as AuthScheme).name !== 'string' || (entry as AuthScheme).name === '') {
      throw new ConfigError(NAME, `schemes[${i}]`, 'an authenticating layer or an AuthScheme { name, check }', entry)
    }
    const challenge = (entry as AuthScheme).challenge
    if (challenge !== undefined && (typeof challenge !== 'string' || /[\r\n]/.test(challenge) || challenge === '')) {
      throw new ConfigError(
        NAME,
        `schemes[${i}].challenge`,
        'a one-line challenge, e.g. \'Cookie realm="app"\'',
        challenge,
      )
    }
    return entry as AuthScheme
  })
}
