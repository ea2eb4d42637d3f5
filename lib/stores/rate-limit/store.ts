/**
 * The rate-limit store interface: the one contract every counting backend implements
 * (`memoryStore()`, `redisStore()`, or your own), in the style of express-rate-limit's
 * `Store`, but algorithm-aware. A store does the whole decision for one hit atomically
 * (read the state, decide, write the state), because a read in one call and a write in
 * another lets two processes both take the last unit of quota.
 *
 * Every member returns a Promise; a store rejects (never throws synchronously) when it
 * cannot answer, and the limiter applies its failure policy. The shared contract suite
 * (`test/stores/contract.ts`) runs against every store.
 * @module
 */

/**
 * How quota is counted.
 * - `'fixed-window'`: a counter per window of `windowMs` that starts with the key's first hit.
 * - `'sliding-window'`: the previous window's count, weighted by how much of it still
 *   overlaps the sliding window, plus the current window's count (the counter approximation).
 * - `'token-bucket'`: a bucket of `limit` tokens refilling at `limit` per `windowMs`,
 *   implemented as GCRA (one timestamp per key).
 */
export type RateLimitAlgorithm = 'fixed-window' | 'sliding-window' | 'token-bucket'

/**
 * What is being limited: the part of a limiter's configuration a store needs. One
 * policy object is made per limiter and passed on every call, so stores may cache by it.
 */
export interface RateLimitPolicy {
  /**
   * The policy's name: the namespace of its keys in the store (two limiters sharing a
   * store and a name share counters) and the policy item of the `RateLimit` headers.
   */
  readonly name: string
  /** The counting algorithm. */
  readonly algorithm: RateLimitAlgorithm
  /** The window in milliseconds: the fixed window's length, the sliding window's span, the bucket's refill time. */
  readonly windowMs: number
  /**
   * Escalating blocks for repeat offenders, when the limiter enables them; undefined
   * otherwise. Only a store whose `penalties` member is true is given a policy with one.
   */
  readonly penalty?: RateLimitPenalty | undefined
}

/**
 * How a store blocks a key that keeps exceeding its quota (login routes: express-brute,
 * rate-limiter-flexible's `blockDuration`). A refused hit that costs something is an
 * offence; `offences` of them within `periodMs` block the key for `blockMs`, the next block
 * for twice as long, and so on up to `maxBlockMs`. A key that stays out of trouble for
 * `forgetMs` after its last block ended starts again at `blockMs`. All values are positive
 * integers (milliseconds, or a count).
 */
export interface RateLimitPenalty {
  /** Offences (refused hits of cost > 0, a blocked hit excepted) within `periodMs` that start a block. */
  readonly offences: number
  /** The span over which offences are counted, from the first offence it contains. */
  readonly periodMs: number
  /** The first block's length; each further block doubles it. */
  readonly blockMs: number
  /** The longest block. At least `blockMs`. */
  readonly maxBlockMs: number
  /** How long after a block ended the key keeps its escalation level. */
  readonly forgetMs: number
}

/** The answer of a store to one hit. Every number is a non-negative integer. */
export interface RateLimitDecision {
  /** Whether the hit fits the quota. A refused hit consumes nothing. */
  readonly allowed: boolean
  /**
   * Quota units still available right now, after this hit: how many requests of cost 1
   * would be allowed if sent at once. Never more than the limit.
   */
  readonly remaining: number
  /** Milliseconds until the full quota is available again, if no other hit arrives. */
  readonly resetMs: number
  /** When refused: milliseconds until a hit of the same cost would be allowed. 0 when allowed. */
  readonly retryAfterMs: number
  /**
   * True when the store refused the hit because it is full and its overflow policy is
   * to refuse new keys (see `memoryStore({ overflow })`), not because of the quota.
   */
  readonly overflow?: boolean
  /**
   * True when the hit was refused because of a penalty block (`policy.penalty`): the key
   * was blocked already, or this hit's offence started a block. `retryAfterMs` is then
   * the time left of the block. Undefined or false otherwise.
   */
  readonly blocked?: boolean
}

/** A counting backend shared by `rateLimit()` and any other quota middleware. */
export interface RateLimitStore {
  /** A short name for `explain()` and messages, e.g. `'memory'` or `'redis'`. */
  readonly kind: string

  /**
   * True when the store applies `policy.penalty` in `consume` (both stores here do).
   * `rateLimit({ penalty })` refuses, at construction, a store without it, rather than
   * silently never blocking.
   */
  readonly penalties?: boolean

  /**
   * Count one hit of `cost` units for `key` under `policy`, if it fits `limit`, and
   * report the state after it. Atomic: concurrent calls for one key, from any number of
   * processes sharing the backend, never together allow more than `limit` units in the
   * quota's span. A hit of cost 0 changes nothing and reports the current state.
   * With `policy.penalty`, the same atomic step first refuses a blocked key (cost 0 hits
   * excepted), and counts a refusal as an offence, starting or escalating a block.
   * Rejects when the backend cannot answer (the limiter then fails open or closed).
   *
   * A store that has the answer at hand (the memory store) may return the decision itself
   * instead of a promise: rateLimit() then answers without a promise or a microtask. Callers
   * other than rateLimit() can `await` either.
   */
  consume(
    key: string,
    policy: RateLimitPolicy,
    limit: number,
    cost: number,
  ): RateLimitDecision | PromiseLike<RateLimitDecision>

  /**
   * Give back `cost` units taken by an allowed hit for `key`, e.g. when only failed
   * logins should count. Never lowers usage below zero; a refund arriving after the hit's
   * window ended (fixed and sliding windows) is dropped.
   */
  refund(key: string, policy: RateLimitPolicy, limit: number, cost: number): Promise<void>

  /** Forget `key` under `policy`, its penalty state included: its next hit starts with the full quota, unblocked. */
  reset(key: string, policy: RateLimitPolicy): Promise<void>

  /**
   * Stop timers and release what the store itself opened. A store never closes a
   * connection it was given (`redisStore({ client })` leaves the client to its owner).
   * Called by whoever created the store; afterwards `consume` rejects, and closing
   * again does nothing.
   */
  close(): Promise<void>
}
