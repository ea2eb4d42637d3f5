import { gunzipSync } from 'node:zlib'
import { SignJWT } from 'jose'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

const secret = new TextEncoder().encode('dev-only-secret-0123456789abcdef')
const tokenFor = (tenant: string, user: string) =>
  new SignJWT({ tenant }).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(secret)

t.test(
  'docs saas example: public paths, JWT per user, a per-tenant limit from the store, gzip over 2 KB, JSON log lines',
  async (t) => {
    const example = await runExample(t, 'saas-stack.ts')
    const health = await httpRequest(`${example.url}/health`)
    t.equal(health.status, 200)
    t.equal(health.headers.ratelimit, undefined, 'public: no limit')
    t.equal((await httpRequest(`${example.url}/v1/projects`)).status, 401)

    const login = await httpRequest(`${example.url}/v1/auth/login`, { method: 'POST' })
    t.equal(login.status, 200)
    t.equal(login.headers.ratelimit, undefined)
    t.equal((await httpRequest(`${example.url}/v1/auth/register`, { method: 'POST' })).status, 201)
    const auth = { authorization: `Bearer ${JSON.parse(login.text).token}` }

    const me = await httpRequest(`${example.url}/v1/me`, { headers: { ...auth, 'accept-encoding': 'gzip' } })
    t.same(JSON.parse(me.text), { user: 'user-1', tenant: 'acme' })
    t.equal(me.headers['content-encoding'], undefined, 'under 2 KB: sent as is')
    t.equal(me.headers.ratelimit, '"tenant";r=99;t=60', "acme's limit, 100 a minute, read from the store")
    t.equal(me.headers['ratelimit-policy'], '"tenant";q=100;w=60')

    const projects = await httpRequest(`${example.url}/v1/projects`, {
      headers: { ...auth, 'accept-encoding': 'gzip' },
    })
    t.equal(projects.headers['content-encoding'], 'gzip')
    t.ok(gunzipSync(projects.body).length > 2048)

    // Another tenant: 10 a minute (the store's default), counted apart from acme and per tenant, not per user.
    const other = [await tokenFor('globex', 'user-7'), await tokenFor('globex', 'user-8')]
    const statuses: number[] = []
    for (let i = 0; i < 11; i++) {
      const res = await httpRequest(`${example.url}/v1/me`, { headers: { authorization: `Bearer ${other[i % 2]}` } })
      statuses.push(res.status)
    }
    t.same(statuses, [...Array(10).fill(200), 429])
    t.equal((await httpRequest(`${example.url}/v1/me`, { headers: auth })).headers.ratelimit, '"tenant";r=97;t=60')

    const line = await example.waitForOutput(/\{"time":[^\n]*"userId":"user-1"[^\n]*"path":"\/v1\/projects"[^\n]*\}/)
    const entry = JSON.parse(line)
    t.match(entry, {
      time: /^\d{4}-\d\d-\d\dT/,
      requestId: /^[0-9a-f-]{36}$/,
      tenantId: 'acme',
      userId: 'user-1',
      method: 'GET',
      path: '/v1/projects',
      status: 200,
      durationMs: Number,
      clientIp: '127.0.0.1',
    })
    const refused = JSON.parse(await example.waitForOutput(/\{[^\n]*"status":429[^\n]*\}/))
    t.match(refused, { tenantId: 'globex', userId: /^user-[78]$/, status: 429 })
    const anonymous = JSON.parse(await example.waitForOutput(/\{[^\n]*"path":"\/health"[^\n]*\}/))
    t.match(anonymous, { tenantId: null, userId: null, status: 200 })
  },
)
