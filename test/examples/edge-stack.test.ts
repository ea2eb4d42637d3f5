import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs edge-stack example: identity, host check, redirect, headers and CORS in order', async (t) => {
  const example = await runExample(t, 'edge-stack.ts')
  t.match(await example.waitForOutput(/ok\s+proxyHeaders wraps trustedHost[^\n]*/), /ok/)
  t.notMatch(example.output(), /BROKEN/)
  const viaProxy = {
    host: 'internal',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'api.example.com',
    origin: 'https://app.example.com',
  }
  const ok = await httpRequest(`${example.url}/items`, { headers: viaProxy })
  t.equal(ok.status, 200)
  t.equal(ok.text, '{"path":"/items"}')
  t.equal(ok.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com')
  const plain = await httpRequest(`${example.url}/items?x=1`, { headers: { ...viaProxy, 'x-forwarded-proto': 'http' } })
  t.equal(plain.status, 308)
  t.equal(plain.headers.location, 'https://api.example.com/items?x=1')
  t.equal(
    (await httpRequest(`${example.url}/health`, { headers: { ...viaProxy, 'x-forwarded-proto': 'http' } })).status,
    200,
  )
  const evil = await httpRequest(`${example.url}/`, { headers: { ...viaProxy, 'x-forwarded-host': 'evil.test' } })
  t.equal(evil.status, 400)
  t.equal(JSON.parse(evil.text).code, 'host_not_allowed')
  t.equal(evil.headers['x-frame-options'], 'DENY', 'refusals carry the security headers too')
})
