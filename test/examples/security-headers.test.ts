import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs security-headers example: a site policy, HSTS only over https', async (t) => {
  const example = await runExample(t, 'security-headers.ts')
  const res = await httpRequest(example.url)
  t.match(
    res.headers['content-security-policy'],
    /^default-src 'self'; .*img-src 'self' data: https:\/\/cdn\.example\.com; .*upgrade-insecure-requests$/,
  )
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(res.headers['referrer-policy'], 'strict-origin-when-cross-origin')
  t.equal(res.headers['strict-transport-security'], undefined)
  const tls = await httpRequest(example.url, {
    headers: { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https' },
  })
  t.equal(tls.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
})
