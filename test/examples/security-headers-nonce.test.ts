import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs security-headers-nonce example: a nonce per page, Permissions-Policy, CSP reports', async (t) => {
  const example = await runExample(t, 'security-headers-nonce.ts')
  const first = await httpRequest(example.url)
  const nonce = /<script nonce="([^"]+)">/.exec(first.text)?.[1]
  t.match(nonce, /^[A-Za-z0-9+/]{22}==$/)
  const csp = first.headers['content-security-policy'] as string
  t.ok(csp.includes(`script-src 'self' 'nonce-${nonce}'`), 'the page nonce is in script-src')
  t.ok(csp.includes(`style-src 'self' https: 'unsafe-inline' 'nonce-${nonce}'`), 'and in style-src')
  t.ok(csp.endsWith('; report-to csp'))
  t.equal(first.headers['reporting-endpoints'], 'csp="https://reports.example.com/csp"')
  t.equal(first.headers['permissions-policy'], 'camera=(), microphone=(), geolocation=(self)')
  const second = await httpRequest(example.url)
  t.not(/<script nonce="([^"]+)">/.exec(second.text)?.[1], nonce, 'the next page has another nonce')
})
