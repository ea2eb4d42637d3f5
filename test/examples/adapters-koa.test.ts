import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const secret = new TextEncoder().encode('dev-only-secret-of-at-least-32-bytes!!')

t.test(
  'docs adapters Koa example: the stack through toKoa, Koa route errors answered by the errorBoundary inside it',
  async (t) => {
    const example = await runExample(t, 'adapters-koa.ts')
    const health = await httpRequest(`${example.url}/health`)
    t.equal(health.text, 'ok')
    t.equal(health.headers['x-frame-options'], 'DENY')
    const refused = await httpRequest(`${example.url}/me`, { headers: { origin: 'https://app.example.com' } })
    t.equal(refused.status, 401)
    t.equal(refused.headers['access-control-allow-origin'], 'https://app.example.com')
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bob')
      .setExpirationTime('5m')
      .sign(secret)
    const auth = { authorization: `Bearer ${token}` }
    t.same(JSON.parse((await httpRequest(`${example.url}/me`, { headers: auth })).text), { user: 'bob' })
    const failed = await httpRequest(`${example.url}/report`, { headers: auth })
    t.equal(failed.status, 500)
    t.match(JSON.parse(failed.text), {
      code: 'internal_server_error',
      message: 'Internal Server Error',
      requestId: failed.headers['x-request-id'],
    })
    const missing = await httpRequest(`${example.url}/nothing-here`, { headers: auth })
    t.equal(missing.status, 404, "Koa's own 404")
    t.equal(missing.headers['x-content-type-options'], 'nosniff')
  },
)
