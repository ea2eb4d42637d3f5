import { generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import t, { type Test } from 'tap'
import { compose, jwtAuth, tryGetJwtClaims, type RawHandler } from '../../../lib/index.js'
import { freePort } from '../../helpers/redis.js'
import { listen, serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, until } from '../../helpers/wait.js'

const NOW = 1_800_000_000_000
const NOW_S = NOW / 1000
const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 })
const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' })

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
function token(key: KeyObject, kid: string, extra: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: 'RS256', kid })}.${b64({ sub: 'u', iat: NOW_S, exp: NOW_S + 600, ...extra })}`
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`
}

const echo: RawHandler = (req, res) => res.end(String(tryGetJwtClaims(req)?.sub))

interface JwksServer {
  url: string
  fetches: () => number
  mode: 'ok' | 'error' | 'hang'
  keys: object[]
}

/** A JWKS endpoint on loopback that counts fetches and can fail or hang on demand. */
async function jwksServer(t: Test, keys: object[]): Promise<JwksServer> {
  let fetches = 0
  const state: JwksServer = { url: '', fetches: () => fetches, mode: 'ok', keys }
  const server: Server = createServer((_req, res) => {
    fetches++
    if (state.mode === 'hang') return
    if (state.mode === 'error') {
      res.statusCode = 500
      res.end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: state.keys }))
  })
  const { url } = await listen(t, server)
  state.url = `${url}/.well-known/jwks.json`
  return state
}

async function status(url: string, bearer: string): Promise<[number, string]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } })
  return [res.status, await res.text()]
}

t.test("jwtAuth() jwksUrl: fetched once, then served from jose's cache", async (t) => {
  const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a')])
  const url = await serve(t, compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], now: () => NOW }))(echo))
  t.equal(jwks.fetches(), 0, 'nothing is fetched before the first token')
  for (let i = 0; i < 5; i++) t.same(await status(url, token(keyA.privateKey, 'a', { sub: `u${i}` })), [200, `u${i}`])
  t.equal(jwks.fetches(), 1)
})

t.test('jwtAuth() jwksUrl: a rotation is picked up with one refetch', async (t) => {
  const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a')])
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], jwksCooldownMs: 0, now: () => NOW }))(echo),
  )
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200)
  jwks.keys = [jwk(keyA.publicKey, 'a'), jwk(keyB.publicKey, 'b')]
  t.equal((await status(url, token(keyB.privateKey, 'b')))[0], 200, 'the new key verifies')
  t.equal(jwks.fetches(), 2)
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200, 'the old key too, while it is published')
  t.equal(jwks.fetches(), 2, 'a known kid needs no fetch')
  jwks.keys = [jwk(keyB.publicKey, 'b')]
  t.equal((await status(url, token(keyB.privateKey, 'b')))[0], 200)
  t.equal(jwks.fetches(), 2)
})

t.test('jwtAuth() jwksUrl: random kids cause at most one refetch per cooldown', async (t) => {
  const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a')])
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], jwksCooldownMs: 60_000, now: () => NOW }))(echo),
  )
  // The very first requests name unknown kids: they share the first fetch.
  const first = await Promise.all(
    Array.from({ length: 20 }, () => status(url, token(keyB.privateKey, randomBytes(8).toString('hex')))),
  )
  for (const [code, body] of first) {
    t.equal(code, 401)
    t.match(body, /No known key matches the access token/)
  }
  t.ok(jwks.fetches() <= 2, `${jwks.fetches()} fetches for 20 random kids`)
  const before = jwks.fetches()
  await Promise.all(
    Array.from({ length: 30 }, () => status(url, token(keyB.privateKey, randomBytes(8).toString('hex')))),
  )
  t.equal(jwks.fetches(), before, 'no refetch inside the cooldown')
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200, 'the known key still verifies')
})

t.test('jwtAuth() jwksUrl: JWKS server down (connection refused) gives 401 at once and is reported', async (t) => {
  const port = await freePort()
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: `http://127.0.0.1:${port}/jwks`, algorithms: ['RS256'], now: () => NOW }))(echo),
  )
  const started = Date.now()
  const [code, body] = await status(url, token(keyA.privateKey, 'a'))
  t.equal(code, 401)
  t.match(JSON.parse(body), { code: 'invalid_token', message: 'The signing keys are unavailable' })
  t.ok(Date.now() - started < 2000)
  await new Promise((ok) => setImmediate(ok))
  t.match(
    warnings.join('\n'),
    /jwtAuth\(\): fetching the JWKS from http:\/\/127\.0\.0\.1:\d+\/jwks failed; no new attempt for 30000 ms/,
  )
})

t.test('jwtAuth() jwksUrl: a hanging JWKS server gives 401 within the timeout', async (t) => {
  const jwks = await jwksServer(t, [])
  jwks.mode = 'hang'
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], jwksTimeoutMs: 300, now: () => NOW }))(echo),
  )
  const started = Date.now()
  const [code, body] = await status(url, token(keyA.privateKey, 'a'))
  const elapsed = Date.now() - started
  t.equal(code, 401)
  t.match(body, /The signing keys are unavailable/)
  t.ok(elapsed >= 250 && elapsed < 2000, `answered after ${elapsed} ms`)
})

