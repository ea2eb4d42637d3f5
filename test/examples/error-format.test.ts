import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test(
  'docs error-format example: problem details for every refusal, a reshaped 429, a legacy text body',
  async (t) => {
    const example = await runExample(t, 'error-format.ts')
    const unauthenticated = await httpRequest(`${example.url}/me`)
    t.equal(unauthenticated.status, 401)
    t.equal(unauthenticated.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.equal(unauthenticated.headers['www-authenticate'], 'Bearer')
    t.same(JSON.parse(unauthenticated.text), {
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'An access token is required',
      instance: '/me',
      code: 'missing_token',
      requestId: unauthenticated.headers['x-request-id'],
    })
    t.equal((await httpRequest(`${example.url}/me`)).status, 401)
    const limited = await httpRequest(`${example.url}/me`)
    t.equal(limited.status, 503)
    t.ok(limited.headers['retry-after'], "the limiter's Retry-After stays")
    t.match(JSON.parse(limited.text), {
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'Slow down, then try again.',
      code: 'slow_down',
    })
    t.equal((await httpRequest(`${example.url}/legacy/`)).text, 'legacy ok\n')
    const legacy = await httpRequest(`${example.url}/legacy/`)
    t.equal(legacy.status, 429)
    t.equal(legacy.headers['content-type'], 'text/plain; charset=utf-8')
    t.equal(legacy.text, 'Too many requests, please try again later.')
    t.ok(legacy.headers['retry-after'])
  },
)
