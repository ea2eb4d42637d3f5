import express from 'express'
import { createServer } from 'node:http'
import t from 'tap'
import { toExpress } from '../../../adapters/express.js'
import {
  anyOf,
  apiKey,
  type AuthScheme,
  basicAuth,
  compose,
  HttpError,
  jwtAuth,
  type RawHandler,
  tryGetApiKeyIdentity,
  tryGetBasicAuthUser,
  tryGetJwtClaims,
  tryGetUserId,
} from '../../../lib/index.js'
import { SignJWT } from 'jose'
import { httpRequest } from '../../helpers/http.js'
import { listen, serve } from '../../helpers/serve.js'

const SECRET = 'any-of-test-secret-of-32-bytes!!!!'
const KEY = 'partner-key-0123456789abcdef'
const token = await new SignJWT({ sub: 'jwt-user' })
  .setProtectedHeader({ alg: 'HS256' })
  .setExpirationTime('1h')
  .sign(Buffer.from(SECRET))
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

const echo: RawHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      user: tryGetUserId(req) ?? null,
      jwt: tryGetJwtClaims(req)?.sub ?? null,
      key: tryGetApiKeyIdentity(req)?.id ?? null,
      basic: tryGetBasicAuthUser(req) ?? null,
    }),
  )
}

const schemes = () => [
  jwtAuth({ secret: SECRET }),
  apiKey({ keys: [{ key: KEY, id: 'partner' }] }),
  basicAuth({ users: [{ user: 'ops', password: 'ops-password' }], realm: 'api' }),
]

async function ask(url: string, headers: Record<string, string> = {}, path = '/') {
  const res = await httpRequest(url + path, { headers })
  return { status: res.status, body: JSON.parse(res.text), challenge: res.headers['www-authenticate'] }
}

t.test('anyOf(): each scheme alone is accepted, with its own state and the user id', async (t) => {
  const url = await serve(t, compose(anyOf(...schemes()))(echo))
  t.same((await ask(url, { authorization: `Bearer ${token}` })).body, {
    user: 'jwt-user',
    jwt: 'jwt-user',
    key: null,
    basic: null,
  })
  t.same((await ask(url, { 'x-api-key': KEY })).body, { user: 'partner', jwt: null, key: 'partner', basic: null })
  t.same((await ask(url, { authorization: basic('ops', 'ops-password') })).body, {
    user: 'ops',
    jwt: null,
    key: null,
    basic: 'ops',
  })
})

t.test('anyOf(): no credential: one 401 listing every challenge', async (t) => {
  const url = await serve(t, compose(anyOf(...schemes()))(echo))
  const res = await ask(url)
  t.equal(res.status, 401)
  t.equal(res.body.code, 'missing_credentials')
  t.same(res.body.schemes, ['jwtAuth', 'apiKey', 'basicAuth'])
  t.equal(res.challenge, 'Bearer, ApiKey header="x-api-key", Basic realm="api", charset="UTF-8"')
})

t.test('anyOf(): a refused credential is never rescued by a later scheme', async (t) => {
  const url = await serve(t, compose(anyOf(...schemes()))(echo))
  const wrongBasic = await ask(url, { authorization: basic('ops', 'nope'), 'x-api-key': KEY })
  t.equal(wrongBasic.status, 200, 'the api key comes first in the list, and decides')
  const wrongKey = await ask(url, { authorization: basic('ops', 'ops-password'), 'x-api-key': `${KEY}x` })
  t.same(
    [wrongKey.status, wrongKey.body.code],
    [401, 'invalid_api_key'],
    'a wrong key is not excused by a good password',
  )
  t.equal(
    wrongKey.challenge,
    'ApiKey header="x-api-key", Bearer, Basic realm="api", charset="UTF-8"',
    "the refusing scheme's challenge first, then the others",
  )
  const badToken = await ask(url, { authorization: 'Bearer not-a-jwt', 'x-api-key': KEY })
  t.same([badToken.status, badToken.body.code], [401, 'invalid_token'])
  t.match(
    badToken.challenge,
    /^Bearer error="invalid_token", error_description="[^"]+", ApiKey header="x-api-key", Basic/,
  )
})

t.test('anyOf(): a scheme of your own (a session-like check), asynchronous, in the order given', async (t) => {
  const order: string[] = []
  const session: AuthScheme<string> = {
    name: 'session',
    async check(req) {
      order.push('session')
      const cookie = req.headers.cookie
      if (cookie === undefined) return undefined
      return cookie === 'sid=good' ? 'session-user' : new HttpError(401, 'Session expired', { code: 'session_expired' })
    },
    admit(_req, user) {
      order.push(`admit ${user}`)
    },
  }
  const url = await serve(t, compose(anyOf(session, basicAuth({ users: [{ user: 'ops', password: 'pw' }] })))(echo))
  t.equal((await ask(url, { cookie: 'sid=good' })).status, 200)
  t.same(order, ['session', 'admit session-user'])
  t.equal((await ask(url, { authorization: basic('ops', 'pw') })).body.basic, 'ops', 'no cookie: the next scheme')
  const expired = await ask(url, { cookie: 'sid=old', authorization: basic('ops', 'pw') })
  t.same([expired.status, expired.body.code], [401, 'session_expired'], 'the cookie came first and decides')
  t.equal(expired.challenge, 'Basic realm="Restricted", charset="UTF-8"', 'a scheme without challenge adds none')
})

t.test('anyOf(): its own publicPaths and optional', async (t) => {
  const url = await serve(t, compose(anyOf({ publicPaths: ['/health'], optional: false }, ...schemes()))(echo))
  t.equal((await ask(url, {}, '/health')).status, 200)
  t.equal((await ask(url, {}, '/x/..%2fhealth')).status, 401)
  const opt = await serve(t, compose(anyOf({ optional: true }, ...schemes()))(echo))
  t.equal((await ask(opt)).status, 200)
  t.equal((await ask(opt, { 'x-api-key': 'wrong-key-0123456789abcdef' })).status, 401)
})

t.test('anyOf(): through the Express adapter', async (t) => {
  const app = express()
  app.use(toExpress(anyOf(...schemes())))
  app.get('/', (req, res) => {
    res.send(tryGetUserId(req))
  })
  const { url } = await listen(t, createServer(app))
  t.equal((await httpRequest(url, { headers: { 'x-api-key': KEY } })).text, 'partner')
  const refused = await httpRequest(url)
  t.equal(refused.status, 401)
  t.match(refused.headers['www-authenticate'], /^Bearer, ApiKey/)
})

t.test('anyOf(): config', async (t) => {
  const fails = (build: () => unknown, option: string, message: RegExp) =>
    t.throws(build, { name: 'ConfigError', option, message }, message.source)
  fails(() => anyOf(), 'schemes', /at least one/)
  fails(() => anyOf(compose()), 'schemes[0]', /an authenticating layer.*AuthScheme/)
  fails(
    () => anyOf(jwtAuth({ secret: SECRET, publicPaths: ['/x'] })),
    'schemes[0]',
    /without publicPaths.*give them to anyOf/,
  )
  fails(() => anyOf(apiKey({ keys: [KEY], optional: true })), 'schemes[0]', /without optional/)
  fails(() => anyOf({ optionl: true } as never, apiKey({ keys: [KEY] })), 'optionl', /did you mean "optional"/)
  fails(
    () => anyOf({ name: 'x', challenge: 'a\r\nb', check: () => undefined }),
    'schemes[0].challenge',
    /one-line challenge/,
  )
})
