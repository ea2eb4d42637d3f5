/**
 * Construction-time helpers of {@link rateLimit}: the ordering rules it declares, which
 * depend on how it keys requests; the registry that lets limiters share a store only
 * when they count alike; and the checks of values the user's functions return.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { OrderingRule } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import type { RateLimitAlgorithm, RateLimitPolicy, RateLimitStore } from '../../stores/rate-limit/store.js'

const NAME = 'rateLimit'
const IDENTITY_LAYERS = ['jwtAuth', 'apiKey', 'session']

/** The constraints of a limiter keyed by address, by user, or by a function. */
export function orderingRules(keyMode: 'ip' | 'user' | 'function'): { wraps: OrderingRule[]; inside: OrderingRule[] } {
  const wraps: OrderingRule[] = []
  const inside: OrderingRule[] = [
    {
      name: 'cors',
      reason:
        'its 429 answers need CORS headers for a browser script to read them, and preflights must not spend quota',
    },
    { name: 'requestId', reason: 'its 429 and 503 answers carry the request id' },
  ]
  // A key function may read anything; only the built-in keys are known to read the address.
  if (keyMode !== 'function') {
    inside.unshift({
      name: 'proxyHeaders',
      reason: 'it counts per client address, which proxyHeaders establishes behind a proxy',
    })
  }
  if (keyMode === 'ip') {
    for (const name of IDENTITY_LAYERS) {
      wraps.push({
        name,
        reason: 'a limit by address must count failed authentication too, or it cannot slow password or token guessing',
      })
    }
  } else if (keyMode === 'user') {
    for (const name of IDENTITY_LAYERS) inside.push({ name, reason: `it counts per user, which ${name} identifies` })
  }
  return { wraps, inside }
}

/** What a refund needs to know about the hit it returns. */
export interface Hit {
  readonly key: string
  readonly limit: number
  readonly cost: number
}

export function perRequest(
  value: unknown,
  option: string,
  expected: string,
  fix = '',
): number | ((req: IncomingMessage) => unknown) {
  if (typeof value === 'function') return value as (req: IncomingMessage) => unknown
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ConfigError(NAME, option, expected, value, fix)
  return value
}

export function checkKey(key: unknown): string {
  if (typeof key !== 'string')
    throw new TypeError(`${NAME}(): option "key" returned ${typeof key}; it must return a string.`)
  return key
}

export function checkCount(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${NAME}(): option "${option}" returned ${String(value)}; it must return an integer ≥ 0.`)
  }
  return value
}

export function isStore(value: unknown): value is RateLimitStore {
  const store = value as Partial<RateLimitStore> | null
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof store.consume === 'function' &&
    typeof store.refund === 'function' &&
    typeof store.reset === 'function' &&
    typeof store.close === 'function'
  )
}

// Policies per store and name: limiters that share both share counters, so they must
// count the same way. Weak, so a dropped store takes its entries with it.
const policies = new WeakMap<RateLimitStore, Map<string, RateLimitPolicy>>()

export function sharedPolicy(
  store: RateLimitStore,
  name: string,
  algorithm: RateLimitAlgorithm,
  windowMs: number,
): RateLimitPolicy {
  let byName = policies.get(store)
  if (byName === undefined) {
    byName = new Map()
    policies.set(store, byName)
  }
  const existing = byName.get(name)
  if (existing === undefined) {
    const policy = Object.freeze({ name, algorithm, windowMs })
    byName.set(name, policy)
    return policy
  }
  if (existing.algorithm !== algorithm || existing.windowMs !== windowMs) {
    throw new ConfigError(
      NAME,
      'name',
      `a name not used on this store by a limiter counting differently ` +
        `(${JSON.stringify(name)} counts ${existing.algorithm} over ${existing.windowMs} ms)`,
      name,
      'Limiters sharing a store and a name share counters; give this one its own name.',
    )
  }
  return existing
}
