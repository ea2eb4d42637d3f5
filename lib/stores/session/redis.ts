/**
 * The Redis session store: sessions shared by every process and machine using one Redis
 * (or Redis Cluster). A session is one hash, `prefix{id}`, with its expiry set to the
 * session's remaining lifetime, so Redis forgets it on time even if no request comes.
 *
 * Concurrency (per-field merge): a request writes only the fields it changed, with one
 * Lua script that applies the patch and the expiry atomically, so two requests of one
 * session that change different fields both keep their change, and the same field keeps
 * the last write. The script refuses to patch a session that no longer exists unless the
 * patch creates it, so a request still running when the user logged out cannot bring the
 * session back.
 * @module
 */
import { defineDefaults, expectInteger, withDefaults } from '../../core/options.js'
import { ConfigError } from '../../core/errors.js'
import type { SessionPatch, SessionRecord, SessionStore } from './store.js'
import {
  defineRedisScript,
  hashTagKey,
  isRedisClient,
  isValidKeyPrefix,
  redisCall,
  RedisGate,
  type RedisArgument,
  type RedisClient,
  type RedisScript,
} from '../redis-client.js'

/** Options for {@link redisSessionStore}. */
export interface RedisSessionStoreOptions {
  /**
   * Your ioredis `Redis` or `Cluster`. The store never closes it. Give it an `error`
   * listener and a `retryStrategy` capped near one second, so sessions come back quickly
   * after an outage.
   */
  client: RedisClient | undefined
  /** Prefix of every key. Change it to share one Redis between applications. @default 'sess:' */
  prefix?: string
  /** Deadline of each command in ms; past it the request gets 503 instead of waiting. @default 500 */
  commandTimeoutMs?: number
  /**
   * Most commands awaiting Redis's reply at once; past it the request gets 503 at once and
   * nothing is sent. A command that timed out counts until Redis answers, so while Redis is
   * frozen this bounds the backlog it runs when it wakes.
   * @default 1000
   */
  maxInFlight?: number
}

/** Defaults of {@link redisSessionStore}. */
export const redisSessionStoreDefaults = defineDefaults<RedisSessionStoreOptions, 'client'>({
  client: undefined,
  prefix: 'sess:',
  commandTimeoutMs: 500,
  maxInFlight: 1000,
})

const NAME = 'redisSessionStore'
// Hash fields: two timestamps, and the session's own fields under a '.' so no user
// field can overwrite a timestamp.
const CREATED = ':c'
const SEEN = ':s'
const FIELD = '.'

// ARGV: create ('1' or '0'), ttl ms, createdAt, seenAt, number of fields to set, then
// name/value pairs, then names to remove.
const SAVE = `
local key = KEYS[1]
if ARGV[1] ~= '1' and redis.call('EXISTS', key) == 0 then return 0 end
if ARGV[1] == '1' and redis.call('HEXISTS', key, '${CREATED}') == 0 then redis.call('HSET', key, '${CREATED}', ARGV[3]) end
redis.call('HSET', key, '${SEEN}', ARGV[4])
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', key, ARGV[i])
  i = i + 1
end
redis.call('PEXPIRE', key, ARGV[2])
return 1
`

/**
 * Keep sessions in Redis.
 * @example
 * const store = redisSessionStore({ client: new Redis(process.env.REDIS_URL!) })
 * const app = compose(session({ secrets: [process.env.SESSION_SECRET!], store }))(handler)
 */
export function redisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  const opts = withDefaults(NAME, redisSessionStoreDefaults, options)
  if (!isRedisClient(opts.client)) {
    throw new ConfigError(
      NAME,
      'client',
      'an ioredis Redis or Cluster client',
      opts.client,
      'Pass new Redis(url); the store never creates or closes clients.',
    )
  }
  const client = opts.client
  if (!isValidKeyPrefix(opts.prefix)) {
    throw new ConfigError(
      NAME,
      'prefix',
      'at most 64 printable characters without braces',
      opts.prefix,
      'Braces would make every key share one Cluster slot.',
    )
  }
  const prefix = opts.prefix
  const timeoutMs = expectInteger(
    NAME,
    'commandTimeoutMs',
    opts.commandTimeoutMs,
    1,
    60_000,
    'Use hundreds of milliseconds: past it the request gets 503.',
  )
  const gate = new RedisGate(
    expectInteger(
      NAME,
      'maxInFlight',
      opts.maxInFlight,
      1,
      1_000_000,
      'Use 1000 (the default), or about your requests per second times one second: it bounds what a frozen Redis runs late.',
    ),
  )
  const save: RedisScript = defineRedisScript(client, SAVE, 1)
  const calls = {
    load: { timeoutMs, gate, what: `${NAME}(): load` },
    save: { timeoutMs, gate, what: `${NAME}(): save` },
    destroy: { timeoutMs, gate, what: `${NAME}(): destroy` },
  }
  const key = (id: string): string => hashTagKey(prefix, id)

  return Object.freeze({
    kind: 'redis',
    async load(id: string): Promise<SessionRecord | undefined> {
      const k = key(id)
      const hash = await redisCall(client, () => client.hgetall(k), calls.load, k)
      const createdAt = Number(hash[CREATED])
      const seenAt = Number(hash[SEEN])
      // An empty hash is a missing key; a hash without timestamps was not written by us.
      if (!Number.isFinite(createdAt) || !Number.isFinite(seenAt)) return undefined
      const fields = new Map<string, string>()
      for (const name of Object.keys(hash)) if (name.startsWith(FIELD)) fields.set(name.slice(1), hash[name]!)
      return { createdAt, seenAt, fields }
    },
    async save(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
      const args: RedisArgument[] = [
        patch.createdAt === undefined ? '0' : '1',
        Math.max(1, Math.ceil(ttlMs)),
        patch.createdAt ?? 0,
        patch.seenAt,
        patch.set.size,
      ]
      for (const [name, value] of patch.set) args.push(FIELD + name, value)
      for (const name of patch.remove) args.push(FIELD + name)
      const k = key(id)
      return (await redisCall(client, () => save([k], args), calls.save, k)) === 1
    },
    async destroy(id: string): Promise<void> {
      const k = key(id)
      await redisCall(client, () => client.del(k), calls.destroy, k)
    },
    async close(): Promise<void> {
      // The client is the caller's: nothing to release.
    },
  })
}
