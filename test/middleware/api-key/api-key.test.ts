import { createHash } from 'node:crypto'
import t from 'tap'
import { apiKey, compose, cors, getApiKeyIdentity, tryGetApiKeyIdentity, type RawHandler } from '../../../lib/index.js'
import { userIdState } from '../../../lib/core.js'
import { httpRequest } from '../../helpers/http.js'
import { rawGet, rawRequest } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { silenceWarningOutput } from '../../helpers/wait.js'

const KEY_A = 'key-a-0123456789abcdef'
const KEY_B = 'key-b-0123456789abcdef'
const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

const echo: RawHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ identity: tryGetApiKeyIdentity(req) ?? null, user: userIdState.tryGet(req) ?? null }))
}

async function ask(
  url: string,
  headers: Record<string, string> = {},
  path = '/',
): Promise<{ status: number; body: Record<string, unknown>; challenge: string | null }> {
  const res = await fetch(url + path, { headers })
  return {
    status: res.status,
    body: JSON.parse(await res.text()) as Record<string, unknown>,
    challenge: res.headers.get('www-authenticate'),
  }
}

t.test('apiKey(): a listed key passes with its identity and user id', async (t) => {
  const url = await serve(t, compose(apiKey({ keys: [{ key: KEY_A, id: 'partner-a' }, KEY_B] }))(echo))
  t.same((await ask(url, { 'x-api-key': KEY_A })).body, { identity: { id: 'partner-a' }, user: 'partner-a' })
  const b = await ask(url, { 'x-api-key': KEY_B })
  t.same(
    b.body,
    { identity: { id: `key:${sha(KEY_B).slice(0, 12)}` }, user: `key:${sha(KEY_B).slice(0, 12)}` },
    'an unnamed key gets an id from its hash, never the key',
  )
})

t.test('apiKey(): missing and wrong keys are 401 with a challenge', async (t) => {
  const url = await serve(t, compose(apiKey({ keys: [KEY_A], realm: 'partners' }))(echo))
  const missing = await ask(url)
  t.equal(missing.status, 401)
  t.equal(missing.body.code, 'missing_api_key')
  t.equal(missing.challenge, 'ApiKey realm="partners", header="x-api-key"')
  for (const wrong of [KEY_B, KEY_A.slice(0, -1), `${KEY_A}x`, KEY_A.toUpperCase(), ` ${KEY_A}x`]) {
    const res = await ask(url, { 'x-api-key': wrong })
    t.equal(res.status, 401, wrong)
    t.equal(res.body.code, 'invalid_api_key', wrong)
  }
  t.equal((await ask(url, { 'x-api-key': 'x'.repeat(300) })).body.code, 'invalid_api_key', 'too long: refused unhashed')
  const repeated = await httpRequest(url, { headers: { 'x-api-key': [KEY_A, KEY_A] } })
  t.equal(repeated.status, 401, 'a key header sent twice')
  t.match(repeated.text, /invalid_api_key/)
})

t.test('apiKey(): SHA-256 hashes, plain and named', async (t) => {
  const url = await serve(
    t,
    compose(apiKey({ hashes: [sha(KEY_A), { sha256: sha(KEY_B).toUpperCase(), id: 'b' }] }))(echo),
  )
  t.same((await ask(url, { 'x-api-key': KEY_A })).body.identity, { id: `key:${sha(KEY_A).slice(0, 12)}` })
  t.same((await ask(url, { 'x-api-key': KEY_B })).body.identity, { id: 'b' })
  t.equal((await ask(url, { 'x-api-key': sha(KEY_A) })).status, 401, 'the hash itself is not a key')
})

t.test('apiKey(): keys and hashes together', async (t) => {
  const url = await serve(
    t,
    compose(apiKey({ keys: [{ key: KEY_A, id: 'a' }], hashes: [{ sha256: sha(KEY_B), id: 'b' }] }))(echo),
  )
  t.same((await ask(url, { 'x-api-key': KEY_A })).body.identity, { id: 'a' })
  t.same((await ask(url, { 'x-api-key': KEY_B })).body.identity, { id: 'b' })
})

