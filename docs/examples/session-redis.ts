// session() with Redis: only a signed id in the cookie, the data in Redis; an outage is a
// 503, never a logout (docs/middleware/session.md).
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { compose, errorBoundary, redisSessionStore, serverTimeouts, session } from 'http-onion'

const redis = new Redis(Number(process.env.REDIS_PORT ?? 6379), '127.0.0.1', { retryStrategy: () => 200 })
redis.on('error', (err) => console.error(`redis: ${err.message}`))

const sessions = session<{ userId: string; cart: string[] }>({
  secrets: [process.env.SESSION_SECRET ?? 'dev-only-session-secret-of-32-bytes!!'],
  store: redisSessionStore({ client: redis, commandTimeoutMs: 300 }),
})

const app = compose(
  errorBoundary(),
  sessions,
)(async (req, res) => {
  const s = sessions.get(req)
  const item = new URL(req.url!, 'http://localhost').searchParams.get('add')
  if (item) {
    s.set('cart', [...(s.get('cart') ?? []), item])
    await s.save() // learn now whether the write landed, instead of at response start
  }
  res.end(JSON.stringify({ cart: s.get('cart') ?? [] }))
})

serverTimeouts(createServer(app)).listen(3000)
