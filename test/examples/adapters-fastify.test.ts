import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const secret = new TextEncoder().encode('dev-only-secret-of-at-least-32-bytes!!')

t.test('docs adapters Fastify example: the stack as a plugin, route errors answered by errorBoundary', async (t) => {
  const example = await runExample(t, 'adapters-fastify.ts')
  const health = await httpRequest(`${example.url}/health`)
  t.equal(health.text, 'ok')
  t.equal(health.headers['x-frame-options'], 'DENY')
  const preflight = await httpRequest(`${example.url}/me`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
  })
  t.equal(preflight.status, 204, 'answered in the onRequest hook, although Fastify has no OPTIONS route')
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('carol')
    .setExpirationTime('5m')
    .sign(secret)
  const auth = { authorization: `Bearer ${token}` }
  t.same(JSON.parse((await httpRequest(`${example.url}/me`, { headers: auth })).text), { user: 'carol' })
  const failed = await httpRequest(`${example.url}/report`, { headers: auth })
  t.equal(failed.status, 500)
  t.match(JSON.parse(failed.text), {
    code: 'internal_server_error',
    message: 'Internal Server Error',
    requestId: failed.headers['x-request-id'],
  })
  t.notMatch(failed.text, /10\.0\.0\.5/, "unlike Fastify's default handler, the 500 shows no message")
  const admin = await httpRequest(`${example.url}/admin/stats`)
  t.equal(admin.status, 401, 'the scoped hook asks for the API key')
  t.equal(admin.headers['x-frame-options'], 'DENY', "and the refusal carries the stack's headers")
  const stats = await httpRequest(`${example.url}/admin/stats`, {
    headers: { 'x-api-key': 'dev-only-admin-key-0123456789' },
  })
  t.match(JSON.parse(stats.text), { uptime: Number })
  t.equal(
    (await httpRequest(`${example.url}/health`, { headers: { 'x-api-key': 'wrong' } })).status,
    200,
    'outside the scope no key is asked for',
  )
  const missing = await httpRequest(`${example.url}/nothing-here`, { headers: auth })
  t.equal(missing.status, 404, "Fastify's own 404")
  t.equal(missing.headers['x-content-type-options'], 'nosniff')
})
