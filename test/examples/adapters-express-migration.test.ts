import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test(
  'docs adapters Express migration example: one toExpress per layer, like helmet, cors and compression',
  async (t) => {
    const example = await runExample(t, 'adapters-express-migration.ts')
    const res = await httpRequest(`${example.url}/items`, {
      headers: { origin: 'https://app.example.com', 'accept-encoding': 'gzip' },
    })
    t.equal(res.status, 200)
    t.equal(res.headers['content-encoding'], 'gzip')
    t.equal((JSON.parse(gunzipSync(res.body).toString()) as { items: unknown[] }).items.length, 100)
    t.equal(res.headers['access-control-allow-origin'], 'https://app.example.com')
    t.equal(res.headers['access-control-allow-credentials'], 'true')
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers.vary, 'Accept-Encoding, Origin')
    const preflight = await httpRequest(`${example.url}/items`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    })
    t.equal(preflight.status, 204)
    t.equal(
      preflight.headers['x-frame-options'],
      'DENY',
      'the layer outside cors still adds its headers to the preflight',
    )
  },
)
