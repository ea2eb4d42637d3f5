import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { startRedis } from '../helpers/redis.js'

t.test('docs rateLimit example: an address limit outside apiKey, a token bucket per client inside it', async (t) => {
  const example = await runExample(t, 'rate-limit.ts')
  t.match(example.output(), /ok\s+rateLimit wraps apiKey/)
  t.match(example.output(), /ok\s+apiKey wraps rateLimit/)
  const key = { 'x-api-key': 'dev-only-api-key-0123456789' }
  const first = await httpRequest(`${example.url}/export`, { headers: key })
  t.equal(first.status, 200)
  t.equal(first.headers.ratelimit, '"default";r=19;t=60, "client";r=0;t=1')
  t.equal(first.headers['x-ratelimit-remaining'], '0')
  const limited = await httpRequest(`${example.url}/items`, { headers: key })
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '1')
  t.match(JSON.parse(limited.text), { status: 429, code: 'too_many_requests', retryAfterSeconds: 1 })
  t.equal(limited.headers.ratelimit, '"default";r=18;t=60, "client";r=0;t=1')
  t.equal(limited.headers['ratelimit-policy'], '"default";q=20;w=60, "client";q=5;w=1')
  const health = await httpRequest(`${example.url}/health`)
  t.equal(health.headers.ratelimit, undefined)
  // Bad keys count against the address: the 18 left go, then 429.
  const statuses = []
  for (let i = 0; i < 19; i++)
    statuses.push((await httpRequest(`${example.url}/`, { headers: { 'x-api-key': 'guess-000000000000000' } })).status)
  t.same(statuses, [...Array(18).fill(401), 429])
})

t.test('docs rateLimit example with Redis: counted in Redis, served while Redis is paused', async (t) => {
  const redis = await startRedis(t)
  if (!redis) return
  const example = await runExample(t, 'rate-limit-redis.ts', { REDIS_PORT: String(redis.port) })
  const first = await httpRequest(example.url)
  t.equal(first.status, 200)
  t.equal(first.headers.ratelimit, '"default";r=99;t=120')
  t.same(await redis.client().keys('api:rl:*'), ['api:rl:{default:127.0.0.1}:s'])
  redis.pause()
  const during = await httpRequest(example.url)
  redis.resume()
  t.equal(during.status, 200, 'fail-open')
  t.equal(during.headers.ratelimit, undefined)
  t.match(await example.waitForOutput(/HttpOnionError/), /HttpOnionError/)
})

t.test('docs rateLimit example with node-redis: the same store through a wrapped client', async (t) => {
  const redis = await startRedis(t)
  if (!redis) return
  const example = await runExample(t, 'rate-limit-node-redis.ts', { REDIS_PORT: String(redis.port) })
  const first = await httpRequest(example.url)
  t.equal(first.status, 200)
  t.equal(first.headers.ratelimit, '"default";r=99;t=60')
  t.same(await redis.client().keys('api:rl:*'), ['api:rl:{default:127.0.0.1}:f'])
  t.equal((await httpRequest(example.url)).headers.ratelimit, '"default";r=98;t=60', 'counted in Redis')
})

t.test('docs rateLimit login example: slowed after three failures, then locked out', async (t) => {
  const example = await runExample(t, 'rate-limit-login.ts')
  const attempt = async (password = 'guess') => {
    const started = performance.now()
    const res = await httpRequest(example.url, { headers: { 'x-password': password } })
    return { ...res, ms: performance.now() - started }
  }
  t.equal((await attempt('correct horse battery staple')).status, 204)
  const answers = []
  for (let i = 0; i < 7; i++) answers.push(await attempt())
  t.same(
    answers.map((a) => a.status),
    [401, 401, 401, 401, 401, 429, 429],
  )
  t.same(
    answers.slice(0, 5).map((a) => a.headers['ratelimit-remaining']),
    ['4', '3', '2', '1', '0'],
    'the successful login was refunded',
  )
  t.ok(
    answers[3]!.ms >= 240 && answers[4]!.ms >= 490,
    `the 4th and 5th waited (${answers[3]!.ms}, ${answers[4]!.ms} ms)`,
  )
  t.equal(answers[5]!.headers['retry-after'], '900', 'the refusal starts a 15-minute lockout')
  t.equal(answers[5]!.headers['ratelimit-limit'], '5')
  t.match(Number(answers[6]!.headers['retry-after']), 900)
  t.equal((await attempt('correct horse battery staple')).status, 429, 'locked out, even with the right password')
})
