/**
 * The identity layers' cost on a protected 1 KB JSON route: jwtAuth with and without its
 * verification cache (HS256, the cheapest signature, and EdDSA, a public-key one), then
 * apiKey and a signed-cookie session. Every request carries valid credentials, so each
 * scenario does its full work; the cache scenarios measure a cache hit (one token sent
 * over and over), the others one signature verification per request.
 *
 * Credentials are made at module load, identically in the load generator and in each
 * server process: fixed secrets, a fixed Ed25519 seed (Ed25519 signatures are
 * deterministic), fixed claims expiring in 2100.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { RequestListener } from 'node:http'
import { SignJWT } from 'jose'
import { apiKey, basicAuth, compose, hashPassword, jwtAuth, session, type Middleware } from '../../lib/index.js'
import { createCookieCodec } from '../../lib/middleware/session/cookie-codec.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'

const SECRET = 'benchmark-secret-of-at-least-32-bytes!!'
const API_KEY = 'benchmark-api-key-0123456789abcdef'
// PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410 §7).
const edPrivate = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
  format: 'der',
  type: 'pkcs8',
})
const edPublic = createPublicKey(edPrivate)
const claims = { sub: 'user-1', scope: 'orders:read', aud: 'api://bench', iss: 'https://issuer.bench/' }
const sign = (alg: string, key: Parameters<SignJWT['sign']>[0]) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt(1_700_000_000)
    .setExpirationTime(4_102_444_800)
    .sign(key)
const hsToken = await sign('HS256', Buffer.from(SECRET))
const edToken = await sign('EdDSA', edPrivate)
const sessionCookie = `session=${createCookieCodec('session', 'session', [SECRET], false).seal(`${Date.now()}|${Date.now()}|{"userId":"user-1","cart":[1,2,3]}`)}`

// Basic credentials: the password is fixed, its scrypt hash made at load by each process
// (a fresh salt each time, which verification does not care about).
const BASIC_PASSWORD = 'benchmark basic password'
const basicHeader = `Basic ${Buffer.from(`bench:${BASIC_PASSWORD}`).toString('base64')}`
const basicScrypt = await hashPassword(BASIC_PASSWORD)
const otherUsers = Array.from({ length: 9 }, (_, i) => ({ user: `user-${i}`, password: `other-password-${i}` }))

const verified = { issuer: claims.iss, audience: claims.aud, scopes: ['orders:read'] }
const scenario = (description: string, layers: () => Middleware[]): Scenario => ({
  description,
  start: () => listen(compose(...layers())(routes) as RequestListener),
})

export const scenarios: Record<string, Scenario> = {
  'id-jwt-hs256-nocache': scenario('jwtAuth, HS256, cache off: one HMAC verification per request', () => [
    jwtAuth({ secret: SECRET, ...verified, cacheSize: 0 }),
  ]),
  'id-jwt-hs256-cache': scenario('jwtAuth, HS256, verification cache on (every request a hit)', () => [
    jwtAuth({ secret: SECRET, ...verified }),
  ]),
  'id-jwt-eddsa-nocache': scenario('jwtAuth, EdDSA public key, cache off: one Ed25519 verification per request', () => [
    jwtAuth({ publicKey: edPublic, algorithms: ['EdDSA'], ...verified, cacheSize: 0 }),
  ]),
  'id-jwt-eddsa-cache': scenario('jwtAuth, EdDSA public key, verification cache on', () => [
    jwtAuth({ publicKey: edPublic, algorithms: ['EdDSA'], ...verified }),
  ]),
  'id-apiKey': scenario('apiKey, 10 listed keys, constant-time digest comparison', () => [
    apiKey({ keys: [API_KEY, ...Array.from({ length: 9 }, (_, i) => `other-benchmark-key-${i}-0123456789`)] }),
  ]),
  'id-basicAuth-password': scenario('basicAuth, 10 users with plain passwords: SHA-256 digests, constant time', () => [
    basicAuth({ users: [{ user: 'bench', password: BASIC_PASSWORD }, ...otherUsers] }),
  ]),
  'id-basicAuth-scrypt': scenario(
    'basicAuth, 10 users, the client a scrypt (ln=15) user: verified once, then from the cache of verified credentials',
    () => [basicAuth({ users: [{ user: 'bench', scrypt: basicScrypt }, ...otherUsers] })],
  ),
  'id-session-cookie': scenario('session, signed cookie, read on every request, unchanged (no Set-Cookie)', () => [
    session({ secrets: [SECRET], idleTimeoutSeconds: 0 }),
  ]),
}

export const comparisons: Comparison[] = [
  {
    name: 'identity: jwtAuth HS256 on a protected 1 KB JSON route, with and without the verification cache',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'id-jwt-hs256-nocache', 'id-jwt-hs256-cache'],
    headers: { authorization: `Bearer ${hsToken}` },
  },
  {
    name: 'identity: jwtAuth EdDSA on a protected 1 KB JSON route, with and without the verification cache',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'id-jwt-eddsa-nocache', 'id-jwt-eddsa-cache'],
    headers: { authorization: `Bearer ${edToken}` },
  },
  {
    name: 'identity: apiKey and a signed-cookie session on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'id-apiKey', 'id-session-cookie'],
    headers: { 'x-api-key': API_KEY, cookie: sessionCookie },
  },
  {
    name: 'identity: basicAuth on a 1 KB JSON route, plain-password users and a scrypt user',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'id-basicAuth-password', 'id-basicAuth-scrypt'],
    headers: { authorization: basicHeader },
    expect: { status: 200 },
  },
]
