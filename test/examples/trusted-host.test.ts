import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs trusted-host example: listed hosts served, apex redirected, others refused', async (t) => {
  const example = await runExample(t, 'trusted-host.ts')
  t.equal(
    (await httpRequest(example.url, { headers: { host: 'www.example.com' } })).text,
    'hello from www.example.com\n',
  )
  t.equal((await httpRequest(example.url, { headers: { host: 'eu.api.example.com' } })).status, 200)
  const apex = await httpRequest(`${example.url}/pricing?plan=pro`, { headers: { host: 'example.com' } })
  t.equal(apex.status, 308)
  t.equal(apex.headers.location, 'http://www.example.com/pricing?plan=pro')
  const evil = await httpRequest(example.url, { headers: { host: 'evil.test' } })
  t.equal(evil.status, 400)
  t.equal(JSON.parse(evil.text).code, 'host_not_allowed')
})
