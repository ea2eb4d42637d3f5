import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs https-redirect example: redirects http, serves https and health checks', async (t) => {
  const example = await runExample(t, 'https-redirect.ts')
  const plain = await httpRequest(`${example.url}/account?tab=2`, { headers: { host: 'example.com' } })
  t.equal(plain.status, 308)
  t.equal(plain.headers.location, 'https://example.com/account?tab=2')
  t.equal((await httpRequest(`${example.url}/health`, { headers: { host: 'example.com' } })).text, 'healthy\n')
  const tls = await httpRequest(`${example.url}/account`, {
    headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https' },
  })
  t.equal(tls.text, 'secure\n')
})
