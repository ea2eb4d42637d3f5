/**
 * The three rate-limit algorithms, and the penalty arithmetic, as pure functions over one
 * key's state, used by the memory store. The Redis store runs the same arithmetic, in the same order, in Lua
 * (`redis.ts`); the shared contract suite holds both to the same answers.
 * @module
 */
import type { RateLimitDecision, RateLimitPenalty, RateLimitPolicy } from './store.js'

// Tolerance for floating-point quota arithmetic (weights, emission intervals): far below
// one unit, so 3 × (1000 / 3) ms still fits a 1000 ms window.
const EPSILON = 1e-9

/** Mutable state the algorithms read and, when allowing, update. A fresh key has `s` NaN. */
export interface State {
  s: number
  p: number
  c: number
}

/**
 * Decide one hit and update `state` in place when it is allowed. The same arithmetic
 * runs in the Redis store's Lua scripts; the contract suite holds both to it.
 */
export function decide(
  policy: RateLimitPolicy,
  state: State,
  limit: number,
  cost: number,
  at: number,
): RateLimitDecision {
  const window = policy.windowMs
  if (limit <= 0) return { allowed: cost <= 0, remaining: 0, resetMs: 0, retryAfterMs: cost <= 0 ? 0 : window }
  switch (policy.algorithm) {
    case 'fixed-window':
      return fixedWindow(state, window, limit, cost, at)
    case 'sliding-window':
      return slidingWindow(state, window, limit, cost, at)
    default:
      return tokenBucket(state, window, limit, cost, at)
  }
}

function fixedWindow(state: State, window: number, limit: number, cost: number, at: number): RateLimitDecision {
  // A window starts with the key's first hit (not on a shared boundary), so clients
  // blocked together do not all come back at one instant (ratelimit-headers §8.5).
  if (!(at < state.s + window)) {
    state.s = at
    state.c = 0
  }
  const allowed = state.c + cost <= limit
  if (allowed) state.c += cost
  const resetMs = state.c === 0 ? 0 : Math.min(window, Math.ceil(state.s + window - at))
  return {
    allowed,
    remaining: Math.max(0, limit - state.c),
    resetMs,
    retryAfterMs: allowed ? 0 : cost > limit ? window : Math.max(1, resetMs),
  }
}

function slidingWindow(state: State, window: number, limit: number, cost: number, at: number): RateLimitDecision {
  if (Number.isNaN(state.s) || at >= state.s + 2 * window) {
    // New, or silent for two windows: nothing counts any more, so start afresh (exactly
    // what a key whose state was dropped or expired does).
    state.s = at
    state.p = 0
    state.c = 0
  } else if (at >= state.s + window) {
    state.p = state.c
    state.c = 0
    state.s += window
  }
  // The previous window counts for the part of it the sliding window still covers.
  const elapsed = Math.max(0, at - state.s)
  const used = (state.p * (window - elapsed)) / window + state.c
  const allowed = used + cost <= limit + EPSILON
  if (allowed) state.c += cost
  const usedAfter = allowed ? used + cost : used
  const end = state.c > 0 ? state.s + 2 * window : state.p > 0 ? state.s + window : at
  let retryAfterMs = 0
  if (!allowed) {
    if (cost > limit) retryAfterMs = window
    else if (state.c + cost <= limit) {
      // Fits once the previous window's weight has decayed enough, within this window.
      retryAfterMs = window - ((limit - state.c - cost) * window) / state.p - elapsed
    } else {
      // Only in the next window, where this window's count is the one decaying.
      retryAfterMs = window - elapsed + Math.max(0, window - ((limit - cost) * window) / state.c)
    }
    retryAfterMs = Math.max(1, Math.ceil(retryAfterMs))
  }
  return {
    allowed,
    remaining: Math.max(0, Math.floor(limit - usedAfter + EPSILON)),
    resetMs: Math.max(0, Math.ceil(end - at)),
    retryAfterMs,
  }
}

function tokenBucket(state: State, window: number, limit: number, cost: number, at: number): RateLimitDecision {
  // GCRA: the theoretical arrival time (TAT) advances by one emission interval per unit;
  // a hit fits while the TAT stays within one window of now (a full bucket is `limit` units).
  const interval = window / limit
  const tat = Number.isNaN(state.s) || state.s < at ? at : state.s
  const next = tat + cost * interval
  const allowed = next - at <= window + EPSILON * window
  const after = allowed ? next : tat
  if (allowed) state.s = after
  return {
    allowed,
    remaining: Math.max(0, Math.floor(((window - (after - at)) * limit) / window + EPSILON)),
    resetMs: Math.ceil(after - at),
    retryAfterMs: allowed ? 0 : cost > limit ? window : Math.max(1, Math.ceil(next - at - window)),
  }
}

/** Give `cost` units back to a stored key. */
export function giveBack(policy: RateLimitPolicy, entry: State, limit: number, cost: number, at: number): void {
  if (policy.algorithm === 'token-bucket') {
    if (limit > 0) entry.s = Math.max(at, entry.s - (cost * policy.windowMs) / limit)
    return
  }
  // Once the hit's window is over, the units it took count no more in a fixed window, and
  // only as a fading previous window in a sliding one: the refund is dropped.
  if (at >= entry.s + policy.windowMs) return
  entry.c = Math.max(0, entry.c - cost)
}

/**
 * One key's penalty state (`policy.penalty`). `o`: offences in the current period, which
 * began at `os`; `l`: blocks so far (the escalation level); `u`: blocked until (epoch ms).
 * A key never punished has `os` and `u` NaN. The Redis store keeps the same four numbers.
 */
export interface PenaltyState {
  o: number
  os: number
  l: number
  u: number
}

/**
 * The answer to a hit on a key blocked at `at`, or undefined when no block is in force.
 * A hit of cost 0 is still allowed (it changes nothing), reporting nothing left.
 */
export function blockedDecision(state: PenaltyState, cost: number, at: number): RateLimitDecision | undefined {
  if (!(at < state.u)) return undefined
  const left = Math.ceil(state.u - at)
  return cost <= 0
    ? { allowed: true, remaining: 0, resetMs: left, retryAfterMs: 0 }
    : { allowed: false, remaining: 0, resetMs: left, retryAfterMs: left, blocked: true }
}

/**
 * Count the refused hit `refusal` as an offence, updating `state`; when it is the
 * `offences`-th of its period, start the next block (`blockMs`, doubled per earlier block
 * the key is still remembered for, at most `maxBlockMs`) and answer with it instead.
 */
export function offend(
  penalty: RateLimitPenalty,
  state: PenaltyState,
  refusal: RateLimitDecision,
  at: number,
): RateLimitDecision {
  // Out of trouble for forgetMs since the last block ended: the escalation starts over.
  if (at >= state.u + penalty.forgetMs) state.l = 0
  if (!(at < state.os + penalty.periodMs)) {
    state.os = at
    state.o = 0
  }
  state.o += 1
  if (state.o < penalty.offences) return refusal
  state.o = 0
  state.l += 1
  const blockMs = Math.min(penalty.maxBlockMs, penalty.blockMs * 2 ** (state.l - 1))
  state.u = at + blockMs
  return {
    allowed: false,
    remaining: 0,
    resetMs: Math.max(refusal.resetMs, blockMs),
    retryAfterMs: blockMs,
    blocked: true,
  }
}

/** How long penalty state may matter after it was last written: the offence period, or the longest block plus its memory. */
export const penaltyLifeMs = (penalty: RateLimitPenalty): number =>
  Math.max(penalty.periodMs, penalty.maxBlockMs + penalty.forgetMs)
