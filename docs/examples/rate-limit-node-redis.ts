// rateLimit() on Redis through node-redis instead of ioredis: the store takes any client
// that has the shape of RedisClient (docs/middleware/rate-limit.md, "Other Redis clients").
import { createServer } from 'node:http'
import { createClient } from 'redis'
import { rateLimit, redisStore, serverTimeouts } from 'http-onion'
import { fromNodeRedis } from './node-redis-client.js'

const redis = createClient({ url: `redis://127.0.0.1:${process.env.REDIS_PORT ?? 6379}` })
redis.on('error', (err: Error) => console.error(`redis: ${err.message}`))
await redis.connect()

const limit = rateLimit({
  limit: 100,
  windowMs: 60_000,
  store: redisStore({ client: fromNodeRedis(redis), prefix: 'api:rl:' }),
})

serverTimeouts(createServer(limit((_req, res) => res.end('hello\n')))).listen(3000)
