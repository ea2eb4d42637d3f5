/**
 * The Redis rate-limit store: exact across any number of processes and machines sharing
 * one Redis (or Redis Cluster). Each hit is one round trip: a Lua script reads the key's
 * state, decides, and writes it back atomically, with the same arithmetic as the memory
 * store. Time comes from Redis itself (`TIME` inside the script), so servers whose clocks
 * disagree still share one window. Every key written gets an expiry covering its state's
 * life, so nothing outlives its use.
 *
 * Keys are `prefix{policy:key}:a`, the braces being a Cluster hash tag (one slot per
 * script) and `a` the algorithm (`f`, `s`, `t`), so a deployment that changes algorithm
 * does not read the old state with the new arithmetic. Penalty state, when the limiter
 * has a penalty, is `prefix{policy:key}:b`, in the same slot, read and written by the
 * same script.
 * @module
 */
import { defineDefaults, expectFunction, expectInteger, withDefaults } from '../../core/options.js'
import { ConfigError } from '../../core/errors.js'
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy, RateLimitStore } from './store.js'
import {
  defineRedisScript,
  hashTagKey,
  isRedisClient,
  isValidKeyPrefix,
  redisCall,
  RedisGate,
  type RedisClient,
  type RedisScript,
} from '../redis-client.js'

/** Options for {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Your ioredis `Redis` or `Cluster`. The store never closes it. Give it an `error`
   * listener, and a `retryStrategy` capped near one second so limiting resumes quickly
   * after an outage (ioredis's default waits up to 2 s between attempts).
   */
  client: RedisClient | undefined
  /** Prefix of every key. Change it to share one Redis between applications. @default 'rl:' */
  prefix?: string
  /**
   * Deadline of each command, in milliseconds. When Redis is slow or gone, a request
   * waits this long at most before the limiter's failure policy answers it.
   * @default 250
   */
  commandTimeoutMs?: number
  /**
   * Most commands awaiting Redis's reply at once; past it a hit fails at once (the
   * limiter's failure policy answers) and nothing is sent. A command that timed out still
   * counts until Redis answers: while Redis is frozen, this bounds the backlog it runs (and
   * counts against the next window) when it wakes. Well above a healthy server's need
   * (requests per second × round-trip time: 20_000 × 5 ms is 100).
   * @default 1000
   */
  maxInFlight?: number
  /**
   * A clock for tests (epoch ms), sent to the scripts in place of Redis `TIME`; keys then
   * expire a minute after their state dies, since Redis expires them on its own clock.
   * Leave it unset in production: processes must share Redis's clock to share windows.
   */
  now?: (() => number) | undefined
}

export const redisStoreDefaults = defineDefaults<RedisStoreOptions, 'client' | 'now'>({
  client: undefined,
  prefix: 'rl:',
  commandTimeoutMs: 250,
  maxInFlight: 1000,
  now: undefined,
})

const NAME = 'redisStore'

// The clock and the arguments every script starts with. Lua numbers are doubles, like
// JavaScript's, and the arithmetic below is written in the memory store's order, so both
// stores decide alike. `%.17g` writes a double back exactly; Redis's own number-to-string
// keeps only 14 digits, which would drift a token bucket's fractional timestamps.
const PRELUDE = `
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x) return string.format('%.17g', x) end
local slack = tonumber(ARGV[5]) or 0
local function expire(ms) redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(ms + slack))) end
`

const NO_LIMIT = `
if limit <= 0 then
  if cost <= 0 then return {1, 0, 0, 0} end
  return {0, 0, 0, window}
end
`

const FIXED_BODY = `
local state = redis.call('HMGET', KEYS[1], 's', 'c')
local s, c = tonumber(state[1]), tonumber(state[2])
if not s or not (now < s + window) then s = now; c = 0 end
local allowed = c + cost <= limit
if allowed then
  c = c + cost
  if cost > 0 then
    redis.call('HSET', KEYS[1], 's', num(s), 'c', num(c))
    expire(s + window - now)
  end
end
local reset = 0
if c > 0 then reset = math.min(window, math.ceil(s + window - now)) end
local retry = 0
if not allowed then
  if cost > limit then retry = window else retry = math.max(1, reset) end
end
return {allowed and 1 or 0, math.max(0, limit - c), reset, retry}
`

