import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

t.test('docs when/unless example: the deadline for /api however it is spelled, no log for /health', async (t) => {
  const example = await runExample(t, 'when.ts')
  t.equal((await httpRequest(`${example.url}/pages/slow`)).text, 'done /pages/slow\n', 'no deadline outside /api')
  t.equal((await httpRequest(`${example.url}/api/slow`)).status, 503)
  const spelled = parseRawResponse(
    await rawExchange(example.url, 'GET //API/%73low HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  )
  t.equal(spelled.status, 503, 'another spelling of /api/slow gets the same deadline')
  await httpRequest(`${example.url}/health`)
  await httpRequest(`${example.url}/done`)
  await example.waitForOutput(/\/done 200/)
  t.notMatch(example.output(), /\/health/)
  t.match(example.output(), /\/pages\/slow 200\n\/api\/slow 503\n\/\/API\/%73low 503\n/)
})
