import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs timeout example: 503 with Retry-After at the deadline, longer deadline per path', async (t) => {
  const example = await runExample(t, 'timeout.ts')
  t.equal((await httpRequest(`${example.url}/fast`)).text, 'done /fast\n')
  const started = Date.now()
  const slow = await httpRequest(`${example.url}/slow`)
  t.equal(slow.status, 503)
  t.equal(slow.headers['retry-after'], '5')
  t.equal((JSON.parse(slow.text) as { code: string }).code, 'timeout')
  t.ok(Date.now() - started < 450, 'answered at the deadline, not when the work would have ended')
  const report = await httpRequest(`${example.url}/reports/q3`)
  t.equal(report.text, 'done /reports/q3\n')
  t.notMatch(example.output(), /Error|Warning/, 'a cancelled handler is not an error')
})
