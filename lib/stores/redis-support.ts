/**
 * Plumbing every Redis-backed store needs, kept generic so rate limits, sessions and any
 * later store share one tested implementation:
 *
 * - {@link defineRedisScript}: a Lua script called like a command, sent as EVALSHA through
 *   ioredis's `defineCommand`, which loads the script on each new connection and, after a
 *   `NOSCRIPT` reply (Redis restarted, `SCRIPT FLUSH`, failover to a replica that never saw
 *   it), resends it as EVAL transparently.
 * - {@link redisCall}: a per-command deadline, and an immediate failure while the client is
 *   reconnecting, so an outage costs a request milliseconds instead of ioredis's default
 *   wait of up to 20 reconnection attempts.
 * - {@link hashTagKey}: keys built as `prefix{id}suffix`, so every key about one id lands
 *   in one Redis Cluster slot (a script may touch only keys of one slot), with the id
 *   escaped so it cannot end the tag early.
 *
 * The client is always the caller's ioredis `Redis` or `Cluster`: connection settings,
 * TLS, retry strategy and its `error` listener stay theirs. Nothing here closes it.
 * @module
 */
import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

/** An ioredis client: a single node (`Redis`, also with Sentinel) or a `Cluster`. */
export type RedisClient = Redis | Cluster

/** A value passed to a script: ioredis sends numbers as their decimal text. */
export type RedisArgument = string | number | Buffer

/** A Lua script bound to one client. Resolves with the script's reply, as ioredis decodes it. */
export type RedisScript = (keys: readonly string[], args: readonly RedisArgument[]) => Promise<unknown>

/** Thrown (as a rejection) when a command is not sent because the client is not connected. */
export class RedisUnavailableError extends Error {
  readonly code = 'ERR_REDIS_UNAVAILABLE'
  constructor(what: string, status: string) {
    super(`${what}: Redis is not connected (client status "${status}").`)
    this.name = 'RedisUnavailableError'
  }
}

/** Thrown (as a rejection) when a command has no reply within its deadline. */
export class RedisTimeoutError extends Error {
  readonly code = 'ERR_REDIS_TIMEOUT'
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no reply from Redis within ${timeoutMs} ms.`)
    this.name = 'RedisTimeoutError'
  }
}

// Statuses in which ioredis would park a command in its offline queue until a
// reconnection succeeds. 'wait' (lazyConnect, never used) and 'connecting' are not
// among them: sending is what starts the first connection, and a connection in
// progress usually completes within the deadline.
const DISCONNECTED: ReadonlySet<string> = new Set(['reconnecting', 'disconnecting', 'close', 'end'])

/** Whether `client` can send a command now. */
export function isRedisConnected(client: RedisClient): boolean {
  return !DISCONNECTED.has(client.status)
}

/** Options of {@link redisCall}. */
export interface RedisCallOptions {
  /** Deadline in milliseconds for the reply. */
  readonly timeoutMs: number
  /** What is being done, for error messages: `'redisStore(): consume'`. */
  readonly what: string
}

/**
 * Send a command with a deadline. Rejects at once with {@link RedisUnavailableError} when
 * the client is reconnecting (nothing is sent, so nothing runs late), and with
 * {@link RedisTimeoutError} when no reply comes within `timeoutMs`. A command abandoned
 * that way may still run when Redis answers again; its late outcome is ignored, never
 * left as an unhandled rejection.
 * @example
 * const ttl = await redisCall(client, () => client.pttl(key), { timeoutMs: 200, what: 'session(): ttl' })
 */
export function redisCall<T>(client: RedisClient, send: () => Promise<T>, options: RedisCallOptions): Promise<T> {
  if (!isRedisConnected(client)) return Promise.reject(new RedisUnavailableError(options.what, client.status))
  let pending: Promise<T>
  try {
    pending = send()
  } catch (err) {
    return Promise.reject(err)
  }
  return withTimeout(pending, options.timeoutMs, options.what)
}

/** `promise`, or a {@link RedisTimeoutError} after `timeoutMs`, whichever comes first. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(what, timeoutMs)), timeoutMs)
    // A pending deadline must not keep a process that is otherwise done alive.
    timer.unref()
    promise.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(err) },
    )
  })
}

type ScriptMethod = (...keysAndArgs: RedisArgument[]) => Promise<unknown>

/**
 * Bind a Lua script to `client` and return a function that runs it. The script is
 * registered with ioredis's `defineCommand` under a name derived from its SHA-1, so
 * defining one script twice on a client is harmless, and ioredis sends it as EVALSHA,
 * falling back to EVAL after `NOSCRIPT` without the caller noticing. Keys get the
 * client's `keyPrefix`, if it has one.
 * @example
 * const touch = defineRedisScript(client, "return redis.call('PEXPIRE', KEYS[1], ARGV[1])", 1)
 * await redisCall(client, () => touch([key], [60_000]), { timeoutMs: 200, what: 'session(): touch' })
 */
export function defineRedisScript(client: RedisClient, lua: string, numberOfKeys: number): RedisScript {
  if (!Number.isInteger(numberOfKeys) || numberOfKeys < 0) {
    throw new TypeError(`defineRedisScript(): numberOfKeys must be an integer ≥ 0; received ${String(numberOfKeys)}.`)
  }
  const name = `httpOnion_${createHash('sha1').update(lua).digest('hex').slice(0, 16)}`
  const methods = client as unknown as Record<string, ScriptMethod | undefined>
  if (typeof methods[name] !== 'function') client.defineCommand(name, { lua, numberOfKeys })
  const method = methods[name]!
  return function runScript(keys, args) {
    if (keys.length !== numberOfKeys) {
      return Promise.reject(new TypeError(`defineRedisScript(): the script takes ${numberOfKeys} keys; received ${keys.length}.`))
    }
    return method.call(client, ...keys, ...args)
  }
}

/**
 * `prefix{id}suffix`: a key whose Redis Cluster slot is decided by `id` alone (the hash
 * tag), so keys with different suffixes for one id may be used by one script. Braces and
 * `%` in `id` are percent-encoded: a `}` inside it would otherwise end the tag early, and
 * encoding `%` too keeps distinct ids distinct. `prefix` must not contain braces (check it
 * with {@link isValidKeyPrefix}), or every key would share the prefix's slot.
 */
export function hashTagKey(prefix: string, id: string, suffix = ''): string {
  return `${prefix}{${BRACES.test(id) ? id.replace(BRACES_ALL, encodeChar) : id}}${suffix}`
}

const BRACES = /[{}%]/
const BRACES_ALL = /[{}%]/g
const encodeChar = (c: string): string => (c === '{' ? '%7B' : c === '}' ? '%7D' : '%25')

/** Whether `prefix` can start keys built by {@link hashTagKey}: printable, no braces, at most 64 characters. */
export function isValidKeyPrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && prefix.length <= 64 && /^[\x21-\x7a\x7c\x7e]*$/.test(prefix)
}

/**
 * Whether `value` looks like an ioredis client (duck-typed, so two copies of ioredis in one
 * dependency tree still work). For factories validating a `client` option.
 */
export function isRedisClient(value: unknown): value is RedisClient {
  const candidate = value as { defineCommand?: unknown; status?: unknown } | null
  return typeof candidate === 'object' && candidate !== null &&
    typeof candidate.defineCommand === 'function' && typeof candidate.status === 'string'
}