const SLIDING_BODY = `
local state = redis.call('HMGET', KEYS[1], 's', 'p', 'c')
local s, p, c = tonumber(state[1]), tonumber(state[2]) or 0, tonumber(state[3]) or 0
if not s or now >= s + 2 * window then
  s = now; p = 0; c = 0
elseif now >= s + window then
  p = c; c = 0; s = s + window
end
local elapsed = math.max(0, now - s)
local used = p * (window - elapsed) / window + c
local allowed = used + cost <= limit + 1e-9
local after = used
if allowed then
  c = c + cost
  after = used + cost
  if cost > 0 then
    redis.call('HSET', KEYS[1], 's', num(s), 'p', num(p), 'c', num(c))
    expire(s + 2 * window - now)
  end
end
local finish = now
if c > 0 then finish = s + 2 * window elseif p > 0 then finish = s + window end
local retry = 0
if not allowed then
  if cost > limit then retry = window
  elseif c + cost <= limit then retry = window - (limit - c - cost) * window / p - elapsed
  else retry = window - elapsed + math.max(0, window - (limit - cost) * window / c) end
  retry = math.max(1, math.ceil(retry))
end
return {allowed and 1 or 0, math.max(0, math.floor(limit - after + 1e-9)), math.max(0, math.ceil(finish - now)), retry}
`

const TOKEN_BODY = `
local interval = window / limit
local tat = tonumber(redis.call('HGET', KEYS[1], 't'))
if not tat or tat < now then tat = now end
local nxt = tat + cost * interval
local allowed = nxt - now <= window + 1e-9 * window
local after = tat
if allowed then
  after = nxt
  if cost > 0 then
    redis.call('HSET', KEYS[1], 't', num(after))
    expire(after - now)
  end
end
local retry = 0
if not allowed then
  if cost > limit then retry = window else retry = math.max(1, math.ceil(nxt - now - window)) end
end
return {allowed and 1 or 0, math.max(0, math.floor((window - (after - now)) * limit / window + 1e-9)), math.ceil(after - now), retry}
`

const FIXED_WINDOW = `${PRELUDE}${NO_LIMIT}${FIXED_BODY}`
const SLIDING_WINDOW = `${PRELUDE}${NO_LIMIT}${SLIDING_BODY}`
const TOKEN_BUCKET = `${PRELUDE}${NO_LIMIT}${TOKEN_BODY}`

// Penalties (KEYS[2], ARGV[6..10]): the memory store's blockedDecision and offend, in the same
// order. A blocked key is refused before the algorithm runs; a refused hit that costs
// something is an offence, and the offences-th of a period starts the next block, each
// twice as long as the one before, at most maxBlock. The state is the memory store's four
// numbers: o (offences), os (their period's start), l (blocks so far), u (blocked until).
const PENALTY_CHECK = `
local offences, period, block, maxBlock, forget =
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local pstate = redis.call('HMGET', KEYS[2], 'o', 'os', 'l', 'u')
local po, pos, pl, pu = tonumber(pstate[1]) or 0, tonumber(pstate[2]), tonumber(pstate[3]) or 0, tonumber(pstate[4])
if pu and now < pu then
  local left = math.ceil(pu - now)
  if cost <= 0 then return {1, 0, left, 0, 0} end
  return {0, 0, left, left, 1}
end
`

