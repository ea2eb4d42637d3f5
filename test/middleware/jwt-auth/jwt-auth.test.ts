import {
  createHmac,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  webcrypto,
  type KeyObject,
} from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import { CompactSign } from 'jose'
import t from 'tap'
import { compose, cors, getJwtClaims, jwtAuth, tryGetJwtClaims, type RawHandler } from '../../../lib/index.js'
import { userIdState } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { rawGet, rawRequest } from '../../helpers/raw.js'
import { listen, serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

const NOW = 1_800_000_000_000
const NOW_S = NOW / 1000
const now = (): number => NOW
const ISS = 'https://issuer.test/'
const AUD = 'api://orders'
const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 })
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
const publicDer = rsa.publicKey.export({ type: 'spki', format: 'der' })
const publicJwkText = JSON.stringify(rsa.publicKey.export({ format: 'jwk' }))

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
type Signer = (input: string) => Buffer
const rs =
  (key: KeyObject, bits = 256): Signer =>
  (input) =>
    cryptoSign(`sha${bits}`, Buffer.from(input), key)
const es256: Signer = (input) =>
  cryptoSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
const hs =
  (secret: string | Buffer, bits = 256): Signer =>
  (input) =>
    createHmac(`sha${bits}`, secret).update(input).digest()
const none: Signer = () => Buffer.alloc(0)

