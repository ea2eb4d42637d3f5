import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs conditional example: a hashed report revalidates to 304, a stale PUT gets 412', async (t) => {
  const example = await runExample(t, 'conditional.ts')
  await example.waitForOutput(/conditional/)
  t.match(example.output(), /compression[\s\S]*conditional \(ETag from whole bodies\)/)

  const gz = { 'accept-encoding': 'gzip' }
  const report = await httpRequest(`${example.url}/report`, { headers: gz })
  t.equal(report.status, 200)
  t.equal(JSON.parse(gunzipSync(report.body).toString()).rows.length, 500)
  t.match(report.headers.etag, /^W\/"[A-Za-z0-9_-]{22}"$/, 'hashed, then weakened by gzip')
  const again = await httpRequest(`${example.url}/report`, {
    headers: { ...gz, 'if-none-match': report.headers.etag! },
  })
  t.equal(again.status, 304)
  t.equal(again.body.length, 0)

  const doc = await httpRequest(`${example.url}/doc`)
  t.equal(doc.headers.etag, '"v1"')
  t.equal((await httpRequest(`${example.url}/doc`, { headers: { 'if-none-match': '"v1"' } })).status, 304)
  const saved = await httpRequest(`${example.url}/doc`, {
    method: 'PUT',
    headers: { 'if-match': '"v1"' },
    body: 'second',
  })
  t.equal(saved.status, 200)
  t.equal(saved.headers.etag, '"v2"')
  const lost = await httpRequest(`${example.url}/doc`, {
    method: 'PUT',
    headers: { 'if-match': '"v1"' },
    body: 'stale',
  })
  t.equal(lost.status, 412)
  t.equal(JSON.parse(lost.text).code, 'precondition_failed')
  t.equal((await httpRequest(`${example.url}/doc`)).text, 'second', 'the stale write was refused')
})
