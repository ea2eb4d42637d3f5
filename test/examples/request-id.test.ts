import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('docs requestId example: proxy ids kept, client ids replaced, refusals carry the id', async (t) => {
  const example = await runExample(t, 'request-id.ts')
  const direct = await httpRequest(example.url, { headers: { 'x-request-id': 'chosen-by-client' } })
  t.match(direct.headers['x-request-id'], UUID_V7)
  t.equal(direct.text, `request ${direct.headers['x-request-id']}\n`)
  const proxied = await httpRequest(example.url, {
    headers: { 'x-correlation-id': 'lb-7f3a', 'x-forwarded-for': '203.0.113.5' },
  })
  t.equal(proxied.headers['x-request-id'], 'lb-7f3a')
  const invalid = await httpRequest(example.url, {
    headers: { 'x-request-id': 'has spaces in it', 'x-forwarded-for': '203.0.113.5' },
  })
  t.match(invalid.headers['x-request-id'], UUID_V7)
  const refused = await httpRequest(`${example.url}/private`)
  t.equal(refused.status, 401)
  t.equal((JSON.parse(refused.text) as { requestId: string }).requestId, refused.headers['x-request-id'])
})