/** A compact JWS with exactly these header and payload texts, signed by `signer`. */
function forge(header: unknown, payload: unknown, signer: Signer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${signer(input).toString('base64url')}`
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: 'user-1',
  iss: ISS,
  aud: AUD,
  iat: NOW_S - 10,
  exp: NOW_S + 600,
  ...extra,
})
const rsToken = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string =>
  forge({ alg: 'RS256', typ: 'JWT', ...header }, claims(extra), rs(rsa.privateKey))
const hsToken = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string =>
  forge({ alg: 'HS256', typ: 'JWT', ...header }, claims(extra), hs(SECRET))

interface Answer {
  status: number
  body: Record<string, unknown>
  challenge: string | null
}

async function ask(
  url: string,
  token: string | undefined,
  path = '/',
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url + path, {
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
  })
  const text = await res.text()
  let body: Record<string, unknown>
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    body = { text }
  }
  return { status: res.status, body, challenge: res.headers.get('www-authenticate') }
}

const echoClaims: RawHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ claims: tryGetJwtClaims(req) ?? null, user: userIdState.tryGet(req) ?? null }))
}

const rsAuth = () =>
  jwtAuth({
    publicKey: publicPem,
    algorithms: ['RS256'],
    issuer: ISS,
    audience: AUD,
    now,
    maxTokenAgeSeconds: 3600,
    requiredClaims: ['sub'],
  })

t.test('jwtAuth(): a valid RS256 token passes; claims and the user id are in state', async (t) => {
  const url = await serve(t, compose(rsAuth())(echoClaims))
  const res = await ask(url, rsToken())
  t.equal(res.status, 200)
  t.same(res.body, { claims: claims(), user: 'user-1' })
})

t.test('jwtAuth(): the Bearer scheme is case-insensitive and takes several spaces', async (t) => {
  const url = await serve(t, compose(rsAuth())(echoClaims))
  for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
    t.equal((await ask(url, undefined, '/', { authorization: `${scheme} ${rsToken()}` })).status, 200, scheme)
  }
  t.equal((await ask(url, undefined, '/', { authorization: `Bearer   ${rsToken()}` })).status, 200)
})

t.test('jwtAuth(): typed claims through the middleware and getJwtClaims', async (t) => {
  interface Claims {
    sub: string
    tenant: string
    exp: number
  }
  const auth = jwtAuth<Claims>({ secret: SECRET, now })
  const url = await serve(
    t,
    compose(auth)((req, res) => {
      const tenant: string = auth.get(req).tenant
      const same: Claims = getJwtClaims<Claims>(req)
      res.end(`${tenant} ${same.sub} ${Object.isFrozen(same)} ${auth.tryGet(req) === same}`)
    }),
  )
  const res = await fetch(url, { headers: { authorization: `Bearer ${hsToken({ tenant: 'acme' })}` } })
  t.equal(await res.text(), 'acme user-1 true true')
})

t.test('jwtAuth(): the negative corpus: every token is a 401 with the right code, none is a 500', async (t) => {
  // Headers up to 64 KB, so the 16 KB token reaches jwtAuth instead of Node's own 431.
  const app = compose(rsAuth())(echoClaims)
  const { url } = await listen(
    t,
    createServer({ maxHeaderSize: 65_536 }, (req, res) => {
      Promise.resolve(app(req, res)).catch(() => {
        res.statusCode = 599
        res.end()
      })
    }),
  )
  const expired = 'token_expired'
  const invalid = 'invalid_token'
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' })
  const valid = rsToken()
  const [vh, vp, vs] = valid.split('.') as [string, string, string]
  const other = rsToken({ sub: 'user-2' })
  const corpus: Array<[string, string, string]> = [
    // alg none, every casing, with and without a signature part
    ['alg none, empty signature', forge({ alg: 'none' }, claims(), none), invalid],
    ['alg None', forge({ alg: 'None' }, claims(), none), invalid],
    ['alg NONE', forge({ alg: 'NONE' }, claims(), none), invalid],
    ['alg nOnE', forge({ alg: 'nOnE' }, claims(), none), invalid],
    ['alg none with a signature', `${b64({ alg: 'none' })}.${b64(claims())}.${vs}`, invalid],
    ['alg none, typ JWT, no dot after payload', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}`, invalid],
    // RS/HS confusion: the RSA public key used as an HMAC secret
    ['HS256 keyed with the public key PEM', forge({ alg: 'HS256' }, claims(), hs(publicPem)), invalid],
    [
      'HS256 keyed with the PEM without its last newline',
      forge({ alg: 'HS256' }, claims(), hs(publicPem.trim())),
      invalid,
    ],
    ['HS384 keyed with the public key PEM', forge({ alg: 'HS384' }, claims(), hs(publicPem, 384)), invalid],
    ['HS512 keyed with the public key PEM', forge({ alg: 'HS512' }, claims(), hs(publicPem, 512)), invalid],
    ['HS256 keyed with the public key DER', forge({ alg: 'HS256' }, claims(), hs(publicDer)), invalid],
    ['HS256 keyed with the public JWK text', forge({ alg: 'HS256' }, claims(), hs(publicJwkText)), invalid],
    // wrong keys and algorithms
    ['RS256 by another key', forge({ alg: 'RS256' }, claims(), rs(otherRsa.privateKey)), invalid],
    [
      'RS384 by the right key (algorithm not allowed)',
      forge({ alg: 'RS384' }, claims(), rs(rsa.privateKey, 384)),
      invalid,
    ],
    ['PS256 header on an RS256 signature', forge({ alg: 'PS256' }, claims(), rs(rsa.privateKey)), invalid],
    ['ES256 by an EC key', forge({ alg: 'ES256' }, claims(), es256), invalid],
    ['header alg says RS256, signature by HS256', forge({ alg: 'RS256' }, claims(), hs(SECRET)), invalid],
    [
      'wrong kid, signed by another key',
      forge({ alg: 'RS256', kid: 'no-such-key' }, claims(), rs(otherRsa.privateKey)),
      invalid,
    ],
    [
      'kid path traversal',
      forge({ alg: 'RS256', kid: '../../../../dev/null' }, claims(), rs(otherRsa.privateKey)),
      invalid,
    ],
    // keys offered by the token itself
    [
      'jku to an attacker key set',
      forge({ alg: 'RS256', jku: 'https://attacker.example/jwks.json', kid: 'a' }, claims(), rs(attacker.privateKey)),
      invalid,
    ],
    [
      'x5u to an attacker certificate',
      forge({ alg: 'RS256', x5u: 'https://attacker.example/cert.pem' }, claims(), rs(attacker.privateKey)),
      invalid,
    ],
    [
      'embedded jwk of the attacker',
      forge({ alg: 'RS256', jwk: attackerJwk }, claims(), rs(attacker.privateKey)),
      invalid,
    ],
    ['embedded x5c', forge({ alg: 'RS256', x5c: ['MIIB'] }, claims(), rs(attacker.privateKey)), invalid],
    // crit
    [
      'crit with an unknown extension',
      forge({ alg: 'RS256', crit: ['x-unknown'], 'x-unknown': 1 }, claims(), rs(rsa.privateKey)),
      invalid,
    ],
    ['crit naming a registered header', forge({ alg: 'RS256', crit: ['exp'] }, claims(), rs(rsa.privateKey)), invalid],
    [
      'crit b64 false (unencoded payload)',
      forge({ alg: 'RS256', crit: ['b64'], b64: false }, claims(), rs(rsa.privateKey)),
      invalid,
    ],
    ['crit not an array', forge({ alg: 'RS256', crit: 'x' }, claims(), rs(rsa.privateKey)), invalid],
    // time
    ['expired', rsToken({ exp: NOW_S - 60 }), expired],
    ['expired just beyond the tolerance', rsToken({ exp: NOW_S - 5 }), expired],
    ['too old (iat beyond maxTokenAgeSeconds)', rsToken({ iat: NOW_S - 7200 }), expired],
    ['not yet valid', rsToken({ nbf: NOW_S + 60 }), invalid],
    ['exp not a number', rsToken({ exp: String(NOW_S + 600) }), invalid],
    ['nbf not a number', rsToken({ nbf: 'yesterday' }), invalid],
    ['iat in the future beyond the tolerance', rsToken({ iat: NOW_S + 120 }), invalid],
    // claims
    ['wrong issuer', rsToken({ iss: 'https://evil.test/' }), invalid],
    ['issuer differing in case', rsToken({ iss: ISS.toUpperCase() }), invalid],
    ['wrong audience', rsToken({ aud: 'api://billing' }), invalid],
    ['audience array without ours', rsToken({ aud: ['a', 'b'] }), invalid],
    ['missing audience', rsToken({ aud: undefined }), invalid],
    ['missing exp', rsToken({ exp: undefined }), invalid],
    ['missing sub (required)', rsToken({ sub: undefined }), invalid],
    ['missing iat (needed for max age)', rsToken({ iat: undefined }), invalid],
    // structure
    ['payload modified after signing', `${vh}.${b64(claims({ sub: 'admin' }))}.${vs}`, invalid],
    ['signature of another token', `${vh}.${vp}.${other.split('.')[2]}`, invalid],
    ['signature truncated', `${vh}.${vp}.${vs.slice(0, -10)}`, invalid],
    ['signature emptied', `${vh}.${vp}.`, invalid],
    ['malformed base64 in the header', `${vh.slice(0, 5)}!${vh.slice(6)}.${vp}.${vs}`, invalid],
    ['base64 padding', `${vh}==.${vp}.${vs}`, invalid],
    ['header not JSON', `${b64('{alg:RS256')}.${vp}.${vs}`, invalid],
    ['header a JSON array', forge(['RS256'], claims(), rs(rsa.privateKey)), invalid],
    ['header without alg', forge({ typ: 'JWT' }, claims(), rs(rsa.privateKey)), invalid],
    ['alg a number', forge({ alg: 256 }, claims(), rs(rsa.privateKey)), invalid],
    ['payload not JSON', forge({ alg: 'RS256' }, 'not json', rs(rsa.privateKey)), invalid],
    ['payload a JSON array', forge({ alg: 'RS256' }, [1, 2], rs(rsa.privateKey)), invalid],
    ['payload null', forge({ alg: 'RS256' }, 'null', rs(rsa.privateKey)), invalid],
    ['three dots', `${vh}.${vp}.${vs}.`, invalid],
    ['four parts', `${vh}.${vp}.${vs}.${vs}`, invalid],
    ['only dots', '...', invalid],
    ['JWE compact form (five parts)', 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aaaa.bbbb.cccc', invalid],
    ['one part', vh, invalid],
    ['16 KB token', `${vh}.${'A'.repeat(16 * 1024)}.${vs}`, invalid],
    ['non-ASCII', `${vh}.${vp}.é${vs}`, invalid],
    ['a comma-joined pair', `${valid},${valid}`, invalid],
  ]
  t.ok(corpus.length >= 40, `${corpus.length} tokens`)
  for (const [name, token, code] of corpus) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch((err: Error) => err)
    if (res instanceof Error) {
      // fetch refuses header values it cannot send (non-Latin-1); send those raw.
      const raw = await httpRequest(url, {
        headers: { authorization: Buffer.from(`Bearer ${token}`).toString('latin1') },
      })
      t.equal(raw.status, 401, `${name}: status`)
      continue
    }
    const body = JSON.parse(await res.text()) as Record<string, unknown>
    t.equal(res.status, 401, `${name}: status`)
    t.equal(body.code, code, `${name}: code`)
    t.match(
      res.headers.get('www-authenticate'),
      /^Bearer error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/,
      `${name}: challenge`,
    )
  }
})

