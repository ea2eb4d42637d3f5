// rateLimit() on Redis: every process and machine shares one exact count; a Redis outage
// serves requests unlimited and warns once a minute (docs/middleware/rate-limit.md).
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { rateLimit, redisStore, serverTimeouts } from 'http-onion'

const redis = new Redis({
  host: '127.0.0.1',
  port: Number(process.env.REDIS_PORT ?? 6379),
  enableAutoPipelining: true, // hits of concurrent requests share round trips
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000), // back within a second after an outage
})
redis.on('error', (err) => console.error(`redis: ${err.message}`))

const limit = rateLimit({
  limit: 100,
  windowMs: 60_000,
  algorithm: 'sliding-window',
  store: redisStore({ client: redis, prefix: 'api:rl:', commandTimeoutMs: 100 }),
  onStoreFailure: 'fail-open',
})

serverTimeouts(createServer(limit((_req, res) => res.end('hello\n')))).listen(3000)
