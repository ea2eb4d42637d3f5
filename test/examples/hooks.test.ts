import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs hooks example: a before hook answers, after hooks touch every answer, teardown logs each', async (t) => {
  const example = await runExample(t, 'hooks.ts')
  const first = await httpRequest(`${example.url}/`)
  t.equal(first.text, 'maintenance off\n')
  t.equal(first.headers['x-served-by'], 'api-1')
  await httpRequest(`${example.url}/maintenance/on`)
  const refused = await httpRequest(`${example.url}/orders`)
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '60')
  t.equal(refused.headers['x-served-by'], 'api-1', "after hooks see the before hook's answer")
  t.equal(refused.headers['cache-control'], 'no-store')
  t.equal((await httpRequest(`${example.url}/maintenance/off`)).text, 'maintenance off\n')
  await example.waitForOutput(/GET \/maintenance\/off 200 finished/)
  t.match(example.output(), /GET \/ 200 finished\nGET \/maintenance\/on 200 finished\nGET \/orders 503 finished\n/)
})
