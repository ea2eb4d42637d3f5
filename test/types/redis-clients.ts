/**
 * Type tests, checked by `tsc` (npm test runs it first): the clients users have fit the
 * stores' structural RedisClient, with no cast. Never run.
 */
import type { Cluster as Cluster6, Redis as Redis6 } from 'ioredis'
import type { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5'
import { createClient } from 'redis'
import { fromNodeRedis } from '../../docs/examples/node-redis-client.js'
import { type RedisClient, redisSessionStore, redisStore } from '../../lib/index.js'

declare const redis6: Redis6
declare const cluster6: Cluster6
declare const redis5: Redis5
declare const cluster5: Cluster5

export const clients: RedisClient[] = [redis6, cluster6, redis5, cluster5, fromNodeRedis(createClient())]

export const stores = () => [
  redisStore({ client: redis5 }),
  redisStore({ client: cluster5 }),
  redisSessionStore({ client: redis6 }),
  redisSessionStore({ client: cluster6 }),
]

// @ts-expect-error: a node-redis client as it is lacks evalsha/hgetall: it needs the wrapper
export const unwrapped: RedisClient = createClient()
