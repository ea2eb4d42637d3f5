import { createHash } from 'node:crypto'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs apiKey example: keys by digest, identity in state, 401 otherwise', async (t) => {
  const key = 'partner-a-key-0123456789abcdef'
  const example = await runExample(t, 'api-key.ts', {
    PARTNER_A_SHA256: createHash('sha256').update(key).digest('hex'),
  })
  t.equal((await httpRequest(`${example.url}/health`)).text, 'ok\n')
  t.equal((await httpRequest(`${example.url}/data`, { headers: { 'x-api-key': key } })).text, 'hello partner-a\n')
  const wrong = await httpRequest(`${example.url}/data`, { headers: { 'x-api-key': `${key}x` } })
  t.equal(wrong.status, 401)
  t.equal(JSON.parse(wrong.text).code, 'invalid_api_key')
  const missing = await httpRequest(`${example.url}/data`)
  t.equal(missing.headers['www-authenticate'], 'ApiKey header="x-api-key"')
})
