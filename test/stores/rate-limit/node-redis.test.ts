/**
 * redisStore() on a node-redis client, through the few lines of docs/examples/node-redis-client.ts:
 * the same contract as on ioredis, against a real redis-server.
 */
import { createClient } from 'redis'
import t from 'tap'
import { fromNodeRedis } from '../../../docs/examples/node-redis-client.js'
import { redisStore } from '../../../lib/index.js'
import { startRedis } from '../../helpers/redis.js'
import { rateLimitStoreContract } from './contract.js'

const redis = await startRedis(t)
if (redis) {
  const client = createClient({ url: `redis://127.0.0.1:${redis.port}` })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.quit())
  let n = 0
  rateLimitStoreContract(
    'redisStore() on node-redis',
    async (now) => redisStore({ client: fromNodeRedis(client), prefix: `nr${n++}:`, now, commandTimeoutMs: 10_000 }),
    { propertyRuns: 20 },
  )

  t.test(
    'redisStore() on node-redis: NOSCRIPT after SCRIPT FLUSH is answered by loading the script again',
    async (t) => {
      const store = redisStore({ client: fromNodeRedis(client), prefix: 'flush:' })
      const policy = { name: 'p', algorithm: 'fixed-window', windowMs: 60_000 } as const
      t.equal((await store.consume('k', policy, 10, 1)).remaining, 9)
      await client.scriptFlush()
      t.equal((await store.consume('k', policy, 10, 1)).remaining, 8)
      await store.close()
    },
  )
}
