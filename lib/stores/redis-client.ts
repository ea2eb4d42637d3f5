/**
 * Plumbing every Redis-backed store needs, kept generic so rate limits, sessions and any
 * later store share one tested implementation:
 *
 * - {@link RedisClient}: the few commands the stores send, as a structural type. ioredis 5
 *   and 6 (`Redis`, Sentinel and `Cluster`) fit it as they are; any other client (node-redis,
 *   a Valkey client) fits through a wrapper of a few lines (docs/middleware/rate-limit.md).
 *   So ioredis is an optional peer dependency, and an app that never uses Redis never
 *   installs it nor type-checks its declarations.
 * - {@link defineRedisScript}: a Lua script called like a command, sent as EVALSHA, and
 *   after a `NOSCRIPT` reply (Redis restarted, `SCRIPT FLUSH`, failover to a replica that
 *   never saw it) once more as EVAL, which loads it, without the caller noticing.
 * - {@link redisCall}: a per-command deadline, and an immediate failure while the client is
 *   reconnecting, so an outage costs a request milliseconds instead of ioredis's default
 *   wait of up to 20 reconnection attempts. With a store's {@link RedisGate}, an immediate
 *   failure too once the store has as many commands awaiting a reply as it allows (so a
 *   frozen Redis is not handed a backlog to run when it wakes), and on a Cluster for keys
 *   whose master ioredis reports down, but for one probe a second.
 * - {@link hashTagKey}: keys built as `prefix{id}suffix`, so every key about one id lands
 *   in one Redis Cluster slot (a script may touch only keys of one slot), with the id
 *   escaped so it cannot end the tag early.
 *
 * The client is always the caller's: connection settings, TLS, retry strategy and its
 * `error` listener stay theirs. Nothing here closes it.
 * @module
 */
import { createHash } from 'node:crypto'

/**
 * The Redis client the stores take: the commands they send, nothing more. ioredis's `Redis`
 * and `Cluster` (versions 5 and 6) fit it as they are. Keys are given unprefixed; a client
 * with a key prefix (ioredis's `keyPrefix`) adds it to every key, script keys included.
 * @example
 * import { Redis } from 'ioredis'
 * const store = redisStore({ client: new Redis(process.env.REDIS_URL) })
 */
export interface RedisClient {
  /**
   * The connection's state, as ioredis names it: `'ready'`, `'connecting'`, `'reconnecting'`,
   * `'end'`… A command is not sent while it is `'reconnecting'`, `'disconnecting'`,
   * `'close'` or `'end'` (see {@link isRedisConnected}).
   */
  readonly status: string
  /** EVALSHA: run a loaded script by its SHA-1; rejects with an error whose message starts with `NOSCRIPT` when it is not loaded. */
  evalsha(sha: string, numberOfKeys: number, ...keysAndArgs: RedisArgument[]): Promise<unknown>
  /** EVAL: run (and load) a script. */
  eval(script: string, numberOfKeys: number, ...keysAndArgs: RedisArgument[]): Promise<unknown>
  /** HGETALL: every field of a hash, `{}` for a missing key. */
  hgetall(key: string): Promise<Record<string, string>>
  /** DEL of one key; resolves with the number of keys removed. */
  del(key: string): Promise<number>
}

/** A value passed to a script: clients send numbers as their decimal text. */
export type RedisArgument = string | number | Buffer

/** A Lua script bound to one client. Resolves with the script's reply, as ioredis decodes it. */
export type RedisScript = (keys: readonly string[], args: readonly RedisArgument[]) => Promise<unknown>

/** Thrown (as a rejection) when a command is not sent because the client (or, on a Cluster, the key's master) is not connected. */
export class RedisUnavailableError extends Error {
  readonly code = 'ERR_REDIS_UNAVAILABLE'
  constructor(what: string, status: string, node?: string) {
    super(
      node === undefined
        ? `${what}: Redis is not connected (client status "${status}").`
        : `${what}: the Cluster master of this key, ${node}, is not connected (status "${status}").`,
    )
    this.name = 'RedisUnavailableError'
  }
}

/** Thrown (as a rejection) when a command is not sent because its store already awaits its maximum of replies. */
export class RedisBusyError extends Error {
  readonly code = 'ERR_REDIS_BUSY'
  constructor(what: string, max: number) {
    super(`${what}: ${max} commands already await a reply from Redis; not sent.`)
    this.name = 'RedisBusyError'
  }
}

