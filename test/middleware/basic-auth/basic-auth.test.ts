import { createHash } from 'node:crypto'
import t from 'tap'
import {
  basicAuth,
  compose,
  cors,
  getBasicAuthUser,
  hashPassword,
  tryGetBasicAuthUser,
  tryGetUserId,
  type RawHandler,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings } from '../../helpers/wait.js'

const echo: RawHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ user: tryGetBasicAuthUser(req) ?? null, id: tryGetUserId(req) ?? null }))
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

async function ask(url: string, authorization?: string | string[], path = '/') {
  const res = await httpRequest(url + path, { headers: authorization === undefined ? {} : { authorization } })
  return {
    status: res.status,
    body: JSON.parse(res.text) as Record<string, unknown>,
    challenge: res.headers['www-authenticate'],
  }
}

// ln 14 is the lowest cost accepted; it keeps the suite quick.
const OPS_HASH = await hashPassword('correct horse battery staple', { ln: 14 })

t.test('basicAuth(): a scrypt user passes, with the user name and user id in state', async (t) => {
  const url = await serve(t, compose(basicAuth({ users: [{ user: 'ops', scrypt: OPS_HASH, id: 'user-7' }] }))(echo))
  const ok = await ask(url, basic('ops', 'correct horse battery staple'))
  t.same(ok, { status: 200, body: { user: 'ops', id: 'user-7' }, challenge: undefined })
  const again = await ask(url, basic('ops', 'correct horse battery staple'))
  t.equal(again.status, 200, 'a cached verification answers the same')
})

t.test('basicAuth(): no credentials: 401 with the RFC 7617 challenge', async (t) => {
  const url = await serve(t, compose(basicAuth({ users: [{ user: 'ops', scrypt: OPS_HASH }], realm: 'metrics' }))(echo))
  const res = await ask(url)
  t.equal(res.status, 401)
  t.equal(res.body.code, 'missing_credentials')
  t.equal(res.challenge, 'Basic realm="metrics", charset="UTF-8"')
  const bearer = await ask(url, 'Bearer abc.def.ghi')
  t.equal(bearer.body.code, 'missing_credentials', 'another scheme is no Basic credential')
})

t.test('basicAuth(): wrong password, unknown user, malformed credentials: 401 invalid_credentials', async (t) => {
  const url = await serve(
    t,
    compose(
      basicAuth({
        users: [
          { user: 'ops', scrypt: OPS_HASH },
          { user: 'ci', password: 'ci-secret-value' },
        ],
      }),
    )(echo),
  )
  for (const [what, header] of [
    ['wrong password', basic('ops', 'Correct horse battery staple')],
    ['unknown user', basic('nobody', 'correct horse battery staple')],
    ['wrong plain password', basic('ci', 'ci-secret-valuE')],
    ['a plain password of another user', basic('ops', 'ci-secret-value')],
    ['no colon', `Basic ${Buffer.from('ops').toString('base64')}`],
    ['not base64', 'Basic !!!!'],
    ['scheme alone', 'Basic'],
    ['a control character', basic('ops\u0001', 'x')],
    ['invalid UTF-8', `Basic ${Buffer.from([0x6f, 0x3a, 0xff, 0xfe]).toString('base64')}`],
  ] as const) {
    const res = await ask(url, header)
    t.same(
      [res.status, res.body.code, res.challenge],
      [401, 'invalid_credentials', 'Basic realm="Restricted", charset="UTF-8"'],
      what,
    )
  }
  t.equal((await ask(url, basic('ci', 'ci-secret-value'))).status, 200, 'the plain password passes')
  t.equal(
    (await ask(url, 'bAsIc ' + basic('ci', 'ci-secret-value').slice(6))).status,
    200,
    'the scheme is case-insensitive',
  )
})

t.test('basicAuth(): two Authorization headers are refused', async (t) => {
  const url = await serve(t, compose(basicAuth({ users: [{ user: 'ci', password: 'ci-secret-value' }] }))(echo))
  const res = await ask(url, [basic('ci', 'ci-secret-value'), basic('ci', 'ci-secret-value')])
  t.equal(res.status, 401)
  t.equal(res.body.code, 'invalid_credentials')
})

t.test('basicAuth(): a password may contain colons and UTF-8, compared after NFC normalisation', async (t) => {
  const url = await serve(
    t,
    compose(basicAuth({ users: [{ user: 'Zoë', sha256: createHash('sha256').update('a:b:ç').digest('hex') }] }))(echo),
  )
  const header = `Basic ${Buffer.from('Zoe\u0308:a:b:c\u0327', 'utf8').toString('base64')}`
  t.same((await ask(url, header)).body, { user: 'Zoë', id: 'Zoë' })
})

