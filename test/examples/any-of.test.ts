import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs anyOf example: a key, a token or a password; one 401 listing all three', async (t) => {
  const secret = 'example-test-secret-of-32-bytes!!!'
  const example = await runExample(t, 'any-of.ts', {
    PARTNER_KEY: 'partner-key-for-the-example-0123',
    JWT_SECRET: secret,
    OPS_PASSWORD: 'ops pw',
  })
  const get = (headers: Record<string, string>) => httpRequest(`${example.url}/data`, { headers })
  const token = await new SignJWT({ sub: 'user-9' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(Buffer.from(secret))
  t.equal((await httpRequest(`${example.url}/health`)).text, 'ok\n')
  t.equal((await get({ 'x-api-key': 'partner-key-for-the-example-0123' })).text, 'hello partner-a\n')
  t.equal((await get({ authorization: `Bearer ${token}` })).text, 'hello user-9\n')
  t.equal((await get({ authorization: `Basic ${Buffer.from('ops:ops pw').toString('base64')}` })).text, 'hello ops\n')
  const none = await get({})
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'ApiKey header="x-api-key", Bearer, Basic realm="api", charset="UTF-8"')
})
