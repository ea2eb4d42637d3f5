import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test("docs timing example: the handler's db metric and the total, in both headers", async (t) => {
  const example = await runExample(t, 'timing.ts')
  const res = await httpRequest(example.url)
  t.same(JSON.parse(res.text), ['ada', 'grace'])
  const match = /^db;dur=(\d+(?:\.\d+)?);desc="users query", total;dur=(\d+\.\d)$/.exec(
    String(res.headers['server-timing']),
  )
  t.ok(match, String(res.headers['server-timing']))
  t.ok(Number(match![2]) >= Number(match![1]) - 0.1, 'the total covers the db time')
  t.equal(res.headers['x-response-time'], `${match![2]}ms`)
})
