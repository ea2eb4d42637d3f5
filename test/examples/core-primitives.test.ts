import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs/core.md example: state, start and end hooks, transformBody', async (t) => {
  const example = await runExample(t, 'core-primitives.ts')
  t.match(example.output(), /ok\s+tenantFromHost wraps tenantHeader/)
  const small = await httpRequest(`${example.url}/`, { headers: { host: 'acme.example' } })
  t.equal(small.headers['x-tenant'], 'acme')
  t.equal(small.headers['content-length'], '5')
  t.equal(small.text, 'small')
  const big = await httpRequest(`${example.url}/big`)
  t.equal(big.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(big.body).toString(), 'x'.repeat(4096))
  t.match(
    await example.waitForOutput(/"status":200,"outcome":"finished","bytes":\d+\}\n.*"bytes":\d+/),
    /"ip":"127\.0\.0\.1"/,
  )
})
