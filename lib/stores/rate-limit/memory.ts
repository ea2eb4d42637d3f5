/**
 * The in-process rate-limit store: exact for one process, O(1) per hit, and bounded.
 *
 * Memory is bounded by `maxKeys`, never by traffic: an IP-spraying client fills the store
 * up to the bound, and then the overflow policy applies (evict the key least recently
 * counted, or refuse new keys). Each policy keeps its keys in a map plus a list ordered
 * by last write, so the state most likely to be dead is always at the head: every hit
 * drops up to two dead heads, an eviction takes the head, and one unref'd timer sweeps
 * dead heads of a store left idle. All of it is O(1) per operation, with no scan of
 * the map (a Map with many deletions at its front makes "find the oldest" slow).
 * @module
 */
import { defineDefaults, expectFunction, expectInteger, expectOneOf, withDefaults } from '../../core/options.js'
import type { RateLimitDecision, RateLimitPolicy, RateLimitStore } from './store.js'
import {
  blockedDecision,
  decide,
  giveBack,
  offend,
  penaltyLifeMs,
  type PenaltyState,
  type State,
} from './algorithms.js'

/** Options for {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys held at once, over every policy using the store. A key costs 150 to 250
   * bytes, never more than 300 (see the docs), so the default stays under 30 MB.
   * Raise it when more distinct clients than this are active within one window.
   * @default 100_000
   */
  maxKeys?: number
  /**
   * What a new key does when the store is full (after dead state is reclaimed):
   * `'evict-oldest'` drops the key least recently counted, whose client then starts
   * again with a full quota; `'refuse'` keeps every counter and refuses the new key,
   * which `rateLimit()` answers with 503 and `Retry-After` until room frees up.
   * Refusing is stricter but lets a key-spraying client lock out new clients.
   * @default 'evict-oldest'
   */
  overflow?: 'evict-oldest' | 'refuse'
  /** The clock, in epoch milliseconds. Inject one in tests instead of sleeping. @default Date.now */
  now?: () => number
}

export const memoryStoreDefaults = defineDefaults<MemoryStoreOptions>({
  maxKeys: 100_000,
  overflow: 'evict-oldest',
  now: Date.now,
})

/** Counters of a {@link MemoryStore}. */
export interface MemoryStoreStats {
  /** Keys held now. */
  readonly keys: number
  /** Live keys dropped to make room since the store was made. */
  readonly evictions: number
  /** New keys refused because the store was full (overflow `'refuse'`). */
  readonly refused: number
}

/** A {@link RateLimitStore} in this process's memory. */
export interface MemoryStore extends RateLimitStore {
  /** A snapshot of the store's counters. */
  stats(): MemoryStoreStats
}

const NAME = 'memoryStore'
// The sweep timer runs at most this often, and at least once per shortest window.
const MIN_SWEEP_MS = 1000
const MAX_SWEEP_MS = 60_000
// Dead heads dropped per hit: more than one, so cleanup outpaces new keys.
const RECLAIM_PER_HIT = 2

/**
 * One key's state, linked in its policy's list by last write. `s`: window start (epoch
 * ms) or, for the token bucket, the theoretical arrival time; `p`, `c`: counts.
 */
class Entry implements State {
  readonly key: string
  s: number
  p: number
  c: number
  prev: Entry | undefined = undefined
  next: Entry | undefined = undefined
  constructor(key: string, s: number, p: number, c: number) {
    this.key = key
    this.s = s
    this.p = p
    this.c = c
  }
}

/**
 * One key's penalty state (see `PenaltyState`), in its policy's penalty lane. `s` is the
 * time of the last write: the entry dies a fixed time after it, so the lane's list, ordered
 * by last write, is also ordered by death.
 */
class PenaltyEntry extends Entry implements PenaltyState {
  o = 0
  os = Number.NaN
  l = 0
  u = Number.NaN
}

/**
 * The keys of one policy: a map for lookups, a list (head: least recently written) for order.
 * A penalty lane holds the policy's penalty state instead, each entry living `lifeMs` after
 * its last write.
 */
class Lane {
  readonly policy: RateLimitPolicy
  readonly map = new Map<string, Entry>()
  head: Entry | undefined = undefined
  tail: Entry | undefined = undefined
  readonly lifeMs: number | undefined
  constructor(policy: RateLimitPolicy, lifeMs?: number) {
    this.policy = policy
    this.lifeMs = lifeMs
  }

  append(entry: Entry): void {
    entry.prev = this.tail
    entry.next = undefined
    if (this.tail === undefined) this.head = entry
    else this.tail.next = entry
    this.tail = entry
  }

  unlink(entry: Entry): void {
    if (entry.prev === undefined) this.head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === undefined) this.tail = entry.prev
    else entry.next.prev = entry.prev
    entry.prev = entry.next = undefined
  }
}

