import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs bodyCapture example: the failing body is in the report, password masked', async (t) => {
  const example = await runExample(t, 'body-capture.ts')
  const json = { 'content-type': 'application/json' }
  t.equal(
    (await httpRequest(example.url, { method: 'POST', headers: json, body: '{"user":"ada","password":"x"}' })).text,
    'hello ada\n',
  )
  const bad = await httpRequest(`${example.url}/login`, {
    method: 'POST',
    headers: json,
    body: '{"usr":"ada","password":"hunter2"}',
  })
  t.equal(bad.status, 422)
  const line = await example.waitForOutput(/422 \/login body: .*\n/)
  t.equal(line, '422 /login body: {"usr":"ada","password":"***"}\n')
  t.notMatch(example.output(), /hunter2/)
  await httpRequest(`${example.url}/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: 'binary',
  })
  t.equal(
    await example.waitForOutput(/400 \/upload body: .*\n/),
    '400 /upload body: \n',
    'binary bodies are not captured',
  )
})