t.test('jwtAuth(): NumericDates that are not finite (JSON 1e400 is Infinity) are refused, signed or not', async (t) => {
  // jose refuses to sign Infinity, and JSON.stringify writes it as null: the payload is raw
  // JSON text, signed as bytes, exactly what an issuer bug or a hostile issuer could send.
  const raw = (json: string) => new TextEncoder().encode(json)
  const base = `"sub":"user-1","iss":"${ISS}","aud":"${AUD}"`
  const signHs = (json: string) =>
    new CompactSign(raw(json)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(SECRET))
  const signRs = (json: string) =>
    new CompactSign(raw(json)).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(rsa.privateKey)
  const hsUrl = await serve(t, compose(jwtAuth({ secret: SECRET, audience: AUD, now }))(echoClaims))
  const lenientUrl = await serve(
    t,
    compose(jwtAuth({ secret: SECRET, audience: AUD, now, requireExpiry: false }))(echoClaims),
  )
  const rsUrl = await serve(t, compose(rsAuth())(echoClaims))
  const fine = `{${base},"iat":${NOW_S - 10},"exp":${NOW_S + 600}}`
  t.equal((await ask(hsUrl, await signHs(fine))).status, 200, 'the same construction with finite dates passes')
  t.equal((await ask(rsUrl, await signRs(fine))).status, 200, 'RS256: the same construction with finite dates passes')
  const cases: Array<[string, string, string]> = [
    ['exp 1e400', `{${base},"iat":${NOW_S - 10},"exp":1e400}`, hsUrl],
    ['exp 1e400, repeated (never cached)', `{${base},"iat":${NOW_S - 10},"exp":1e400}`, hsUrl],
    ['exp 1e400 with requireExpiry false', `{${base},"exp":1e400}`, lenientUrl],
    ['nbf -1e400', `{${base},"nbf":-1e400,"exp":${NOW_S + 600}}`, hsUrl],
    ['iat 1e400 (no maxTokenAgeSeconds)', `{${base},"iat":1e400,"exp":${NOW_S + 600}}`, hsUrl],
    ['iat -1e400 (no maxTokenAgeSeconds)', `{${base},"iat":-1e400,"exp":${NOW_S + 600}}`, hsUrl],
    ['iat -1e400 with requireExpiry false', `{${base},"iat":-1e400}`, lenientUrl],
    ['RS256 exp 1e400', `{${base},"iat":${NOW_S - 10},"exp":1e400}`, rsUrl],
    ['RS256 nbf -1e400', `{${base},"iat":${NOW_S - 10},"nbf":-1e400,"exp":${NOW_S + 600}}`, rsUrl],
  ]
  for (const [name, json, url] of cases) {
    const token = url === rsUrl ? await signRs(json) : await signHs(json)
    const res = await ask(url, token)
    t.equal(res.status, 401, `${name}: status`)
    t.equal(res.body.code, 'invalid_token', `${name}: code`)
    t.equal(
      res.challenge,
      'Bearer error="invalid_token", error_description="The access token claims are not accepted"',
      `${name}: challenge`,
    )
  }
})

t.test('jwtAuth(): Authorization forms that are refused', async (t) => {
  const url = await serve(t, compose(rsAuth())(echoClaims))
  const missing = await ask(url, undefined)
  t.equal(missing.status, 401)
  t.equal(missing.body.code, 'missing_token')
  t.equal(missing.challenge, 'Bearer', 'RFC 6750 §3.1: no error code without credentials')
  const basic = await ask(url, undefined, '/', { authorization: 'Basic dXNlcjpwYXNz' })
  t.equal(basic.body.code, 'missing_token', 'another scheme carries no bearer token')
  for (const value of ['Bearer', 'Bearer a b', `Bearer ${rsToken()} extra`, 'Bearer a,b', 'Bearertoken']) {
    const res = await ask(url, undefined, '/', { authorization: value })
    t.equal(res.status, 401, value)
    t.equal(res.body.code, value === 'Bearertoken' ? 'missing_token' : 'invalid_token', value)
  }
  const repeated = await httpRequest(url, {
    headers: { authorization: [`Bearer ${rsToken()}`, `Bearer ${rsToken()}`] },
  })
  t.equal(repeated.status, 401, 'two Authorization lines')
  t.match(repeated.text, /several Authorization headers/)
})