/**
 * An in-memory {@link RateLimitStore}, bounded by `maxKeys`.
 * @example
 * const store = memoryStore({ maxKeys: 50_000 })
 * const app = compose(rateLimit({ limit: 100, store }))(handler)
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const { maxKeys, overflow, now } = checkOptions(options)
  const lanes = new Map<string, Lane>()
  // Penalty state, a lane per policy with a penalty: kept apart from the counters, since it
  // lives longer and dies on its own schedule. It counts against maxKeys like any key.
  const penaltyLanes = new Map<string, Lane>()
  let size = 0
  let evictions = 0
  let refused = 0
  let closed = false
  let timer: ReturnType<typeof setInterval> | undefined
  let timerPeriod = Infinity

  function laneFor(policy: RateLimitPolicy): Lane {
    let lane = lanes.get(policy.name)
    if (lane === undefined) {
      lane = new Lane(policy)
      lanes.set(policy.name, lane)
      schedule(policy.windowMs)
    } else if (
      lane.policy !== policy &&
      (lane.policy.algorithm !== policy.algorithm || lane.policy.windowMs !== policy.windowMs)
    ) {
      // One name, two meanings: the counters would be read with the wrong arithmetic.
      throw new Error(
        `${NAME}(): policy "${policy.name}" is used as ${policy.algorithm}/${policy.windowMs}ms and as ` +
          `${lane.policy.algorithm}/${lane.policy.windowMs}ms; give each limiter sharing a store its own name.`,
      )
    }
    return lane
  }

  function penaltyLaneFor(policy: RateLimitPolicy): Lane {
    let lane = penaltyLanes.get(policy.name)
    if (lane === undefined) {
      lane = new Lane(policy, penaltyLifeMs(policy.penalty!))
      penaltyLanes.set(policy.name, lane)
    } else if (lane.policy !== policy && !samePenalty(lane.policy, policy)) {
      throw new Error(
        `${NAME}(): policy "${policy.name}" is used with two different penalties; give each limiter sharing a store its own name.`,
      )
    }
    return lane
  }

  /** Count a refused hit of `key` as an offence under `policy.penalty`; the answer, a block if it starts one. */
  function punish(policy: RateLimitPolicy, key: string, refusal: RateLimitDecision, at: number): RateLimitDecision {
    const lane = penaltyLaneFor(policy)
    reclaim(lane, at, RECLAIM_PER_HIT)
    let entry = lane.map.get(key) as PenaltyEntry | undefined
    if (entry === undefined) {
      // No room for the state (overflow 'refuse'): the refusal stands, unpunished.
      if (size >= maxKeys && !makeRoom(lane, at)) return refusal
      entry = new PenaltyEntry(ownCopy(key), at, 0, 0)
      lane.map.set(entry.key, entry)
      size++
    } else {
      lane.unlink(entry)
      entry.s = at
    }
    lane.append(entry)
    return offend(policy.penalty!, entry, refusal, at)
  }

  function remove(lane: Lane, entry: Entry): void {
    lane.unlink(entry)
    lane.map.delete(entry.key)
    size--
  }

  /** Drop up to `max` dead keys from the head of `lane`. */
  function reclaim(lane: Lane, at: number, max: number): void {
    for (let i = 0; i < max; i++) {
      const head = lane.head
      if (head === undefined || !isDead(lane, head, at)) return
      remove(lane, head)
    }
  }

  /** One timer for the whole store, unref'd, so an idle store still releases dead state. */
  function schedule(windowMs: number): void {
    const every = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, windowMs))
    if (every >= timerPeriod) return
    if (timer !== undefined) clearInterval(timer)
    timerPeriod = every
    timer = setInterval(sweep, every)
    timer.unref()
  }

  function sweep(): void {
    sweepAt(now())
  }

  function sweepAt(at: number): void {
    for (const lane of lanes.values()) reclaim(lane, at, Infinity)
    for (const lane of penaltyLanes.values()) reclaim(lane, at, Infinity)
  }

  /** Make room for one new key in `lane`; false when the policy is to refuse. */
  function makeRoom(lane: Lane, at: number): boolean {
    // Dead state first, in every policy: each key is reclaimed once, so this stays O(1)
    // per hit when amortised over the hits that created the keys.
    sweepAt(at)
    if (size < maxKeys) return true
    if (overflow === 'refuse') {
      refused++
      return false
    }
    // The lane may be empty when other policies hold every key; evict from one that has one.
    let victim = lane
    if (victim.head === undefined) for (const other of lanes.values()) if (other.head !== undefined) victim = other
    if (victim.head === undefined)
      for (const other of penaltyLanes.values()) if (other.head !== undefined) victim = other
    /* c8 ignore next */
    if (victim.head === undefined) return true // unreachable: a full store holds a key
    remove(victim, victim.head)
    evictions++
    return true
  }

  return {
    kind: 'memory',
    penalties: true,

    // Synchronous: the decision itself, never a promise (see RateLimitStore.consume); failures
    // still reject, as a backend's would.
    consume(key, policy, limit, cost) {
      if (closed) return Promise.reject(closedError())
      try {
        const at = now()
        const lane = laneFor(policy)
        reclaim(lane, at, RECLAIM_PER_HIT)
        if (policy.penalty !== undefined) {
          const punished = penaltyLanes.get(policy.name)?.map.get(key) as PenaltyEntry | undefined
          const blocked = punished === undefined ? undefined : blockedDecision(punished, cost, at)
          if (blocked !== undefined) return blocked
        }
        const entry = lane.map.get(key)
        // Decide on a copy: state is written only by a hit that is allowed and costs
        // something, exactly as the Redis scripts do, so a refused or free hit never
        // moves a window.
        const state = entry === undefined ? SCRATCH.fresh() : SCRATCH.copy(entry)
        const decision = decide(policy, state, limit, cost, at)
        if (!decision.allowed && cost > 0 && policy.penalty !== undefined) {
          return punish(policy, key, decision, at)
        }
        if (decision.allowed && cost > 0) {
          if (entry === undefined) {
            if (size >= maxKeys && !makeRoom(lane, at)) return overflowDecision(lane, at)
            const created = new Entry(ownCopy(key), state.s, state.p, state.c)
            lane.map.set(key, created)
            lane.append(created)
            size++
          } else {
            entry.s = state.s
            entry.p = state.p
            entry.c = state.c
            if (lane.tail !== entry) {
              lane.unlink(entry)
              lane.append(entry)
            }
          }
        }
        return decision
      } catch (err) {
        return Promise.reject(err)
      }
    },

    refund(key, policy, limit, cost) {
      if (closed) return Promise.reject(closedError())
      const entry = lanes.get(policy.name)?.map.get(key)
      // A refund only brings death closer, so the entry keeps its place in the list.
      if (entry !== undefined && cost > 0) giveBack(policy, entry, limit, cost, now())
      return Promise.resolve()
    },

    reset(key, policy) {
      if (closed) return Promise.reject(closedError())
      const lane = lanes.get(policy.name)
      const entry = lane?.map.get(key)
      if (entry !== undefined) remove(lane!, entry)
      const penaltyLane = penaltyLanes.get(policy.name)
      const punished = penaltyLane?.map.get(key)
      if (punished !== undefined) remove(penaltyLane!, punished)
      return Promise.resolve()
    },

    close() {
      closed = true
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      lanes.clear()
      penaltyLanes.clear()
      size = 0
      return Promise.resolve()
    },

    stats: () => ({ keys: size, evictions, refused }),
  }
}