t.test('apiKey(): an async lookup, typed identities, and 503 when it fails', async (t) => {
  interface Client {
    id: string
    plan: 'free' | 'pro'
  }
  const db = new Map<string, Client>([[sha(KEY_A), { id: 'client-7', plan: 'pro' }]])
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const auth = apiKey<Client>({
    lookup: async (key, req) => {
      if (req.headers['x-fail']) throw new Error('database down')
      if (req.headers['x-odd']) return { plan: 'free' } as never
      return db.get(sha(key))
    },
  })
  const url = await serve(
    t,
    compose(auth)((req, res) => {
      const plan: 'free' | 'pro' = auth.get(req).plan
      const same = auth.tryGet(req) === getApiKeyIdentity<Client>(req)
      res.end(JSON.stringify({ plan, id: getApiKeyIdentity<Client>(req).id, user: userIdState.get(req), same }))
    }),
  )
  t.same(JSON.parse(await (await fetch(url, { headers: { 'x-api-key': KEY_A } })).text()), {
    plan: 'pro',
    id: 'client-7',
    user: 'client-7',
    same: true,
  })
  t.equal((await fetch(url, { headers: { 'x-api-key': KEY_B } })).status, 401)
  const failed = await fetch(url, { headers: { 'x-api-key': KEY_A, 'x-fail': '1' } })
  t.equal(failed.status, 503)
  t.equal(failed.headers.get('retry-after'), '5')
  t.match(JSON.parse(await failed.text()), { code: 'auth_unavailable' })
  t.equal(
    (await fetch(url, { headers: { 'x-api-key': KEY_A, 'x-odd': '1' } })).status,
    503,
    'an identity without id is a lookup bug',
  )
  await new Promise((ok) => setImmediate(ok))
  t.match(warnings.join('\n'), /apiKey\(\): lookup failed: database down/)
  t.match(warnings.join('\n'), /lookup must resolve an object with a non-empty string id/)
})

t.test('apiKey(): a custom header with a scheme', async (t) => {
  const url = await serve(
    t,
    compose(apiKey({ header: 'Authorization', scheme: 'ApiKey', keys: [{ key: KEY_A, id: 'a' }] }))(echo),
  )
  t.equal((await ask(url, { authorization: `ApiKey ${KEY_A}` })).status, 200)
  t.equal((await ask(url, { authorization: `apikey   ${KEY_A}` })).status, 200, 'scheme case-insensitive')
  const other = await ask(url, { authorization: `Bearer ${KEY_A}` })
  t.equal(other.body.code, 'missing_api_key', 'another scheme carries no API key')
  t.equal(other.challenge, 'ApiKey')
  t.equal((await ask(url, { authorization: 'ApiKey' })).body.code, 'missing_api_key')
  t.equal((await ask(url, { authorization: `ApiKey ${KEY_B}` })).body.code, 'invalid_api_key')
})

t.test(
  'apiKey(): the query parameter only when opted in; the header wins; repeated parameters are refused',
  async (t) => {
    const off = await serve(t, compose(apiKey({ keys: [KEY_A] }))(echo))
    t.equal((await ask(off, {}, `/?api_key=${KEY_A}`)).status, 401)
    const on = await serve(
      t,
      compose(
        apiKey({
          keys: [
            { key: KEY_A, id: 'a' },
            { key: KEY_B, id: 'b' },
          ],
          query: 'api_key',
        }),
      )(echo),
    )
    t.same((await ask(on, {}, `/?x=1&api_key=${KEY_A}`)).body.identity, { id: 'a' })
    t.same((await ask(on, { 'x-api-key': KEY_B }, `/?api_key=${KEY_A}`)).body.identity, { id: 'b' })
    t.equal((await ask(on, {}, `/?api_key=${KEY_A}&api_key=${KEY_B}`)).body.code, 'invalid_api_key')
    t.equal((await ask(on, {}, '/?api_key=')).body.code, 'missing_api_key')
    t.equal((await ask(on, {}, '/')).body.code, 'missing_api_key')
  },
)

