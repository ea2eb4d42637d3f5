import t from 'tap'
import { errors } from 'jose'
import { isQuotedStringSafe } from '../../../lib/core/headers.js'
import { buildRefusals, refusalFor } from '../../../lib/middleware/jwt-auth/errors.js'

const refusals = buildRefusals('api', ['read'])

t.test('refusalFor(): maps each jose error to its refusal', async (t) => {
  const cases: Array<[unknown, keyof typeof refusals]> = [
    [new errors.JWTExpired('x', {}), 'expired'],
    [new errors.JWTClaimValidationFailed('x', {}, 'nbf'), 'notYetValid'],
    [new errors.JWTClaimValidationFailed('x', {}, 'iss'), 'claims'],
    [new errors.JWSSignatureVerificationFailed(), 'signature'],
    [new errors.JOSEAlgNotAllowed('x'), 'algorithm'],
    [new errors.JWKSNoMatchingKey(), 'noKey'],
    [new errors.JWKSMultipleMatchingKeys(), 'noKey'],
    [new errors.JWKSTimeout(), 'keysUnavailable'],
    [new errors.JOSENotSupported('x'), 'unsupported'],
    [new errors.JWSInvalid('x'), 'malformed'],
    [new errors.JWTInvalid('x'), 'malformed'],
    [new TypeError('odd input'), 'malformed'],
    ['not even an error', 'malformed'],
  ]
  for (const [err, name] of cases)
    t.equal(refusalFor(err, refusals, false), refusals[name], `${String((err as Error).name ?? err)} → ${name}`)
})

t.test('refusalFor(): with a remote key set, fetch failures mean the keys are unavailable', async (t) => {
  t.equal(refusalFor(new TypeError('fetch failed'), refusals, true), refusals.keysUnavailable)
  t.equal(refusalFor(new errors.JOSEError('Expected 200 OK'), refusals, true), refusals.keysUnavailable)
  t.equal(refusalFor(new errors.JWKSInvalid('bad set'), refusals, true), refusals.keysUnavailable)
  t.equal(refusalFor(new errors.JWSInvalid('x'), refusals, true), refusals.malformed)
})

t.test('buildRefusals(): statuses, codes and RFC 6750 challenges', async (t) => {
  t.match(refusals.missing, {
    status: 401,
    code: 'missing_token',
    headers: { 'www-authenticate': 'Bearer realm="api"' },
  })
  t.match(refusals.expired, {
    status: 401,
    code: 'token_expired',
    headers: {
      'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
    },
  })
  t.match(refusals.insufficientScope, { status: 403, code: 'insufficient_scope' })
  t.match(refusals.insufficientScope.headers['www-authenticate'], /, scope="read"$/)
  const bare = buildRefusals(undefined, [])
  t.equal(bare.missing.headers['www-authenticate'], 'Bearer')
  t.equal(
    bare.signature.headers['www-authenticate'],
    'Bearer error="invalid_token", error_description="The access token signature is invalid"',
  )
  t.notMatch(bare.insufficientScope.headers['www-authenticate'], /scope=/)
  for (const refusal of Object.values(refusals)) {
    t.ok(isQuotedStringSafe(refusal.message), refusal.message)
  }
})