function checkOptions(options: MemoryStoreOptions): Required<MemoryStoreOptions> {
  const opts = withDefaults(NAME, memoryStoreDefaults, options)
  expectInteger(
    NAME,
    'maxKeys',
    opts.maxKeys,
    1,
    Number.MAX_SAFE_INTEGER,
    'It is the hard bound on keys held; 100_000 keys take at most 30 MB.',
  )
  expectOneOf(NAME, 'overflow', opts.overflow, ['evict-oldest', 'refuse'] as const)
  expectFunction(NAME, 'now', opts.now)
  return opts
}

const closedError = () => new Error(`${NAME}(): the store is closed.`)

// The state a decision works on, reused for every hit (the store is synchronous inside),
// so deciding allocates nothing. A fresh key has `s` NaN.
const SCRATCH = {
  s: 0,
  p: 0,
  c: 0,
  fresh() {
    this.s = Number.NaN
    this.p = 0
    this.c = 0
    return this
  },
  copy(entry: Entry) {
    this.s = entry.s
    this.p = entry.p
    this.c = entry.c
    return this
  },
}

const LATIN1 = /^[\x00-\xff]*$/

/**
 * A flat copy of `key` for long-term storage. Keys built by concatenation (an IPv6
 * prefix, `user:${id}`) are rope strings: kept as they are, each costs about 80 bytes
 * more than its text. Done once per new key, never per hit.
 */
function ownCopy(key: string): string {
  return key.length > 12 && LATIN1.test(key) ? Buffer.from(key, 'latin1').toString('latin1') : key
}

/** When a key's state no longer differs from a fresh key's. */
function deathOf(lane: Lane, entry: Entry): number {
  if (lane.lifeMs !== undefined) return entry.s + lane.lifeMs
  switch (lane.policy.algorithm) {
    case 'fixed-window':
      return entry.s + lane.policy.windowMs
    case 'sliding-window':
      return entry.s + 2 * lane.policy.windowMs
    default:
      return entry.s
  }
}

const isDead = (lane: Lane, entry: Entry, at: number): boolean => at >= deathOf(lane, entry)

/** Whether two policies of one name punish alike (a limiter rebuilt with the same settings). */
function samePenalty(a: RateLimitPolicy, b: RateLimitPolicy): boolean {
  const x = a.penalty
  const y = b.penalty
  return (
    x !== undefined &&
    y !== undefined &&
    x.offences === y.offences &&
    x.periodMs === y.periodMs &&
    x.blockMs === y.blockMs &&
    x.maxBlockMs === y.maxBlockMs &&
    x.forgetMs === y.forgetMs
  )
}

function overflowDecision(lane: Lane, at: number): RateLimitDecision {
  // Room frees up when the oldest key of this policy dies, at the latest.
  const wait = lane.head === undefined ? lane.policy.windowMs : deathOf(lane, lane.head) - at
  return { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: Math.max(1, Math.ceil(wait)), overflow: true }
}