t.test('jwtAuth(): a refusal answers HEAD without a body and keeps the JSON shape for GET', async (t) => {
  const url = await serve(t, compose(rsAuth())(echoClaims))
  const head = await httpRequest(url, { method: 'HEAD' })
  t.equal(head.status, 401)
  t.equal(head.body.length, 0)
  t.equal(head.headers['www-authenticate'], 'Bearer')
  const get = await httpRequest(url, { headers: { accept: 'text/plain' } })
  t.equal(get.text, '401 missing_token: An access token is required\n')
})

t.test('jwtAuth(): realm and scopes in the challenge; 403 insufficient_scope', async (t) => {
  const auth = jwtAuth({ secret: SECRET, now, realm: 'orders', scopes: ['orders:read', 'orders:write'] })
  const url = await serve(t, compose(auth)(echoClaims))
  const missing = await ask(url, undefined)
  t.equal(missing.challenge, 'Bearer realm="orders"')
  const lacking = await ask(url, hsToken({ scope: 'orders:read profile' }))
  t.equal(lacking.status, 403)
  t.equal(lacking.body.code, 'insufficient_scope')
  t.equal(
    lacking.challenge,
    'Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:read orders:write"',
  )
  t.equal((await ask(url, hsToken({ scope: 'profile orders:write orders:read' }))).status, 200)
  t.equal((await ask(url, hsToken({ scope: ['orders:read', 'orders:write'] }))).status, 200, 'an array of scopes')
  t.equal((await ask(url, hsToken({ scope: 42 }))).status, 403, 'a scope claim of the wrong type grants nothing')
  const expired = await ask(url, hsToken({ exp: NOW_S - 100 }))
  t.equal(
    expired.challenge,
    'Bearer realm="orders", error="invalid_token", error_description="The access token expired"',
  )
  const scp = jwtAuth({ secret: SECRET, now, scopes: ['read'], scopeClaim: 'scp' })
  const url2 = await serve(t, compose(scp)(echoClaims))
  t.equal((await ask(url2, hsToken({ scp: ['read'] }))).status, 200)
  t.equal((await ask(url2, hsToken({ scope: 'read' }))).status, 403)
})

t.test('jwtAuth(): token from a cookie, the header winning over it', async (t) => {
  const url = await serve(t, compose(jwtAuth({ secret: SECRET, now, cookie: 'access_token' }))(echoClaims))
  const fromCookie = await ask(url, undefined, '/', {
    cookie: `theme=dark; access_token=${hsToken({ sub: 'cookie-user' })}`,
  })
  t.equal(fromCookie.status, 200)
  t.equal(fromCookie.body.user, 'cookie-user')
  const both = await ask(url, hsToken({ sub: 'header-user' }), '/', {
    cookie: `access_token=${hsToken({ sub: 'cookie-user' })}`,
  })
  t.equal(both.body.user, 'header-user')
  t.equal((await ask(url, undefined, '/', { cookie: 'access_token=' })).body.code, 'missing_token')
  t.equal((await ask(url, undefined, '/', { cookie: 'access_token=garbage' })).body.code, 'invalid_token')
})

t.test('jwtAuth(): getToken reads the token anywhere', async (t) => {
  const auth = jwtAuth({
    secret: SECRET,
    now,
    getToken: (req) => (req.headers['x-token'] as string | undefined) ?? null,
  })
  const url = await serve(t, compose(auth)(echoClaims))
  t.equal((await ask(url, undefined, '/', { 'x-token': hsToken() })).status, 200)
  t.equal((await ask(url, hsToken())).body.code, 'missing_token', 'the Authorization header is no longer read')
  const odd = jwtAuth({ secret: SECRET, now, getToken: () => 42 as unknown as string })
  t.equal(
    (await ask(await serve(t, compose(odd)(echoClaims)), undefined)).body.code,
    'missing_token',
    'a non-string is no token',
  )
})

t.test(
  'jwtAuth(): public paths match the matchable path, so spellings of a protected path do not slip through',
  async (t) => {
    const auth = jwtAuth({ secret: SECRET, now, publicPaths: ['/health', '/public/*', /^\/docs\/v\d+$/] })
    const url = await serve(t, compose(auth)(echoClaims))
    for (const path of ['/health', '/HEALTH', '/health/', '/public', '/public/a/b', '/docs/v2', '/health?x=1']) {
      t.equal((await httpRequest(url + path)).status, 200, `public: ${path}`)
    }
    for (const path of [
      '/admin',
      '/%61dmin',
      '//admin',
      '/public/../admin',
      '/public/%2e%2e/admin',
      '/healthz',
      '/publicx',
      '/docs/v2x',
      '/%zz',
      '/public/%00',
    ]) {
      t.equal((await rawGet(url, path)).status, 401, `protected: ${path}`)
    }
    // Ambiguous targets are never public, whatever their normal form: routers serve
    // /admin/..%2fpublic as /admin/:page. /%68ealth is /health to Fastify, not to Express.
    for (const path of [
      '/admin/..%2f..%2fpublic',
      '/admin/..%5cpublic',
      '/admin/x/%2e%2e/%2e%2e/public',
      '/admin/x/../../public',
      '/%68ealth',
      '//health',
      '/public/..;/admin',
      '/public;x',
    ]) {
      t.equal((await rawGet(url, path)).status, 401, `ambiguous: ${path}`)
    }
  },
)