const PUNISH = `
local r = decide()
if r[1] == 1 or cost <= 0 then return r end
if pu and now >= pu + forget then pl = 0 end
if not pos or not (now < pos + period) then pos = now; po = 0 end
po = po + 1
if po >= offences then
  po = 0
  pl = pl + 1
  local ms = math.min(maxBlock, block * 2 ^ (pl - 1))
  pu = now + ms
  r = {0, 0, math.max(r[3], ms), ms, 1}
end
redis.call('HSET', KEYS[2], 'o', num(po), 'os', num(pos), 'l', num(pl))
if pu then redis.call('HSET', KEYS[2], 'u', num(pu)) end
redis.call('PEXPIRE', KEYS[2], math.max(1, math.ceil(math.max(pos + period, (pu or 0) + forget) - now + slack)))
return r
`

/** An algorithm's script with penalties: the same body, as a function whose refusals are punished. */
const withPenalty = (body: string): string =>
  `${PRELUDE}${PENALTY_CHECK}local function decide()${NO_LIMIT}${body}end\n${PUNISH}`

// ARGV[6]: the algorithm. A refund never creates a key, never raises the TTL, and is dropped
// once the hit's window is over.
const REFUND = `${PRELUDE}
if limit <= 0 or cost <= 0 or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local algorithm = ARGV[6]
if algorithm == 't' then
  local tat = tonumber(redis.call('HGET', KEYS[1], 't'))
  if not tat then return 0 end
  redis.call('HSET', KEYS[1], 't', num(math.max(now, tat - cost * window / limit)))
  return 1
end
local state = redis.call('HMGET', KEYS[1], 's', 'c')
local s, c = tonumber(state[1]), tonumber(state[2])
-- Once the hit's window is over, its units no longer count as the current window's.
if not s or now >= s + window then return 0 end
redis.call('HSET', KEYS[1], 'c', num(math.max(0, c - cost)))
return 1
`

const SUFFIX: Readonly<Record<RateLimitAlgorithm, string>> = {
  'fixed-window': ':f',
  'sliding-window': ':s',
  'token-bucket': ':t',
}

/** A {@link RateLimitStore} on Redis. */
export interface RedisStore extends RateLimitStore {
  /** Always a promise: every decision is a round trip. */
  consume(key: string, policy: RateLimitPolicy, limit: number, cost: number): Promise<RateLimitDecision>
  /** The Redis key holding `key`'s state under `policy` (without the client's own `keyPrefix`). */
  keyFor(key: string, policy: RateLimitPolicy): string
}

