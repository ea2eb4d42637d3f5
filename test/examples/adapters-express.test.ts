import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const secret = new TextEncoder().encode('dev-only-secret-of-at-least-32-bytes!!')

t.test(
  'docs adapters Express example: the stack through toExpress, route errors answered by errorBoundary',
  async (t) => {
    const example = await runExample(t, 'adapters-express.ts')
    const origin = { origin: 'https://app.example.com' }
    const health = await httpRequest(`${example.url}/health`, { headers: origin })
    t.equal(health.text, 'ok')
    t.equal(health.headers['x-content-type-options'], 'nosniff')
    t.equal(health.headers['x-powered-by'], undefined, "Express's X-Powered-By is removed")
    t.equal(health.headers['access-control-allow-origin'], 'https://app.example.com')
    t.match(health.headers['ratelimit-policy'], /q=100;w=60/)
    const refused = await httpRequest(`${example.url}/me`, { headers: origin })
    t.equal(refused.status, 401)
    t.equal(refused.headers['access-control-allow-origin'], 'https://app.example.com')
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(secret)
    const me = await httpRequest(`${example.url}/me`, {
      headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' },
    })
    t.same(JSON.parse(me.text), { user: 'alice' }, 'claims reach the Express route; a small body is not compressed')
    const failed = await httpRequest(`${example.url}/report`, {
      headers: { ...origin, authorization: `Bearer ${token}` },
    })
    t.equal(failed.status, 500)
    const body = JSON.parse(failed.text) as { code: string; message: string; requestId: string }
    t.match(body, { code: 'internal_server_error', message: 'Internal Server Error' })
    t.equal(body.requestId, failed.headers['x-request-id'])
    t.equal(failed.headers['access-control-allow-origin'], 'https://app.example.com')
    t.notMatch(failed.text, /10\.0\.0\.5/)
    await example.waitForOutput(/errorBoundary\(\): GET \/report failed \(500, answered/)
  },
)
