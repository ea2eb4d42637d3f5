import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test(
  "docs adapters fromExpress example: Express's JSON parser in a raw stack, its errors answered by errorBoundary",
  async (t) => {
    const example = await runExample(t, 'adapters-from-express.ts')
    t.match(example.output(), /express\.json \(Connect\/Express middleware\)/)
    const json = { 'content-type': 'application/json' }
    const parsed = await httpRequest(example.url, { method: 'POST', headers: json, body: '{"order":7}' })
    t.same(JSON.parse(parsed.text), { received: { order: 7 } })
    const malformed = await httpRequest(example.url, { method: 'POST', headers: json, body: '{"order":' })
    t.equal(malformed.status, 400, "body-parser's next(err) with status 400 becomes the boundary's 400")
    t.equal(JSON.parse(malformed.text).requestId, malformed.headers['x-request-id'])
    const tooLarge = await httpRequest(example.url, {
      method: 'POST',
      headers: json,
      body: `{"pad":"${'x'.repeat(70 * 1024)}"}`,
    })
    t.equal(tooLarge.status, 413)
  },
)