/**
 * A Redis {@link RateLimitStore} on your ioredis client: one round trip per hit, exact
 * across processes, with a short per-command deadline.
 * @example
 * const redis = new Redis({ host: 'redis', enableAutoPipelining: true })
 * redis.on('error', (err) => log.warn(err))
 * const limit = rateLimit({ limit: 100, store: redisStore({ client: redis }) })
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const opts = withDefaults(NAME, redisStoreDefaults, options)
  if (!isRedisClient(opts.client)) {
    throw new ConfigError(
      NAME,
      'client',
      'an ioredis Redis or Cluster instance',
      opts.client,
      'Pass your client: redisStore({ client: new Redis(url) }).',
    )
  }
  const client = opts.client
  if (!isValidKeyPrefix(opts.prefix)) {
    throw new ConfigError(
      NAME,
      'prefix',
      'printable text without spaces or braces, at most 64 characters',
      opts.prefix,
      'Braces would make the prefix the Cluster hash tag, putting every key in one slot.',
    )
  }
  const prefix = opts.prefix
  const timeoutMs = expectInteger(
    NAME,
    'commandTimeoutMs',
    opts.commandTimeoutMs,
    1,
    60_000,
    'Use tens or hundreds of milliseconds.',
  )
  const gate = new RedisGate(
    expectInteger(
      NAME,
      'maxInFlight',
      opts.maxInFlight,
      1,
      1_000_000,
      'Use 1000 (the default), or about your requests per second times one second: it bounds the hits a frozen Redis runs late.',
    ),
  )
  const now = opts.now === undefined ? undefined : expectFunction<() => number>(NAME, 'now', opts.now)

  const scripts: Readonly<Record<RateLimitAlgorithm, RedisScript>> = {
    'fixed-window': defineRedisScript(client, FIXED_WINDOW, 1),
    'sliding-window': defineRedisScript(client, SLIDING_WINDOW, 1),
    'token-bucket': defineRedisScript(client, TOKEN_BUCKET, 1),
  }
  const penaltyScripts: Readonly<Record<RateLimitAlgorithm, RedisScript>> = {
    'fixed-window': defineRedisScript(client, withPenalty(FIXED_BODY), 2),
    'sliding-window': defineRedisScript(client, withPenalty(SLIDING_BODY), 2),
    'token-bucket': defineRedisScript(client, withPenalty(TOKEN_BODY), 2),
  }
  const refundScript = defineRedisScript(client, REFUND, 1)
  const consumeCall = { timeoutMs, gate, what: `${NAME}(): consume` }
  const refundCall = { timeoutMs, gate, what: `${NAME}(): refund` }
  const resetCall = { timeoutMs, gate, what: `${NAME}(): reset` }
  let closed = false

  const keyFor = (key: string, policy: RateLimitPolicy): string =>
    hashTagKey(prefix, `${policy.name}:${key}`, SUFFIX[policy.algorithm])
  // The penalty state shares the counter's hash tag: one Cluster slot, one script.
  const penaltyKeyFor = (key: string, policy: RateLimitPolicy): string =>
    hashTagKey(prefix, `${policy.name}:${key}`, ':b')
  const clock = (): string => (now === undefined ? '' : String(now()))
  // Expiry runs on Redis's real clock. With an injected clock the scripts' time and
  // Redis's drift apart, so keys are kept a minute longer than their state lives: an
  // expired key and a stale one mean the same (a fresh quota), but an early expiry
  // would lose state the injected clock still considers live.
  const slack = now === undefined ? 0 : 60_000

  return {
    kind: 'redis',
    penalties: true,
    keyFor,

    async consume(key, policy, limit, cost) {
      if (closed) throw closedError()
      const redisKey = keyFor(key, policy)
      const args: Array<string | number> = [limit, policy.windowMs, cost, clock(), slack]
      const penalty = policy.penalty
      if (penalty === undefined) {
        const script = scripts[policy.algorithm]
        return toDecision(await redisCall(client, () => script([redisKey], args), consumeCall, redisKey))
      }
      const script = penaltyScripts[policy.algorithm]
      const keys = [redisKey, penaltyKeyFor(key, policy)]
      args.push(penalty.offences, penalty.periodMs, penalty.blockMs, penalty.maxBlockMs, penalty.forgetMs)
      return toDecision(await redisCall(client, () => script(keys, args), consumeCall, redisKey))
    },

    async refund(key, policy, limit, cost) {
      if (closed) throw closedError()
      const args = [limit, policy.windowMs, cost, clock(), slack, SUFFIX[policy.algorithm].slice(1)]
      const redisKey = keyFor(key, policy)
      await redisCall(client, () => refundScript([redisKey], args), refundCall, redisKey)
    },

    async reset(key, policy) {
      if (closed) throw closedError()
      const redisKey = keyFor(key, policy)
      await redisCall(client, () => client.del(redisKey), resetCall, redisKey)
      if (policy.penalty !== undefined) {
        const penaltyKey = penaltyKeyFor(key, policy)
        await redisCall(client, () => client.del(penaltyKey), resetCall, penaltyKey)
      }
    },

    close() {
      closed = true
      return Promise.resolve()
    },
  }
}

const closedError = () => new Error(`${NAME}(): the store is closed.`)

function toDecision(reply: unknown): RateLimitDecision {
  if (!Array.isArray(reply) || (reply.length !== 4 && reply.length !== 5)) {
    throw new Error(`${NAME}(): unexpected script reply ${JSON.stringify(reply)}.`)
  }
  const [allowed, remaining, resetMs, retryAfterMs, blocked] = reply as number[]
  const decision = { allowed: allowed === 1, remaining: remaining!, resetMs: resetMs!, retryAfterMs: retryAfterMs! }
  return blocked === 1 ? { ...decision, blocked: true } : decision
}
