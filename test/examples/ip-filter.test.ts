import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs ipFilter example: the office and the VPN pass, the guest pool and others get 403', async (t) => {
  const example = await runExample(t, 'ip-filter.ts')
  const from = (ip: string) => httpRequest(example.url, { headers: { 'x-forwarded-for': ip } })
  t.equal((await from('10.8.1.2')).text, 'admin console for 10.8.1.2\n')
  t.equal((await from('::ffff:198.51.100.20')).text, 'admin console for 198.51.100.20\n')
  t.equal((await from('2001:db8:ab:1::9')).status, 200)
  const guest = await from('10.8.99.4')
  t.equal(guest.status, 403)
  t.equal(JSON.parse(guest.text).code, 'ip_forbidden')
  t.equal(JSON.parse(guest.text).requestId, guest.headers['x-request-id'])
  t.equal((await from('203.0.113.1')).status, 403)
})
