import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const tick = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

t.test('docs loadShedding example: a blocking request makes the queued ones shed, then it recovers', async (t) => {
  const example = await runExample(t, 'load-shedding.ts')
  t.equal((await httpRequest(`${example.url}/`)).status, 200)
  const report = httpRequest(`${example.url}/report`)
  await example.waitForOutput(/report: busy/)
  // Sent while the server is blocked: answered after the block, while the delay is high.
  const during = await Promise.all([httpRequest(`${example.url}/a`), httpRequest(`${example.url}/health`)])
  t.equal((await report).status, 200)
  t.equal(during[0].status, 503)
  t.equal(during[0].headers['retry-after'], '1')
  t.equal(during[1].status, 200, 'the health check is exempt')
  await tick(400)
  t.equal((await httpRequest(`${example.url}/b`)).status, 200, 'recovered')
  t.match(example.output(), /shed \/a \(eventLoopDelay\)/)
})