t.test('jwtAuth(): ambiguousPaths "refuse" answers ambiguous targets 400, token or not', async (t) => {
  const url = await serve(
    t,
    compose(jwtAuth({ secret: SECRET, now, publicPaths: ['/public/*'], ambiguousPaths: 'refuse' }))(echoClaims),
  )
  for (const path of ['/admin/..%2fpublic', '/public/../admin', '//public/x', '/%zz']) {
    for (const token of [undefined, hsToken()]) {
      const res = await rawRequest(url, 'GET', path, token === undefined ? [] : [['Authorization', `Bearer ${token}`]])
      t.equal(res.status, 400, `${path}${token ? ' with a token' : ''}`)
      t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
    }
  }
  t.equal((await ask(url, undefined, '/public/x')).status, 200)
  t.equal((await ask(url, hsToken(), '/admin/x')).status, 200)
  t.throws(() => jwtAuth({ secret: SECRET, ambiguousPaths: 'reject' as never }), {
    name: 'ConfigError',
    message: /jwtAuth\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"/,
  })
})

t.test(
  'jwtAuth(): preflights cors() validated pass; other OPTIONS requests need a token, preflight-shaped or not',
  async (t) => {
    const handler: RawHandler = (_req, res) => res.end('through')
    const preflightHeaders = { origin: 'https://app.test', 'access-control-request-method': 'POST' }
    const alone = await serve(t, compose(jwtAuth({ secret: SECRET, now }))(handler))
    t.equal(
      (await httpRequest(alone, { method: 'OPTIONS', headers: preflightHeaders })).status,
      401,
      'no cors(): the shape alone exempts nothing',
    )
    const url = await serve(
      t,
      compose(
        cors({ origins: ['https://app.test'], preflightContinue: true }),
        jwtAuth({ secret: SECRET, now }),
      )(handler),
    )
    t.equal((await httpRequest(url, { method: 'OPTIONS', headers: preflightHeaders })).status, 200)
    t.equal(
      (await httpRequest(url, { method: 'OPTIONS', headers: { ...preflightHeaders, origin: 'https://evil.test' } }))
        .status,
      401,
    )
    t.equal((await httpRequest(url, { method: 'OPTIONS', headers: { origin: 'https://app.test' } })).status, 401)
    t.equal((await httpRequest(url, { method: 'OPTIONS' })).status, 401)
  },
)

t.test('jwtAuth(): optional mode attaches claims when present; a bad token is still refused', async (t) => {
  const url = await serve(t, compose(jwtAuth({ secret: SECRET, now, optional: true }))(echoClaims))
  t.same((await ask(url, undefined)).body, { claims: null, user: null })
  t.equal((await ask(url, hsToken())).body.user, 'user-1')
  t.equal((await ask(url, hsToken({ exp: NOW_S - 100 }))).body.code, 'token_expired')
  t.equal((await ask(url, 'x.y.z')).status, 401)
})

t.test('jwtAuth(): userIdClaim chooses the claim copied to userIdState, or none', async (t) => {
  const byEmail = await serve(t, compose(jwtAuth({ secret: SECRET, now, userIdClaim: 'email' }))(echoClaims))
  t.equal((await ask(byEmail, hsToken({ email: 'a@b.test' }))).body.user, 'a@b.test')
  t.equal((await ask(byEmail, hsToken({ email: 7 }))).body.user, '7', 'a numeric id')
  t.equal((await ask(byEmail, hsToken({ email: { x: 1 } }))).body.user, null, 'an object is no id')
  const off = await serve(t, compose(jwtAuth({ secret: SECRET, now, userIdClaim: false }))(echoClaims))
  t.equal((await ask(off, hsToken())).body.user, null)
})

t.test('jwtAuth(): requireExpiry false accepts tokens without exp; typ is enforced when set', async (t) => {
  const url = await serve(t, compose(jwtAuth({ secret: SECRET, now, requireExpiry: false }))(echoClaims))
  t.equal((await ask(url, hsToken({ exp: undefined }))).status, 200)
  const typed = await serve(t, compose(jwtAuth({ secret: SECRET, now, typ: 'at+jwt' }))(echoClaims))
  t.equal((await ask(typed, hsToken({}, { typ: 'at+jwt' }))).status, 200)
  t.equal(
    (await ask(typed, hsToken({}, { typ: 'JWT' }))).body.code,
    'invalid_token',
    'an ID token is not an access token',
  )
})

t.test('jwtAuth(): validate() refuses revoked tokens; its failures propagate', async (t) => {
  const revoked = new Set(['jti-2'])
  const auth = jwtAuth({
    secret: SECRET,
    now,
    validate: async (c, req) => {
      if (req.headers['x-fail']) throw new Error('revocation list unavailable')
      return !revoked.has(String(c.jti))
    },
  })
  const url = await serve(t, compose(auth)(echoClaims))
  t.equal((await ask(url, hsToken({ jti: 'jti-1' }))).status, 200)
  const refused = await ask(url, hsToken({ jti: 'jti-2' }))
  t.equal(refused.status, 401)
  t.match(refused.challenge, /error_description="The access token was refused"/)
  const failed = await fetch(url, { headers: { authorization: `Bearer ${hsToken({ jti: 'jti-1' })}`, 'x-fail': '1' } })
  t.equal(failed.status, 599, 'the error reaches the layer outside (errorBoundary in production)')
  t.equal(await failed.text(), 'revocation list unavailable')
})