/** How often a command may go to a Cluster master that ioredis reports down, to find out it is back. */
export const DOWN_MASTER_PROBE_MS = 1000

/**
 * What one store lets through to Redis, shared by all its calls.
 *
 * In flight: a command counts from the moment it is sent until Redis answers (or ioredis
 * gives up on it), not until its deadline: a command that timed out is still queued, and
 * runs when Redis wakes. While Redis is frozen (SIGSTOP, a long fork, a stalled network),
 * every request would add one more; `maxInFlight` bounds that backlog, so at most that
 * many commands run late, and past it {@link redisCall} fails at once, sending nothing.
 *
 * Down Cluster masters: once ioredis reports the master of a key disconnected (or drops
 * it from its pool), commands for its keys fail at once until it is `ready` again, except
 * one per {@link DOWN_MASTER_PROBE_MS}, which goes through ioredis as usual. ioredis learns
 * that a master is back only by sending it something, and re-adds a dropped master in
 * state `wait`, so the gate remembers which masters it saw down rather than trusting
 * `wait` and `connecting`, which a healthy master not yet used is in too.
 */
export class RedisGate {
  readonly maxInFlight: number
  #inFlight = 0
  /** Masters seen down, with when the next probe may go. */
  readonly #down = new Map<string, number>()

  constructor(maxInFlight: number) {
    this.maxInFlight = maxInFlight
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Take an in-flight slot; false when all are taken. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.maxInFlight) return false
    this.#inFlight++
    return true
  }

  /** Give an in-flight slot back. */
  release(): void {
    this.#inFlight--
  }

  /**
   * Whether a command may go to Cluster master `node`, whose ioredis status is `status`,
   * at `now` (monotonic ms): always when it is ready; when it is seen down, or was and is
   * not ready yet, only as the probe of the interval.
   */
  admits(node: string, status: string, now: number): boolean {
    if (status === 'ready') {
      if (this.#down.size > 0) this.#down.delete(node)
      return true
    }
    const nextProbe = this.#down.get(node)
    if (nextProbe === undefined) {
      if (!DISCONNECTED.has(status)) return true // connecting, or a master not used yet
      this.#down.set(node, now + DOWN_MASTER_PROBE_MS)
      return false
    }
    if (now < nextProbe) return false
    this.#down.set(node, now + DOWN_MASTER_PROBE_MS)
    return true
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
  /** The store's gate: its cap on commands awaiting a reply, and its probes of down Cluster masters. */
  readonly gate?: RedisGate | undefined
}

/**
 * Send a command with a deadline. Rejects at once, sending nothing (so nothing runs late),
 * with {@link RedisUnavailableError} when the client is reconnecting; and, with a `gate`,
 * with {@link RedisBusyError} when the gate's in-flight cap is reached, and with
 * {@link RedisUnavailableError} when `key`'s Cluster master is reported down (but for the
 * gate's probe). Rejects with {@link RedisTimeoutError} when no reply comes within
 * `timeoutMs`. A command abandoned that way may still run when Redis answers again; its
 * late outcome is ignored, never left as an unhandled rejection.
 * @example
 * const ttl = await redisCall(client, () => client.pttl(key), { timeoutMs: 200, what: 'session(): ttl', gate }, key)
 */
export function redisCall<T>(
  client: RedisClient,
  send: () => Promise<T>,
  options: RedisCallOptions,
  key?: string,
): Promise<T> {
  if (!isRedisConnected(client)) return Promise.reject(new RedisUnavailableError(options.what, client.status))
  const gate = options.gate
  if (gate !== undefined) {
    const master = key === undefined ? undefined : clusterMaster(client, key)
    if (master !== undefined && !gate.admits(master.node, master.status, performance.now())) {
      return Promise.reject(new RedisUnavailableError(options.what, master.status, master.node))
    }
    if (!gate.tryAcquire()) return Promise.reject(new RedisBusyError(options.what, gate.maxInFlight))
  }
  let sent: Promise<T>
  try {
    sent = send()
  } catch (err) {
    sent = Promise.reject(err)
  }
  // Released when Redis answers, not at the deadline: until then the command is still queued.
  if (gate !== undefined)
    sent.then(
      () => gate.release(),
      () => gate.release(),
    )
  return withTimeout(sent, options.timeoutMs, options.what)
}

/**
 * The Redis Cluster slot of `key` (0 to 16383): CRC16 (XMODEM) of its hash tag, the text
 * between the first `{` and the next `}` when that is not empty, else of the whole key
 * (Redis Cluster specification, "Keys distribution model").
 */
export function clusterKeySlot(key: string): number {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key, 'utf8')) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!
  return crc & 16383
}

