import t from 'tap'
import { redisStore } from '../../lib/stores/redis.js'
import { startRedis } from '../helpers/redis.js'
import { rateLimitStoreContract } from './contract.js'

const redis = await startRedis(t)
if (redis) {
  const client = redis.client()
  let stores = 0
  rateLimitStoreContract('redisStore()', async (now) => redisStore({ client, prefix: `c${stores++}:`, now, commandTimeoutMs: 10_000 }), { propertyRuns: 40 })
}
