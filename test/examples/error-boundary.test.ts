import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { rawExchange } from '../helpers/raw.js'

t.test('docs errorBoundary example: mapped 404, hidden 500, a cut stream, one report each', async (t) => {
  const example = await runExample(t, 'error-boundary.ts')
  const missing = await httpRequest(`${example.url}/orders/7`)
  t.equal(missing.status, 404)
  const body = JSON.parse(missing.text) as Record<string, string>
  t.equal(body.message, 'No order 7')
  t.equal(body.requestId, missing.headers['x-request-id'])
  const bug = await httpRequest(`${example.url}/bug`)
  t.equal(bug.status, 500)
  t.notOk(bug.text.includes('db-3'), 'the 500 does not leak the message')
  t.equal(bug.headers['x-request-id'], (JSON.parse(bug.text) as Record<string, string>).requestId)
  const cut = (
    await rawExchange(`${example.url}`, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  ).toString('latin1')
  t.match(cut, /^HTTP\/1\.1 200[\s\S]*first rows\n/)
  t.notOk(cut.endsWith('0\r\n\r\n'), 'the client sees a broken body, not a short success')
  const output = await example.waitForOutput(/"status":500,"action":"destroyed"/)
  t.ok(output)
  t.match(example.output(), /"status":404,"action":"answered","requestId":"[0-9a-f-]{36}"/)
  t.match(example.output(), /"status":500,"action":"answered"/)
})