const CRC16_TABLE = Uint16Array.from({ length: 256 }, (_, n) => {
  let c = n << 8
  for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
  return c
})

/** The parts of ioredis's `Cluster` read here; all public (`slots`, `nodes()`, `options`). */
interface ClusterView {
  readonly slots: ReadonlyArray<readonly string[] | undefined>
  nodes(
    role: 'master',
  ): ReadonlyArray<{ readonly status: string; readonly options: { readonly host?: string; readonly port?: number } }>
  readonly options?: { readonly keyPrefix?: string }
}

/**
 * On a Cluster, the master serving `key` and its ioredis status: `'end'` when it is gone
 * from ioredis's pool (ioredis drops a node whose connection ended, and adds it again only
 * when a command or a slots refresh sends it something). Undefined for a single Redis or
 * an unknown slot map.
 */
function clusterMaster(client: RedisClient, key: string): { node: string; status: string } | undefined {
  const cluster = client as unknown as Partial<ClusterView>
  if (!Array.isArray(cluster.slots) || typeof cluster.nodes !== 'function') return undefined
  const owner = cluster.slots[clusterKeySlot((cluster.options?.keyPrefix ?? '') + key)]?.[0]
  if (owner === undefined) return undefined
  // ioredis names nodes host:port, in its slot map as in its pool.
  const node = cluster
    .nodes('master')
    .find((n) => `${n.options.host ?? '127.0.0.1'}:${n.options.port ?? 6379}` === owner)
  return { node: owner, status: node?.status ?? 'end' }
}

/** `promise`, or a {@link RedisTimeoutError} after `timeoutMs`, whichever comes first. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(what, timeoutMs)), timeoutMs)
    // A pending deadline must not keep a process that is otherwise done alive.
    timer.unref()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

/**
 * Bind a Lua script to `client` and return a function that runs it: EVALSHA with the
 * script's SHA-1, and after a `NOSCRIPT` reply (a restarted or flushed Redis, a failover,
 * a Cluster master that never saw it) EVAL, which loads it for the next calls. Keys get the
 * client's key prefix, if it has one.
 * @example
 * const touch = defineRedisScript(client, "return redis.call('PEXPIRE', KEYS[1], ARGV[1])", 1)
 * await redisCall(client, () => touch([key], [60_000]), { timeoutMs: 200, what: 'session(): touch' })
 */
export function defineRedisScript(client: RedisClient, lua: string, numberOfKeys: number): RedisScript {
  if (!Number.isInteger(numberOfKeys) || numberOfKeys < 0) {
    throw new TypeError(`defineRedisScript(): numberOfKeys must be an integer ≥ 0; received ${String(numberOfKeys)}.`)
  }
  const sha = createHash('sha1').update(lua).digest('hex')
  return function runScript(keys, args) {
    if (keys.length !== numberOfKeys) {
      return Promise.reject(
        new TypeError(`defineRedisScript(): the script takes ${numberOfKeys} keys; received ${keys.length}.`),
      )
    }
    return client.evalsha(sha, numberOfKeys, ...keys, ...args).catch((err: unknown) => {
      if (!isNoScript(err)) throw err
      return client.eval(lua, numberOfKeys, ...keys, ...args)
    })
  }
}

/** Redis's answer to EVALSHA for a script it does not hold. */
const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT')

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
 * Whether `value` fits {@link RedisClient} (duck-typed, so two copies of ioredis in one
 * dependency tree, or a wrapped node-redis client, all pass). For factories validating a
 * `client` option.
 */
export function isRedisClient(value: unknown): value is RedisClient {
  const candidate = value as Partial<Record<keyof RedisClient, unknown>> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.status === 'string' &&
    typeof candidate.evalsha === 'function' &&
    typeof candidate.eval === 'function' &&
    typeof candidate.hgetall === 'function' &&
    typeof candidate.del === 'function'
  )
}
