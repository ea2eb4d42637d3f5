import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { createDemoServer, DEMO_ROUTES } from '../../docs/examples/demo-server.js'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { rawRequest } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'

const secrets = { jwtSecret: 'j'.repeat(40), adminKey: 'admin-key-0123456789abcdef', sessionSecret: 's'.repeat(40) }

t.test('demo server: every route through the production stack', async (t) => {
  const lines: Array<{ path: string; status: number }> = []
  const { server, explain, token, life } = await createDemoServer(secrets, (line) => {
    lines.push(JSON.parse(line) as { path: string; status: number })
  })
  t.match(
    server,
    { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, timeout: 120_000 },
    'serverTimeouts() defaults, set before listening',
  )
  const { url } = await listen(t, server)
  const home = await httpRequest(url)
  t.equal(home.status, 200)
  t.match(JSON.parse(home.text), { hello: 'http-onion', requestId: home.headers['x-request-id'] })
  t.match(home.headers, {
    'x-request-id': /^[0-9a-f-]{36}$/,
    'x-content-type-options': 'nosniff',
    'ratelimit-policy': /q=600/,
    'x-served-by': 'http-onion-demo',
  })
  t.equal((await httpRequest(`${url}/health`)).text, 'ok')
  t.equal((await httpRequest(`${url}/readyz`)).status, 503, 'not ready before the lifespan started')
  await life.start()
  t.same(JSON.parse((await httpRequest(`${url}/readyz`)).text), { status: 'ready' })
  t.same(JSON.parse((await httpRequest(`${url}/healthz`)).text), { status: 'alive' })
  t.equal((await httpRequest(`${url}/stream`)).text, 'line 1\nline 2\nline 3\nline 4\nline 5\n')

  const first = await httpRequest(`${url}/visits`)
  const cookie = String(first.headers['set-cookie']).split(';')[0]!
  t.same(JSON.parse(first.text), { visits: 1 })
  t.same(JSON.parse((await httpRequest(`${url}/visits`, { headers: { cookie } })).text), { visits: 2 })

  t.same(
    JSON.parse(
      (await httpRequest(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' }))
        .text,
    ),
    { received: 'hi', captured: { text: 'hi', truncated: false } },
    'the body as read, and the copy bodyCapture kept of it',
  )
  const big = await httpRequest(`${url}/big`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(big.headers['content-encoding'], 'gzip', 'a GET route past the compression threshold')
  t.ok(Number(gunzipSync(big.body).length) > 16_000)
  t.same(JSON.parse((await httpRequest(`${url}/slow?ms=5`)).text), { waitedMs: 5 })

  const boom = await httpRequest(`${url}/boom`)
  t.equal(boom.status, 500)
  t.notMatch(boom.text, /on purpose/, 'a 500 never shows the exception')

  t.equal((await httpRequest(`${url}/api/me`)).status, 401)
  t.equal(home.headers['server-timing'], undefined, 'no backend timings for an anonymous client')
  const me = await httpRequest(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(me.status, 200)
  t.match(me.headers['server-timing'], /^total;dur=/, 'Server-Timing for the authenticated client')
  t.match(JSON.parse(me.text), { user: 'demo-user', claims: { sub: 'demo-user', iat: Number, exp: Number } })
  t.equal((await httpRequest(`${url}/admin/stats`)).status, 401)
  t.equal((await httpRequest(`${url}/admin/stats`, { headers: { 'x-api-key': secrets.adminKey } })).status, 200)

  const evil = await httpRequest(url, { headers: { host: 'evil.example' } })
  t.equal(evil.status, 400)
  t.match(JSON.parse(evil.text), { code: 'host_not_allowed' })

  const missing = await httpRequest(`${url}/nope`)
  t.equal(missing.status, 404)
  t.match(JSON.parse(missing.text), { status: 404, code: 'not_found' })
  t.match(explain, /request path/)
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(lines.length, 15, 'one access log line per request')
  t.match(
    lines.find((l) => l.path === '/boom'),
    { status: 500 },
  )
})

t.test('demo server: the entry point prints its URL and a curl command per route, explain() on request', async (t) => {
  const demo = await runExample(t, 'demo-server.ts', { JWT_SECRET: secrets.jwtSecret, ADMIN_KEY: secrets.adminKey })
  await demo.waitForOutput(/DEMO_EXPLAIN=1/)
  t.match(demo.output(), /http-onion demo listening on http:\/\/127\.0\.0\.1:\d+\//)
  for (const route of DEMO_ROUTES) t.match(demo.output(), `  ${route.method} ${route.path}: ${route.shows}\n    curl `)
  t.match(demo.output(), `x-api-key: ${secrets.adminKey}`)
  t.notMatch(demo.output(), /request path \(outermost first\)/, 'explain() only when asked')
  t.ok(demo.output().split('\n').length < 30, 'a screenful, not 80 lines')
  const token = /Bearer ([\w.-]+)/.exec(demo.output())![1]!
  t.equal((await httpRequest(`${demo.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  t.equal((await httpRequest(`${demo.url}/health`)).text, 'ok')
  t.equal((await httpRequest(`${demo.url}/readyz`)).status, 200, 'ready once served')
  const exited = new Promise<number | null>((ok) => demo.process.once('exit', (code) => ok(code)))
  demo.process.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM drains the demo and exits 0')
})

t.test('demo server: DEMO_EXPLAIN=1 prints the stack; a busy port names PORT', async (t) => {
  const demo = await runExample(t, 'demo-server.ts', { DEMO_EXPLAIN: '1' })
  await demo.waitForOutput(/response path/)
  t.match(demo.output(), /request path \(outermost first\)/)

  // Without the test preload, on the port a server of this test holds.
  const { port } = await listen(
    t,
    createServer((_q, res) => res.end()),
  )
  const child = spawn(process.execPath, [...process.execArgv, 'docs/examples/demo-server.ts'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d))
  child.stderr.on('data', (d: Buffer) => (output += d))
  const code = await new Promise((ok) => child.once('exit', ok))
  t.equal(code, 1)
  t.match(output, `http-onion demo: port ${port} on 127.0.0.1 is in use. Set PORT to another, e.g. PORT=3001 npm start`)
  t.notMatch(output, /at .*\.js:\d+/, 'a sentence, not a stack trace')
})

t.test('demo server: no preflight-shaped OPTIONS reaches /admin/stats without the key', async (t) => {
  const { server } = await createDemoServer(secrets, () => undefined)
  const { url } = await listen(t, server)
  const send = (origins: string[], key?: string) =>
    rawRequest(url, 'OPTIONS', '/admin/stats', [
      ['Host', '127.0.0.1'],
      ...origins.map((o) => ['Origin', o] as const),
      ['Access-Control-Request-Method', 'GET'],
      ...(key === undefined ? [] : [['X-Api-Key', key] as const]),
    ])
  const allowed = 'http://localhost:3000'
  const cases: Array<[string[], number]> = [
    [[allowed, allowed], 400],
    [[allowed, 'http://evil.example'], 400],
    [['http://evil.example', allowed], 400],
    [[allowed], 204],
    [['http://evil.example'], 403],
  ]
  for (const [origins, status] of cases) {
    const res = await send(origins)
    t.equal(res.status, status, origins.join(' + '))
    t.notMatch(res.body.toString(), /admin/, `${origins.join(' + ')}: no admin payload`)
  }
  t.equal((await send([allowed, allowed], secrets.adminKey)).status, 400, 'refused by cors() before the key is read')
})