t.test('jwtAuth(): the cache shares one verification per token and never serves a token past exp', async (t) => {
  let clock = NOW
  const seen: object[] = []
  const auth = jwtAuth({
    secret: SECRET,
    now: () => clock,
    clockToleranceSeconds: 0,
    validate: (c) => {
      seen.push(c)
      return true
    },
  })
  const url = await serve(t, compose(auth)(echoClaims))
  const token = hsToken({ exp: NOW_S + 30 })
  t.equal((await ask(url, token)).status, 200)
  t.equal((await ask(url, token)).status, 200)
  t.equal(seen[0], seen[1], 'the second request was served from the cache')
  clock = NOW + 29_999
  t.equal((await ask(url, token)).status, 200)
  clock = NOW + 30_000
  t.equal((await ask(url, token)).body.code, 'token_expired', 'the cached entry is not served at exp')

  const uncached = jwtAuth({
    secret: SECRET,
    now,
    cacheSize: 0,
    validate: (c) => {
      seen.push(c)
      return true
    },
  })
  const url2 = await serve(t, compose(uncached)(echoClaims))
  seen.length = 0
  await ask(url2, token)
  await ask(url2, token)
  t.not(seen[0], seen[1], 'without the cache every request verifies')
})

t.test('jwtAuth(): a cached entry respects maxTokenAgeSeconds and cacheMaxAgeMs', async (t) => {
  let clock = NOW
  const seen: object[] = []
  const auth = jwtAuth({
    secret: SECRET,
    now: () => clock,
    clockToleranceSeconds: 0,
    maxTokenAgeSeconds: 20,
    cacheMaxAgeMs: 5_000,
    validate: (c) => {
      seen.push(c)
      return true
    },
  })
  const url = await serve(t, compose(auth)(echoClaims))
  const token = hsToken({ iat: NOW_S, exp: NOW_S + 600 })
  await ask(url, token)
  clock = NOW + 4_999
  await ask(url, token)
  t.equal(seen[0], seen[1])
  clock = NOW + 5_000
  await ask(url, token)
  t.not(seen[1], seen[2], 're-verified after cacheMaxAgeMs')
  clock = NOW + 21_000
  t.equal((await ask(url, token)).body.code, 'token_expired', 'older than maxTokenAgeSeconds')
})

t.test('jwtAuth(): claims are frozen, so one request cannot change what the next one sees', async (t) => {
  const auth = jwtAuth({ secret: SECRET, now })
  const url = await serve(
    t,
    compose(auth)((req, res) => {
      const c = getJwtClaims<{ roles: string[] }>(req)
      let threw = false
      try {
        c.roles.push('admin')
      } catch {
        threw = true
      }
      res.end(`${threw} ${c.roles.join(',')}`)
    }),
  )
  const token = hsToken({ roles: ['user'] })
  t.equal(await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).text(), 'true user')
  t.equal(await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).text(), 'true user')
})

t.test(
  'jwtAuth(): leaves successful responses alone: streamed bodies with backpressure, writeHead, 204, 304',
  async (t) => {
    const auth = jwtAuth({ secret: SECRET, now })
    const url = await serve(
      t,
      compose(auth)((req, res) => {
        if (req.url === '/204') {
          res.writeHead(204, { 'x-a': '1' })
          res.end()
          return
        }
        if (req.url === '/304') {
          res.statusCode = 304
          res.end()
          return
        }
        if (req.url === '/empty') {
          res.end()
          return
        }
        if (req.url === '/throw') throw new Error('handler failed')
        const chunk = Buffer.alloc(64 * 1024, 'x')
        void writeWithBackpressure(res, repeated(chunk, 64)).then(() => res.end())
      }),
    )
    const headers = { authorization: `Bearer ${hsToken()}` }
    const big = await httpRequest(url, { headers })
    t.equal(big.body.length, 64 * 64 * 1024)
    const noContent = await httpRequest(`${url}/204`, { headers })
    t.equal(noContent.status, 204)
    t.equal(noContent.headers['x-a'], '1')
    t.equal((await httpRequest(`${url}/304`, { headers })).status, 304)
    t.equal((await httpRequest(`${url}/empty`, { headers })).body.length, 0)
    const thrown = await httpRequest(`${url}/throw`, { headers })
    t.equal(thrown.status, 599, 'a handler error propagates to the outer layer')
  },
)

t.test('jwtAuth(): explain() shows the key, the mode and the ordering rules', async (t) => {
  const stack = compose(jwtAuth({ secret: SECRET, optional: true, scopes: ['a'] }))
  t.match(stack.explain(), /jwtAuth \(HS256,HS384,HS512 secret, optional, scopes a\)/)
})