t.test('apiKey(): public paths, preflights and optional mode', async (t) => {
  const url = await serve(t, compose(apiKey({ keys: [KEY_A], publicPaths: ['/status', '/open/*'] }))(echo))
  t.equal((await httpRequest(`${url}/status`)).status, 200)
  t.equal((await httpRequest(`${url}/open/x`)).status, 200)
  t.equal(
    (await httpRequest(`${url}/STATUS/`)).status,
    200,
    'case and a trailing slash are spellings every router reads alike',
  )
  t.equal(
    (await rawGet(url, '/%73tatus')).status,
    401,
    'an escaped unreserved character is ambiguous (Fastify decodes it, Express does not): not public',
  )
  t.equal((await rawGet(url, '/admin/..%2fstatus')).status, 401, 'routers serve it under /admin: not public')
  t.equal((await rawGet(url, '/admin/x/../../open/x')).status, 401, 'nor is a raw dot segment')
  t.equal((await rawGet(url, '/open/../admin')).status, 401)
  t.equal((await httpRequest(`${url}//admin`)).status, 401)
  t.equal((await httpRequest(`${url}/%zz`)).status, 401, 'a path that cannot be normalised is protected')
  const preflightHeaders = { origin: 'https://a.test', 'access-control-request-method': 'GET' }
  t.equal(
    (await httpRequest(url, { method: 'OPTIONS', headers: preflightHeaders })).status,
    401,
    'no cors(): the shape alone exempts nothing',
  )
  const withCors = await serve(
    t,
    compose(
      cors({ origins: ['https://a.test'], preflightContinue: true }),
      apiKey({ keys: [KEY_A], publicPaths: ['/status'] }),
    )(echo),
  )
  t.equal(
    (await httpRequest(withCors, { method: 'OPTIONS', headers: preflightHeaders })).status,
    200,
    'a preflight cors() validated',
  )
  t.equal((await httpRequest(url, { method: 'OPTIONS' })).status, 401)
  const optional = await serve(t, compose(apiKey({ keys: [KEY_A], optional: true, setUserId: false }))(echo))
  t.same((await ask(optional)).body, { identity: null, user: null })
  t.equal((await ask(optional, { 'x-api-key': KEY_B })).status, 401)
  t.same((await ask(optional, { 'x-api-key': KEY_A })).body.user, null, 'setUserId false')
})

t.test('apiKey(): ambiguousPaths "refuse" answers ambiguous targets 400, key or not', async (t) => {
  const url = await serve(
    t,
    compose(apiKey({ keys: [KEY_A], publicPaths: ['/open/*'], ambiguousPaths: 'refuse' }))(echo),
  )
  for (const path of ['/admin/..%2fopen', '/open/x/..', '/open;x', '/%zz']) {
    for (const headers of [[], [['X-Api-Key', KEY_A]]] as Array<Array<[string, string]>>) {
      const res = await rawRequest(url, 'GET', path, headers)
      t.equal(res.status, 400, `${path}${headers.length ? ' with a key' : ''}`)
      t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
    }
  }
  t.equal((await rawGet(url, '/open/x')).status, 200)
  t.equal((await rawRequest(url, 'GET', '/admin', [['X-Api-Key', KEY_A]])).status, 200)
  t.throws(() => apiKey({ keys: [KEY_A], ambiguousPaths: 'ignore' as never }), {
    name: 'ConfigError',
    message: /apiKey\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"/,
  })
})

t.test('apiKey(): refusals for HEAD, plain text; successful responses untouched', async (t) => {
  const url = await serve(
    t,
    compose(apiKey({ keys: [KEY_A] }))((req, res) => {
      if (req.url === '/204') {
        res.writeHead(204, { 'x-a': '1' })
        res.end()
        return
      }
      if (req.url === '/throw') throw new Error('boom')
      const chunk = Buffer.alloc(65_536, 'y')
      void writeWithBackpressure(res, repeated(chunk, 32)).then(() => res.end())
    }),
  )
  const head = await httpRequest(url, { method: 'HEAD' })
  t.equal(head.status, 401)
  t.equal(head.body.length, 0)
  t.equal(
    (await httpRequest(url, { headers: { accept: 'text/plain' } })).text,
    '401 missing_api_key: An API key is required\n',
  )
  const headers = { 'x-api-key': KEY_A }
  t.equal((await httpRequest(url, { headers })).body.length, 32 * 65_536)
  t.equal((await httpRequest(`${url}/204`, { headers })).headers['x-a'], '1')
  t.equal((await httpRequest(`${url}/throw`, { headers })).status, 599)
})

t.test('apiKey(): explain() and an unmounted accessor', async (t) => {
  t.match(
    compose(apiKey({ keys: [KEY_A], query: 'k', optional: true })).explain(),
    /apiKey \(x-api-key or \?k, 1 keys, optional\)/,
  )
  t.match(compose(apiKey({ lookup: () => undefined })).explain(), /apiKey \(x-api-key, lookup\)/)
  const auth = apiKey({ keys: [KEY_A] })
  const url = await serve(t, (req, res) => {
    try {
      getApiKeyIdentity(req)
      res.end('no throw')
    } catch (err) {
      res.end(`${auth.tryGet(req)} ${(err as Error).message}`)
    }
  })
  t.match(
    await (await fetch(url)).text(),
    /^undefined getApiKeyIdentity\(\): no apiKeyIdentity on this request; mount apiKey\(\) before this handler\./,
  )
})

