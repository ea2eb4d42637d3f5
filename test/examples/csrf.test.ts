import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test(
  'docs csrf example: same origin and trusted front ends pass, cross-site and old forged posts do not',
  async (t) => {
    const example = await runExample(t, 'csrf.ts')
    const post = (path: string, headers: Record<string, string>) =>
      httpRequest(`${example.url}${path}`, { method: 'POST', headers: { host: 'bank.example.com', ...headers } })
    t.equal((await post('/transfer', { 'sec-fetch-site': 'same-origin' })).status, 200)
    const cross = await post('/transfer', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })
    t.equal(cross.status, 403)
    t.equal(JSON.parse(cross.text).code, 'csrf_cross_origin')
    t.equal(
      (await post('/transfer', { 'sec-fetch-site': 'same-site', origin: 'https://admin.example.com' })).status,
      200,
    )
    t.equal(
      (await post('/transfer', { 'sec-fetch-site': 'cross-site', origin: 'https://pr-9.preview.example.com' })).status,
      200,
    )
    t.equal((await post('/webhooks/payments', { 'sec-fetch-site': 'cross-site' })).status, 200)
    t.equal((await post('/webhooks/..%2ftransfer', { 'sec-fetch-site': 'cross-site' })).status, 403)
    // Behind the (loopback) proxy, the client's scheme and host decide.
    const forwarded = {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'bank.example.com',
    }
    t.equal((await post('/transfer', { ...forwarded, origin: 'https://bank.example.com' })).status, 200)
    t.equal((await post('/transfer', { ...forwarded, origin: 'http://bank.example.com' })).status, 403)

    // An old browser: neither header. With a session, only the token lets it through.
    const page = await httpRequest(`${example.url}/`, { headers: { host: 'bank.example.com' } })
    const token = /content="([^"]+)"/.exec(page.text)![1]!
    const cookie = String(page.headers['set-cookie']![0]).split(';')[0]!
    const forged = await post('/transfer', { cookie })
    t.equal(forged.status, 403)
    t.equal(JSON.parse(forged.text).code, 'csrf_token')
    t.equal((await post('/transfer', { cookie, 'x-csrf-token': token })).status, 200)
    t.equal((await post('/transfer', {})).status, 200, 'no session, no ambient authority: a plain API client')
  },
)
