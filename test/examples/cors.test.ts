import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs cors example: preflight before auth, CORS headers on a 401, listed origins only', async (t) => {
  const example = await runExample(t, 'cors.ts')
  const pre = await httpRequest(`${example.url}/items`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://pr-7.preview.example.com',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], 'https://pr-7.preview.example.com')
  t.equal(pre.headers['access-control-max-age'], '7200')
  const denied = await httpRequest(`${example.url}/items`, { headers: { origin: 'https://app.example.com' } })
  t.equal(denied.status, 401)
  t.equal(denied.headers['access-control-allow-origin'], 'https://app.example.com')
  const ok = await httpRequest(`${example.url}/items`, {
    headers: { origin: 'http://localhost:5173', authorization: 'Bearer demo' },
  })
  t.equal(ok.headers['access-control-expose-headers'], 'x-request-id')
  t.equal(ok.headers['access-control-allow-credentials'], 'true')
  const evil = await httpRequest(`${example.url}/items`, {
    headers: { origin: 'https://app.example.com.evil.test', authorization: 'Bearer demo' },
  })
  t.equal(evil.headers['access-control-allow-origin'], undefined)
})
