import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const secret = Buffer.from('dev-only-secret-of-at-least-32-bytes!!')
const token = (claims: Record<string, unknown>, exp = '5m') =>
  new SignJWT({ tenant: 'acme', scope: 'orders:read', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setIssuer('https://id.example/')
    .setAudience('api://orders')
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(secret)

t.test('docs jwtAuth example: public paths, typed claims, 401 and 403 with challenges, CORS on refusals', async (t) => {
  const example = await runExample(t, 'jwt-auth.ts')
  t.match(example.output(), /jwtAuth \(RS256 jwks https:\/\/id\.example\/\.well-known\/jwks\.json\)/)
  t.equal((await httpRequest(`${example.url}/health`)).text, 'ok\n')
  const missing = await httpRequest(`${example.url}/orders`, { headers: { origin: 'https://app.example' } })
  t.equal(missing.status, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="orders"')
  t.equal(missing.headers['access-control-allow-origin'], 'https://app.example', 'the refusal is readable by the app')
  const ok = await httpRequest(`${example.url}/orders`, { headers: { authorization: `Bearer ${await token({})}` } })
  t.same(JSON.parse(ok.text), { user: 'alice', tenant: 'acme' })
  const noScope = await httpRequest(`${example.url}/orders`, {
    headers: { authorization: `Bearer ${await token({ scope: 'profile' })}` },
  })
  t.equal(noScope.status, 403)
  t.match(noScope.headers['www-authenticate'], /error="insufficient_scope".*scope="orders:read"/)
  const expired = await httpRequest(`${example.url}/orders`, {
    headers: { authorization: `Bearer ${await token({}, '-1m')}` },
  })
  t.equal(JSON.parse(expired.text).code, 'token_expired')
  const sneaky = await httpRequest(`${example.url}/docs/../orders`)
  t.equal(sneaky.status, 401, 'a public prefix does not open a path that normalises elsewhere')
})
