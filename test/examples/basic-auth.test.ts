import t from 'tap'
import { hashPassword } from '../../lib/index.js'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs basicAuth example: a scrypt user passes, others get the Basic challenge', async (t) => {
  const example = await runExample(t, 'basic-auth.ts', { OPS_SCRYPT: await hashPassword('s3cret ops password') })
  const as = (user: string, password: string) =>
    httpRequest(`${example.url}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    })
  t.equal((await httpRequest(`${example.url}/health`)).text, 'ok\n')
  t.equal((await as('ops', 's3cret ops password')).text, 'metrics for ops\n')
  const wrong = await as('ops', 'guess')
  t.equal(wrong.status, 401)
  t.equal(JSON.parse(wrong.text).code, 'invalid_credentials')
  t.equal(wrong.headers['www-authenticate'], 'Basic realm="metrics", charset="UTF-8"')
})