t.test('apiKey(): config: each rule', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [{}, /option "keys" must be a non-empty list \(or give hashes or lookup\)/],
    [{ keys: [] }, /option "keys" must be a non-empty list/],
    [{ keys: 'abc' }, /option "keys" must be an array/],
    [
      { keys: ['short'] },
      /option "keys\[0\]" must be a key of 16 to 256 printable ASCII characters; received "a key of 5 characters".*randomBytes/,
    ],
    [{ keys: [KEY_A, `${KEY_A} space`] }, /option "keys\[1\]" must be a key of 16 to 256 printable/],
    [{ keys: [42] }, /option "keys\[0\]" must be a string or an object \{ key, id \}; received 42 \(number\)/],
    [{ keys: [null] }, /option "keys\[0\]" must be a string or an object \{ key, id \}; received null/],
    [{ keys: [{ key: 'short', id: 'x' }] }, /option "keys\[0\]\.key" must be a key of 16 to 256 printable/],
    [{ keys: [{ id: 'x' }] }, /option "keys\[0\]\.key" must be a key of 16 to 256 .*; received undefined/],
    [
      { keys: [{ key: KEY_A, ids: 'x' }] },
      /^apiKey\(\): unknown option "keys\[0\]\.ids"; did you mean "keys\[0\]\.id"\?$/,
    ],
    [
      { hashes: [{ sha: sha(KEY_A), id: 'x' }] },
      /^apiKey\(\): unknown option "hashes\[0\]\.sha"; did you mean "hashes\[0\]\.sha256"\?$/,
    ],
    [
      { hashes: [{ sha256: 'abc', id: 'x' }] },
      /option "hashes\[0\]\.sha256" must be a SHA-256 digest as 64 hex digits/,
    ],
    [
      { keys: [KEY_A, KEY_A] },
      /option "keys\[1\]" must be distinct keys; received "a key listed twice.*Remove the repeat: one key identifies one client\./,
    ],
    [
      {
        keys: [
          { key: KEY_A, id: 'x' },
          { key: KEY_B, id: 'x' },
        ],
      },
      /option "keys\[1\]" must be distinct ids; received "x" \(string\)\. Give each key its own id/,
    ],
    [{ keys: [{ key: KEY_A, id: '' }] }, /option "keys\[0\]\.id" must be a non-empty string of printable ASCII/],
    [{ keys: [KEY_A], hashes: [sha(KEY_A)] }, /option "hashes\[0\]" must be distinct keys/],
    [
      { hashes: ['abc'] },
      /option "hashes\[0\]" must be a SHA-256 digest as 64 hex digits; received "abc" \(string\)\. Compute one: crypto\.createHash\('sha256'\)/,
    ],
    [{ hashes: [{ sha256: sha(KEY_A), id: 5 }] }, /option "hashes\[0\]\.id" must be a non-empty string/],
    [{ lookup: 'db' }, /option "lookup" must be a function/],
    [{ lookup: () => undefined, keys: [KEY_A] }, /option "keys" must be unset when lookup is given/],
    [{ lookup: () => undefined, hashes: [sha(KEY_A)] }, /option "hashes" must be unset when lookup is given/],
    [{ keys: [KEY_A], header: 'x api key' }, /option "header" must be a header name/],
    [{ keys: [KEY_A], scheme: 'Api Key' }, /option "scheme" must be an authentication scheme name/],
    [{ keys: [KEY_A], query: '' }, /option "query" must be a non-empty string/],
    [{ keys: [KEY_A], minKeyLength: 4 }, /option "minKeyLength" must be an integer from 8 to 1024/],
    [{ keys: [KEY_A], maxKeyLength: 10 }, /option "maxKeyLength" must be an integer from 16 to 65536/],
    [{ keys: [KEY_A], optional: 'no' }, /option "optional" must be true or false/],
    [{ keys: [KEY_A], setUserId: 1 }, /option "setUserId" must be true or false/],
    [{ keys: [KEY_A], realm: 'a"b' }, /option "realm" must be printable ASCII without quotes/],
    [{ keys: [KEY_A], publicPaths: ['x'] }, /option "publicPaths" must be path patterns/],
    [{ keys: [KEY_A], key: KEY_A }, /^apiKey\(\): unknown option "key"; did you mean "keys"\?$/],
  ]
  for (const [options, message] of cases)
    t.throws(() => apiKey(options as never), { name: 'ConfigError', message }, JSON.stringify(options).slice(0, 90))
})