t.test('basicAuth(): verify decides, a failing verify is a 503', async (t) => {
  captureWarnings(t) // the failure is reported; that is the point here
  const seen: string[] = []
  const url = await serve(
    t,
    compose(
      basicAuth({
        verify: async (user, password, req) => {
          seen.push(`${user}/${password}/${req.url}`)
          if (user === 'boom') throw new Error('directory down')
          return user === 'alice' && password === 'wonderland'
        },
      }),
    )(echo),
  )
  t.same((await ask(url, basic('alice', 'wonderland'), '/x')).body, { user: 'alice', id: 'alice' })
  t.equal((await ask(url, basic('alice', 'nope'))).status, 401)
  const down = await ask(url, basic('boom', 'x'))
  t.same([down.status, down.body.code], [503, 'auth_unavailable'])
  t.same(seen, ['alice/wonderland//x', 'alice/nope//', 'boom/x//'])
})

t.test('basicAuth(): publicPaths, optional, and a cors()-validated preflight pass without credentials', async (t) => {
  const users = [{ user: 'ci', password: 'ci-secret-value' }]
  const pub = await serve(t, compose(basicAuth({ users, publicPaths: ['/health'] }))(echo))
  t.equal((await ask(pub, undefined, '/health')).status, 200)
  t.equal((await ask(pub, undefined, '/x/..%2fhealth')).status, 401, 'an ambiguous target is never public')
  const opt = await serve(t, compose(basicAuth({ users, optional: true }))(echo))
  t.same((await ask(opt)).body, { user: null, id: null })
  t.equal((await ask(opt, basic('ci', 'wrong'))).status, 401, 'sent credentials must still be valid')
  const preflight = await serve(
    t,
    compose(
      cors({ origins: ['https://app.example'], preflightContinue: true }),
      basicAuth({ users }),
    )((_q, res) => res.end('preflight passed')),
  )
  const res = await httpRequest(preflight, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
  })
  t.equal(res.text, 'preflight passed')
})

t.test('basicAuth(): getBasicAuthUser throws naming basicAuth() when no user was accepted', async (t) => {
  const url = await serve(t, (req, res) => {
    try {
      res.end(getBasicAuthUser(req))
    } catch (err) {
      res.end((err as Error).message)
    }
  })
  t.match((await httpRequest(url)).text, /mount basicAuth\(\)/)
})

t.test('basicAuth(): an unknown user costs a scrypt like a known one (no timing oracle on names)', async (t) => {
  // Not a timing measurement (flaky by nature): the stand-in is a scrypt account, so an
  // unknown user goes through scrypt; a cached success for a known user is never reused for another.
  const url = await serve(t, compose(basicAuth({ users: [{ user: 'ops', scrypt: OPS_HASH }] }))(echo))
  t.equal((await ask(url, basic('ops', 'correct horse battery staple'))).status, 200)
  t.equal((await ask(url, basic('nobody', 'correct horse battery staple'))).status, 401)
})

t.test('hashPassword(): a PHC scrypt string with a fresh salt, refused cost out of bounds', async (t) => {
  const a = await hashPassword('pw', { ln: 14 })
  t.match(a, /^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
  t.not(a, await hashPassword('pw', { ln: 14 }))
  await t.rejects(hashPassword('pw', { ln: 8 }), RangeError)
})

t.test('basicAuth(): config', async (t) => {
  const fails = (options: unknown, option: string, message: RegExp) =>
    t.throws(() => basicAuth(options as never), { name: 'ConfigError', option, message }, message.source)
  fails({}, 'users', /non-empty list \(or give verify\).*hashPassword/)
  fails({ users: [] }, 'users', /non-empty list/)
  fails({ users: [{ user: 'a', password: 'x' }], verify: () => true }, 'users', /unset when verify is given/)
  fails({ users: [{ user: 'a:b', password: 'x' }] }, 'users[0].user', /without ":".*colon/)
  fails({ users: [{ user: 'a' }] }, 'users[0].scrypt', /exactly one.*Prefer scrypt/)
  fails({ users: [{ user: 'a', password: 'x', sha256: 'ab' }] }, 'users[0].scrypt', /sha256 and password together/)
  fails(
    { users: [{ user: 'a', scrypt: '$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g' }] },
    'users[0].scrypt',
    /hashPassword/,
  )
  fails({ users: [{ user: 'a', sha256: 'xyz' }] }, 'users[0].sha256', /64 hex digits/)
  fails(
    {
      users: [
        { user: 'a', password: 'x' },
        { user: 'a', password: 'y' },
      ],
    },
    'users[1].user',
    /listed once/,
  )
  fails({ users: [{ user: 'a', pasword: 'x' }] }, 'users[0].pasword', /did you mean "users\[0\]\.password"/)
  fails({ users: [{ user: 'a', password: 'x' }], realm: 'a"b' }, 'realm', /without quotes/)
  fails({ users: [{ user: 'a', password: 'x' }], maxLength: 2 }, 'maxLength', /from 16/)
  fails({ verify: 'yes' }, 'verify', /function/)
})