t.test('jwtAuth() jwksUrl: after a failed fetch no new fetch for a cooldown; then it recovers', async (t) => {
  const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a')])
  jwks.mode = 'error'
  let clock = NOW
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], jwksCooldownMs: 10_000, now: () => clock }))(echo),
  )
  silenceWarningOutput(t)
  process.on('warning', noop)
  t.teardown(() => {
    process.off('warning', noop)
  })
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 401)
  t.equal(jwks.fetches(), 1)
  for (let i = 0; i < 5; i++) t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 401)
  t.equal(jwks.fetches(), 1, 'requests during the back-off fail at once')
  jwks.mode = 'ok'
  clock = NOW + 9_999
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 401)
  t.equal(jwks.fetches(), 1)
  clock = NOW + 10_000
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200, 'recovered once the back-off is over')
  t.equal(jwks.fetches(), 2)
})

t.test('jwtAuth() jwksUrl: keys already fetched keep verifying while the JWKS server fails', async (t) => {
  const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a')])
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], jwksCooldownMs: 0, now: () => NOW }))(echo),
  )
  silenceWarningOutput(t)
  process.on('warning', noop)
  t.teardown(() => {
    process.off('warning', noop)
  })
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200)
  jwks.mode = 'error'
  t.equal((await status(url, token(keyB.privateKey, 'b')))[0], 401, 'an unknown kid cannot be fetched')
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200, 'the cached key still works')
})

t.test('jwtAuth() jwksUrl: an invalid key set is refused like an outage', async (t) => {
  const jwks = await jwksServer(t, [])
  jwks.keys = 'nope' as never
  const url = await serve(
    t,
    compose(jwtAuth({ jwksUrl: new URL(jwks.url), algorithms: ['RS256'], now: () => NOW }))(echo),
  )
  const [code, body] = await status(url, token(keyA.privateKey, 'a'))
  t.equal(code, 401)
  t.match(body, /The signing keys are unavailable/)
})

t.test(
  'jwtAuth() jwksUrl: fetched RSA keys under 2048 bits are reported; their tokens get 401, the others verify',
  async (t) => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const jwks = await jwksServer(t, [jwk(keyA.publicKey, 'a'), jwk(short.publicKey, 'old')])
    const warnings = captureWarnings(t)
    const url = await serve(t, compose(jwtAuth({ jwksUrl: jwks.url, algorithms: ['RS256'], now: () => NOW }))(echo))
    t.same(await status(url, token(keyA.privateKey, 'a')), [200, 'u'], 'the 2048-bit key of the same set verifies')
    const [code] = await status(url, token(short.privateKey, 'old'))
    t.equal(code, 401, 'jose refuses the 1024-bit key')
    const reported = () => warnings.map((w) => w.message).join('\n')
    await until(() => /under 2048 bits/.test(reported()))
    t.match(
      reported(),
      /jwtAuth\(\): the JWKS at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json holds RSA keys under 2048 bits: 1024 bits \(kid "old"\): jose refuses RSA keys under 2048 bits/,
    )
    t.notMatch(reported(), /kid "a"/, 'only the short key is named')
  },
)

t.test('jwtAuth() jwks: a local key set chooses by kid and refuses unknown and ambiguous kids', async (t) => {
  const jwks = { keys: [jwk(keyA.publicKey, 'a'), jwk(keyB.publicKey, 'b')] }
  const url = await serve(t, compose(jwtAuth({ jwks, algorithms: ['RS256'], now: () => NOW }))(echo))
  t.equal((await status(url, token(keyA.privateKey, 'a')))[0], 200)
  t.equal((await status(url, token(keyB.privateKey, 'b')))[0], 200)
  t.match((await status(url, token(keyB.privateKey, 'a')))[1], /signature is invalid/)
  t.match((await status(url, token(keyA.privateKey, 'zzz')))[1], /No known key matches/)
  const input = `${b64({ alg: 'RS256' })}.${b64({ sub: 'u', exp: NOW_S + 600 })}`
  const noKid = `${input}.${cryptoSign('sha256', Buffer.from(input), keyA.privateKey).toString('base64url')}`
  t.match((await status(url, noKid))[1], /No known key matches/, 'no kid with two candidate keys')
})

function noop(): void {}

t.test('jwtAuth(): config: a plain-http jwksUrl only on a loopback address', async (t) => {
  for (const host of ['127.0.0.1', '127.10.20.30', '[::1]', 'localhost', '[::ffff:127.0.0.1]'])
    t.doesNotThrow(() => jwtAuth({ jwksUrl: `http://${host}:9/jwks`, algorithms: ['RS256'] }), host)
  for (const host of ['128.0.0.1', '10.0.0.1', '[::2]', 'localhost.example', '127.0.0.1.example'])
    t.throws(() => jwtAuth({ jwksUrl: `http://${host}:9/jwks`, algorithms: ['RS256'] }), {
      name: 'ConfigError',
      message: /option "jwksUrl" must be an https URL \(http only on loopback\)/,
    })
})