t.test('jwtAuth(): config: each rule', async (t) => {
  const pem = publicPem
  const cases: Array<[object, RegExp]> = [
    [{}, /option "secret" must be exactly one of secret, publicKey, jwks or jwksUrl; received undefined/],
    [
      { secret: SECRET, publicKey: pem, algorithms: ['RS256'] },
      /option "publicKey" must be exactly one of.*Also given: secret, publicKey/,
    ],
    [{ secret: 'short' }, /option "secret" must be at least 32 bytes; received "5 bytes".*randomBytes\(32\)/],
    [{ secret: randomBytes(16) }, /option "secret" must be at least 32 bytes/],
    [{ secret: pem }, /option "secret" must be an HMAC secret, not a PEM key.*publicKey/],
    [{ secret: rsa.publicKey }, /option "secret" must be a secret KeyObject; received "a public KeyObject"/],
    [{ secret: 42 }, /option "secret" must be a string, bytes, a secret KeyObject or an "oct" JWK/],
    [
      { secret: { kty: 'RSA', n: 'x', e: 'AQAB' } },
      /option "secret" must be a string, bytes.*Pass public keys as publicKey/,
    ],
    [
      { secret: SECRET, algorithms: ['RS256'] },
      /option "algorithms" must be algorithms usable with an HMAC secret \(HS256, HS384, HS512\); received "RS256".*own family/,
    ],
    [
      { secret: SECRET, algorithms: ['none'] },
      /option "algorithms" must be signing algorithms; received "none".*never accepted/,
    ],
    [{ secret: SECRET, algorithms: ['NONE'] }, /never accepted/],
    [
      { secret: SECRET, algorithms: [] },
      /option "algorithms" must be a non-empty array of JWS algorithm names; received an array of 0\. Name the algorithms your issuer signs with, e\.g\. \['HS256'\]/,
    ],
    [{ publicKey: pem }, /option "algorithms" must be an explicit list for this rsa public key.*\['RS256'\]/],
    [
      { publicKey: pem, algorithms: ['RS256', 'HS256'] },
      /option "algorithms" must be algorithms usable with this rsa public key.*received "HS256".*own family/,
    ],
    [{ publicKey: pem, algorithms: ['ES256'] }, /usable with this rsa public key/],
    [{ publicKey: ec.publicKey, algorithms: ['ES384'] }, /usable with this ec public key \(ES256\)/],
    [
      { publicKey: rsa.privateKey, algorithms: ['RS256'] },
      /option "publicKey" must be a public KeyObject; received "a private KeyObject".*createPublicKey/,
    ],
    [
      { publicKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), algorithms: ['RS256'] },
      /option "publicKey" must be a public key; received "\(a private key PEM\)"/,
    ],
    [
      { publicKey: { ...rsa.privateKey.export({ format: 'jwk' }) }, algorithms: ['RS256'] },
      /option "publicKey" must be a public JWK; received "a private JWK/,
    ],
    [
      { publicKey: { kty: 'oct', k: 'abc' }, algorithms: ['RS256'] },
      /option "publicKey" must be a public JWK.*Pass HMAC secrets as secret/,
    ],
    [
      { publicKey: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----', algorithms: ['RS256'] },
      /option "publicKey" must be a valid public key.*could not be read/,
    ],
    [{ publicKey: 42, algorithms: ['RS256'] }, /option "publicKey" must be a PEM string, a JWK/],
    [
      { publicKey: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey, algorithms: ['ES256'] },
      /an EC key on P-256, P-384 or P-521; received "a key on secp256k1".*defined on these curves only/,
    ],
    [{ publicKey: generateKeyPairSync('x25519').publicKey, algorithms: ['EdDSA'] }, /an RSA, EC or Ed25519 key/],
    [
      { publicKey: generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey, algorithms: ['PS256'] },
      /option "publicKey" must be an RSA key in rsaEncryption form/,
    ],
    [
      { publicKey: rsa1024.publicKey, algorithms: ['RS256'] },
      /option "publicKey" must be an RSA key of at least 2048 bits; received "a 1024-bit RSA key" \(string\)\. jose refuses RSA keys under 2048 bits.*rotate/,
    ],
    [
      { publicKey: rsa1024.publicKey.export({ type: 'spki', format: 'pem' }), algorithms: ['PS256'] },
      /option "publicKey" must be an RSA key of at least 2048 bits; received "a 1024-bit RSA key"/,
    ],
    [
      { publicKey: rsa1024.publicKey.export({ format: 'jwk' }), algorithms: ['RS256'] },
      /option "publicKey" must be an RSA key of at least 2048 bits/,
    ],
    [
      {
        jwks: {
          keys: [
            rsa.publicKey.export({ format: 'jwk' }),
            { ...rsa1024.publicKey.export({ format: 'jwk' }), kid: 'old' },
          ],
        },
        algorithms: ['RS256'],
      },
      /option "jwks" must be RSA keys of at least 2048 bits; received "a 1024-bit RSA key \(kid \\"old\\"\)".*jose refuses RSA keys under 2048 bits/,
    ],
    [{ jwks: { keys: [] }, algorithms: ['RS256'] }, /option "jwks" must be a JSON Web Key Set/],
    [
      { jwks: { keys: [{ kty: 'oct', k: 'abc' }] }, algorithms: ['RS256'] },
      /option "jwks" must be a set of public keys/,
    ],
    [
      { jwks: { keys: [rsa.publicKey.export({ format: 'jwk' })] } },
      /option "algorithms" must be an explicit list for a JSON Web Key Set/,
    ],
    [
      { jwks: { keys: [rsa.publicKey.export({ format: 'jwk' })] }, algorithms: ['HS256'] },
      /usable with a JSON Web Key Set/,
    ],
    [
      { jwksUrl: 'http://id.example/jwks', algorithms: ['RS256'] },
      /option "jwksUrl" must be an https URL \(http only on loopback\)/,
    ],
    [
      { jwksUrl: 'not a url', algorithms: ['RS256'] },
      /option "jwksUrl" must be an absolute https URL; received "not a url" \(string\)\. Give the full URL, e\.g\. "https:\/\/id\.example\.com\/\.well-known\/jwks\.json"/,
    ],
    [
      { secret: SECRET, jwksTimeoutMs: 100 },
      /option "jwksTimeoutMs" must be set only together with jwksUrl; received 100 \(number\)\. It tunes fetching a remote key set/,
    ],
    [
      { jwksUrl: 'https://id.example/jwks', algorithms: ['RS256'], jwksTimeoutMs: 0 },
      /option "jwksTimeoutMs" must be a positive integer/,
    ],
    [
      { secret: SECRET, clockToleranceSeconds: 1000 },
      /option "clockToleranceSeconds" must be a number from 0 to 300; received 1000 \(number\)\. It is in seconds: 5 \(the default\) to 60 covers servers whose clocks are kept by NTP/,
    ],
    [
      { secret: SECRET, clockToleranceSeconds: '5s' },
      /option "clockToleranceSeconds" must be a number from 0 to 300; received "5s" \(string\)\. It is in seconds/,
    ],
    [{ secret: SECRET, maxTokenAgeSeconds: 0 }, /option "maxTokenAgeSeconds" must be a number ≥ 1/],
    [{ secret: SECRET, issuer: '' }, /option "issuer" must be a non-empty string or array of strings/],
    [{ secret: SECRET, audience: [1] }, /option "audience" must be a non-empty string or array/],
    [{ secret: SECRET, requiredClaims: 'sub' }, /option "requiredClaims" must be an array/],
    [{ secret: SECRET, requireExpiry: 'yes' }, /option "requireExpiry" must be true or false/],
    [{ secret: SECRET, scopes: ['a b'] }, /option "scopes" must be scope tokens/],
    [{ secret: SECRET, scopes: ['a"b'] }, /option "scopes" must be scope tokens/],
    [{ secret: SECRET, scopeClaim: '' }, /option "scopeClaim" must be a non-empty string/],
    [
      { secret: SECRET, cookie: 'a;b' },
      /option "cookie" must be a cookie name.*received "a;b" \(string\)\. Give the name of the cookie holding the token/,
    ],
    [{ secret: SECRET, getToken: 'header' }, /option "getToken" must be a function/],
    [{ secret: SECRET, getToken: () => 'x', cookie: 'a' }, /option "cookie" must be unset when getToken is given/],
    [{ secret: SECRET, publicPaths: ['health'] }, /option "publicPaths" must be path patterns.*write "\/health"/],
    [{ secret: SECRET, publicPaths: [/admin/] }, /option "publicPaths" must be patterns whose RegExps start with \^/],
    [{ secret: SECRET, optional: 1 }, /option "optional" must be true or false/],
    [{ secret: SECRET, userIdClaim: '' }, /option "userIdClaim" must be a non-empty string/],
    [{ secret: SECRET, realm: 'a"b' }, /option "realm" must be printable ASCII without quotes/],
    [{ secret: SECRET, validate: true }, /option "validate" must be a function/],
    [{ secret: SECRET, maxTokenLength: 8 }, /option "maxTokenLength" must be an integer from 16 to 1048576/],
    [{ secret: SECRET, cacheSize: -1 }, /option "cacheSize" must be an integer from 0 to 1000000/],
    [{ secret: SECRET, cacheMaxAgeMs: 0 }, /option "cacheMaxAgeMs" must be a positive integer/],
    [{ secret: SECRET, now: 5 }, /option "now" must be a function/],
    [{ secret: SECRET, audiance: 'x' }, /^jwtAuth\(\): unknown option "audiance"; did you mean "audience"\?$/],
  ]
  for (const [options, message] of cases) {
    t.throws(
      () => jwtAuth(options as never),
      { name: 'ConfigError', message },
      JSON.stringify(options, (_k, v) => (typeof v === 'string' && v.length > 40 ? v.slice(0, 20) : v)).slice(0, 100),
    )
  }
})

