import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

// The README's example, run as its own process the way a reader would run it.

t.test('README example: a compressed JSON answer with an id, CORS and rate-limit headers, logged', async (t) => {
  const example = await runExample(t, 'readme-example.ts')
  const res = await httpRequest(`${example.url}/items`, {
    headers: { origin: 'https://app.example.com', 'accept-encoding': 'gzip' },
  })
  t.equal(res.status, 200)
  t.match(res.headers, {
    'content-encoding': 'gzip',
    'x-request-id': /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'access-control-allow-origin': 'https://app.example.com',
    'ratelimit-policy': '"default";q=100;w=60',
    ratelimit: '"default";r=99;t=60',
  })
  const body = JSON.parse(gunzipSync(res.body).toString()) as { hello: string; items: unknown[] }
  t.equal(body.hello, 'world')
  t.equal(body.items.length, 200)
  const line = JSON.parse(await example.waitForOutput(/\{[^\n]*"path":"\/items"[^\n]*\}/)) as Record<string, unknown>
  t.match(line, {
    method: 'GET',
    path: '/items',
    status: 200,
    outcome: 'finished',
    requestId: res.headers['x-request-id'],
  })
})

t.test('README example: a failing handler gets a 500 that hides the error, with the request id', async (t) => {
  const example = await runExample(t, 'readme-example.ts')
  const res = await httpRequest(`${example.url}/boom`, { headers: { origin: 'https://app.example.com' } })
  t.equal(res.status, 500)
  t.notMatch(res.text, /hunter2/)
  t.match(JSON.parse(res.text), { status: 500, requestId: res.headers['x-request-id'] })
  t.equal(res.headers['access-control-allow-origin'], 'https://app.example.com', 'the 500 carries CORS headers')
  const line = JSON.parse(await example.waitForOutput(/\{[^\n]*"path":"\/boom"[^\n]*\}/)) as Record<string, unknown>
  t.match(line, { status: 500, level: 'error', error: /hunter2/ }, 'the log, not the client, has the message')
})

t.test('README example: a preflight from an origin not listed is refused', async (t) => {
  const example = await runExample(t, 'readme-example.ts')
  const res = await httpRequest(example.url, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  })
  t.equal(res.status, 403)
  t.match(JSON.parse(res.text), { code: 'cors_origin_not_allowed' })
  t.equal(res.headers['access-control-allow-origin'], undefined)
})
