/**
 * The refusals of jwtAuth(): 401 and 403 answers carrying an RFC 6750 §3 challenge.
 * Every failure a client can cause maps to one of a fixed set of answers, built once per
 * middleware, so no client text ever reaches a header and no token can cause a 500.
 * @module
 */
import { errors } from 'jose'
import { HttpError } from '../../core/errors.js'

/** The refusals of one jwtAuth() instance. */
export interface Refusals {
  readonly missing: HttpError
  readonly malformed: HttpError
  readonly repeated: HttpError
  readonly tooLong: HttpError
  readonly signature: HttpError
  readonly algorithm: HttpError
  readonly unsupported: HttpError
  readonly noKey: HttpError
  readonly keysUnavailable: HttpError
  readonly expired: HttpError
  readonly notYetValid: HttpError
  readonly claims: HttpError
  readonly refused: HttpError
  readonly insufficientScope: HttpError
}

/** Build the refusals for `realm` (already validated) and the required `scopes`. */
export function buildRefusals(realm: string | undefined, scopes: readonly string[]): Refusals {
  const realmParam = realm === undefined ? '' : ` realm="${realm}"`
  const invalid = (code: string, description: string): HttpError =>
    new HttpError(401, description, {
      code,
      headers: {
        'www-authenticate': `Bearer${realmParam}${realmParam ? ',' : ''} error="invalid_token", error_description="${description}"`,
      },
    })
  const scopeParam = scopes.length > 0 ? `, scope="${scopes.join(' ')}"` : ''
  return Object.freeze({
    // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
    missing: new HttpError(401, 'An access token is required', {
      code: 'missing_token',
      headers: { 'www-authenticate': `Bearer${realmParam}` },
    }),
    malformed: invalid('invalid_token', 'The access token is malformed'),
    repeated: invalid('invalid_token', 'The request carries several Authorization headers'),
    tooLong: invalid('invalid_token', 'The access token is too long'),
    signature: invalid('invalid_token', 'The access token signature is invalid'),
    algorithm: invalid('invalid_token', 'The access token algorithm is not accepted'),
    unsupported: invalid('invalid_token', 'The access token uses an unsupported feature'),
    noKey: invalid('invalid_token', 'No known key matches the access token'),
    keysUnavailable: invalid('invalid_token', 'The signing keys are unavailable'),
    expired: invalid('token_expired', 'The access token expired'),
    notYetValid: invalid('invalid_token', 'The access token is not valid yet'),
    claims: invalid('invalid_token', 'The access token claims are not accepted'),
    refused: invalid('invalid_token', 'The access token was refused'),
    insufficientScope: new HttpError(403, 'The access token lacks the required scope', {
      code: 'insufficient_scope',
      headers: {
        'www-authenticate': `Bearer${realmParam}${realmParam ? ',' : ''} error="insufficient_scope", error_description="The access token lacks the required scope"${scopeParam}`,
      },
    }),
  })
}

/**
 * The refusal for an error thrown while verifying. Anything unexpected is an invalid
 * token: jose throws plain TypeErrors for some malformed inputs, and a client must never
 * turn those into a 500. With a remote key set, errors that are not jose's own come from
 * fetching the keys.
 */
export function refusalFor(err: unknown, refusals: Refusals, remote: boolean): HttpError {
  if (err instanceof errors.JWTExpired) return refusals.expired
  if (err instanceof errors.JWTClaimValidationFailed)
    return err.claim === 'nbf' ? refusals.notYetValid : refusals.claims
  if (err instanceof errors.JWSSignatureVerificationFailed) return refusals.signature
  if (err instanceof errors.JOSEAlgNotAllowed) return refusals.algorithm
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return refusals.noKey
  if (err instanceof errors.JWKSTimeout) return refusals.keysUnavailable
  if (err instanceof errors.JOSENotSupported) return refusals.unsupported
  if (
    remote &&
    (!(err instanceof errors.JOSEError) || err.code === 'ERR_JOSE_GENERIC' || err instanceof errors.JWKSInvalid)
  ) {
    return refusals.keysUnavailable
  }
  return refusals.malformed
}