t.test('jwtAuth(): accepts keys in every supported form', async (t) => {
  const ed = generateKeyPairSync('ed25519')
  const edToken = forge({ alg: 'EdDSA' }, claims(), (input) => cryptoSign(null, Buffer.from(input), ed.privateKey))
  const psToken = forge({ alg: 'PS256' }, claims(), (input) =>
    cryptoSign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: 6, saltLength: 32 }),
  )
  const cases: Array<[string, object, string]> = [
    ['RSA KeyObject', { publicKey: rsa.publicKey, algorithms: ['RS256'] }, rsToken()],
    ['RSA JWK', { publicKey: rsa.publicKey.export({ format: 'jwk' }), algorithms: ['RS256'] }, rsToken()],
    [
      'RSA CryptoKey',
      {
        publicKey: await webcrypto.subtle.importKey(
          'spki',
          publicDer,
          { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
          true,
          ['verify'],
        ),
        algorithms: ['RS256'],
      },
      rsToken(),
    ],
    [
      'EC PEM',
      { publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }), algorithms: ['ES256'] },
      forge({ alg: 'ES256' }, claims(), es256),
    ],
    ['Ed25519', { publicKey: ed.publicKey, algorithms: ['EdDSA'] }, edToken],
    ['PS256 with an RSA key', { publicKey: rsa.publicKey, algorithms: ['PS256'] }, psToken],
    ['secret bytes', { secret: Buffer.from(SECRET) }, hsToken()],
    ['secret JWK', { secret: { kty: 'oct', k: Buffer.from(SECRET).toString('base64url') } }, hsToken()],
    [
      'secret HS512 only',
      { secret: SECRET, algorithms: ['HS512'] },
      forge({ alg: 'HS512' }, claims(), hs(SECRET, 512)),
    ],
    [
      'local JWKS',
      { jwks: { keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1' }] }, algorithms: ['RS256'] },
      rsToken({}, { kid: 'k1' }),
    ],
  ]
  for (const [name, options, token] of cases) {
    const url = await serve(t, compose(jwtAuth({ ...options, now, audience: AUD } as never))(echoClaims))
    const res = await ask(url, token)
    t.equal(res.status, 200, `${name}: ${JSON.stringify(res.body)}`)
  }
})

t.test('jwtAuth(): a request object without jwtAuth has no claims', async (t) => {
  const url = await serve(t, (req: IncomingMessage, res) => {
    let message = ''
    try {
      getJwtClaims(req)
    } catch (err) {
      message = (err as Error).message
    }
    res.end(message)
  })
  t.match(
    await (await fetch(url)).text(),
    /getJwtClaims\(\): no jwtClaims on this request; mount jwtAuth\(\) before this handler/,
  )
})
