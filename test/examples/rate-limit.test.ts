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
