import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs accessLog example: one JSON line per request on stdout, errors named, secrets redacted', async (t) => {
  const example = await runExample(t, 'access-log.ts')
  const ok = await httpRequest(`${example.url}/search?q=secret-term`, {
    headers: { authorization: 'Bearer token-123', 'user-agent': 'docs-test' },
  })
  t.equal(ok.status, 200)
  const failed = await httpRequest(`${example.url}/fail`)
  t.equal(failed.status, 500)
  await example.waitForOutput(/"path":"\/fail"[^\n]*\n/)
  const lines = example
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  t.equal(lines.length, 2)
  t.match(lines[0], {
    level: 'info',
    method: 'GET',
    path: '/search?q=[redacted]',
    status: 200,
    outcome: 'finished',
    requestId: ok.headers['x-request-id'],
    traceId: /^[0-9a-f]{32}$/,
    requestHeaders: { 'user-agent': 'docs-test', authorization: '[redacted]' },
  })
  t.match(lines[1], {
    level: 'error',
    status: 500,
    error: 'inventory service unreachable',
    requestId: failed.headers['x-request-id'],
  })
  t.notMatch(example.output(), /secret-term|token-123/)
})
