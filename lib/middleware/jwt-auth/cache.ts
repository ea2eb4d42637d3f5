/**
 * The verification cache of jwtAuth(): verified claims by token, so a client sending the
 * same token on every request pays for one signature check, not one per request.
 * Bounded (least recently used goes first) and never serving an entry past the moment
 * the token stops being acceptable: its `exp`, its `iat` plus the maximum token age
 * (both with the clock tolerance jose applies), or the cache's own time limit, which
 * bounds how long a token keeps working after its signing key left the key set.
 * @module
 */
import type { JWTPayload } from 'jose'

/** One verified token. */
export interface CachedToken {
  /** The verified claims, deep-frozen: shared by every request that sends the token. */
  readonly claims: JWTPayload
  /** Epoch ms from which the entry must not be served. */
  readonly expiresAt: number
  /** Whether the claims carry every required scope (decided once per token). */
  readonly scopesOk: boolean
}

/** A bounded map from token to its verification result. */
export class TokenCache {
  readonly #max: number
  readonly #entries = new Map<string, CachedToken>()

  constructor(max: number) {
    this.#max = max
  }

  /** The entry for `token` if it is still valid at `now`; an expired entry is dropped. */
  get(token: string, now: number): CachedToken | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    this.#entries.delete(token)
    if (now >= entry.expiresAt) return undefined
    // Re-inserting moves the entry to the young end: Map keeps insertion order.
    this.#entries.set(token, entry)
    return entry
  }

  /** Remember `entry` for `token`, evicting the least recently used entry when full. */
  set(token: string, entry: CachedToken): void {
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
    this.#entries.set(token, entry)
  }

  /** Number of entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size
  }
}

/**
 * Until when a token verified at `now` stays acceptable, in epoch ms: the earliest of
 * `exp` + tolerance, `iat` + maxAge + tolerance, and `now` + the cache's own limit.
 */
export function acceptableUntil(
  claims: JWTPayload,
  now: number,
  toleranceSeconds: number,
  maxAgeSeconds: number | undefined,
  cacheMaxAgeMs: number,
): number {
  let until = now + cacheMaxAgeMs
  if (typeof claims.exp === 'number') until = Math.min(until, (claims.exp + toleranceSeconds) * 1000)
  if (maxAgeSeconds !== undefined && typeof claims.iat === 'number')
    until = Math.min(until, (claims.iat + maxAgeSeconds + toleranceSeconds) * 1000)
  return until
}

/** Freeze `value` and everything in it: cached claims are shared between requests. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const inner of Object.values(value)) deepFreeze(inner)
  }
  return value
}
