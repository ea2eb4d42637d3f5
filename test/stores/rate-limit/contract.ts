/**
 * The contract every RateLimitStore keeps, run by memory.test.ts and redis.test.ts
 * against a store built on an injected clock.
 */
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { blockedDecision, decide, offend } from '../../../lib/stores/rate-limit/algorithms.js'
import type {
  RateLimitAlgorithm,
  RateLimitDecision,
  RateLimitPenalty,
  RateLimitPolicy,
  RateLimitStore,
} from '../../../lib/stores/rate-limit/store.js'

/** Builds a fresh, empty store reading time from `now`. */
export type StoreFactory = (now: () => number) => Promise<RateLimitStore>

export interface ContractOptions {
  /** fast-check runs per algorithm for the model test. @default 100 */
  readonly propertyRuns?: number
}

const ALGORITHMS: readonly RateLimitAlgorithm[] = ['fixed-window', 'sliding-window', 'token-bucket']
const T0 = 1_700_000_000_000

const policyOf = (
  algorithm: RateLimitAlgorithm,
  windowMs = 1000,
  name = 'p',
  penalty?: RateLimitPenalty,
): RateLimitPolicy =>
  Object.freeze(penalty === undefined ? { name, algorithm, windowMs } : { name, algorithm, windowMs, penalty })

const PENALTY: RateLimitPenalty = Object.freeze({
  offences: 2,
  periodMs: 10_000,
  blockMs: 5000,
  maxBlockMs: 12_000,
  forgetMs: 60_000,
})

export function rateLimitStoreContract(storeName: string, make: StoreFactory, options: ContractOptions = {}): void {
  const runs = options.propertyRuns ?? 100

  /** A store on a clock the test moves by hand. */
  async function setup(t: Test) {
    const clock = { now: T0 }
    const store = await make(() => clock.now)
    t.teardown(() => store.close())
    return { store, clock }
  }

  for (const algorithm of ALGORITHMS) {
    t.test(
      `${storeName}: ${algorithm}: 500 concurrent hits with limit 100 allow exactly 100, each seeing its own remaining`,
      async (t) => {
        const { store } = await setup(t)
        const policy = policyOf(algorithm, 3_600_000)
        const results = await Promise.all(Array.from({ length: 500 }, () => store.consume('k', policy, 100, 1)))
        const allowed = results.filter((r) => r.allowed)
        t.equal(allowed.length, 100)
        t.same(
          allowed.map((r) => r.remaining).sort((a, b) => a - b),
          Array.from({ length: 100 }, (_, i) => i),
        )
        t.ok(results.filter((r) => !r.allowed).every((r) => r.remaining === 0 && r.retryAfterMs > 0))
      },
    )

    t.test(`${storeName}: ${algorithm}: refused hits consume nothing`, async (t) => {
      const { store, clock } = await setup(t)
      const policy = policyOf(algorithm)
      for (let i = 0; i < 3; i++) t.ok((await store.consume('k', policy, 3, 1)).allowed)
      for (let i = 0; i < 20; i++) t.notOk((await store.consume('k', policy, 3, 1)).allowed)
      clock.now += 2000
      const after = await store.consume('k', policy, 3, 1)
      t.ok(after.allowed)
      t.equal(after.remaining, 2, 'a full quota again: the refused hits left no trace')
    })

    t.test(`${storeName}: ${algorithm}: costs weigh hits, and a cost above the limit never passes`, async (t) => {
      const { store } = await setup(t)
      const policy = policyOf(algorithm, 3_600_000)
      t.match(await store.consume('k', policy, 100, 30), { allowed: true, remaining: 70 })
      t.match(await store.consume('k', policy, 100, 60), { allowed: true, remaining: 10 })
      t.match(await store.consume('k', policy, 100, 11), { allowed: false, remaining: 10 })
      t.match(await store.consume('k', policy, 100, 10), { allowed: true, remaining: 0 })
      t.match(await store.consume('fresh', policy, 100, 101), {
        allowed: false,
        remaining: 100,
        retryAfterMs: 3_600_000,
      })
      t.match(
        await store.consume('fresh', policy, 100, 0),
        { allowed: true, remaining: 100, resetMs: 0 },
        'nothing was stored',
      )
    })

    t.test(`${storeName}: ${algorithm}: a hit of cost 0 reports the state without changing it`, async (t) => {
      const { store } = await setup(t)
      const policy = policyOf(algorithm, 3_600_000)
      await store.consume('k', policy, 10, 4)
      t.match(await store.consume('k', policy, 10, 0), { allowed: true, remaining: 6 })
      t.match(await store.consume('k', policy, 10, 0), { allowed: true, remaining: 6 })
    })

    t.test(`${storeName}: ${algorithm}: limit 0 refuses every hit that costs something`, async (t) => {
      const { store } = await setup(t)
      const policy = policyOf(algorithm)
      t.match(await store.consume('k', policy, 0, 1), { allowed: false, remaining: 0, retryAfterMs: 1000 })
      t.match(await store.consume('k', policy, 0, 0), { allowed: true, remaining: 0 })
    })

    t.test(`${storeName}: ${algorithm}: keys and policy names are independent`, async (t) => {
      const { store } = await setup(t)
      const a = policyOf(algorithm, 1000, 'a')
      const b = policyOf(algorithm, 1000, 'b')
      t.ok((await store.consume('k', a, 1, 1)).allowed)
      t.notOk((await store.consume('k', a, 1, 1)).allowed)
      t.ok((await store.consume('k2', a, 1, 1)).allowed)
      t.ok((await store.consume('k', b, 1, 1)).allowed)
    })

    t.test(
      `${storeName}: ${algorithm}: refund gives units back, never below zero usage, and creates nothing`,
      async (t) => {
        const { store } = await setup(t)
        const policy = policyOf(algorithm, 3_600_000)
        await store.consume('k', policy, 10, 5)
        await store.refund('k', policy, 10, 2)
        t.match(await store.consume('k', policy, 10, 0), { remaining: 7 })
        await store.refund('k', policy, 10, 100)
        t.match(await store.consume('k', policy, 10, 0), { remaining: 10 })
        await store.refund('never-seen', policy, 10, 5)
        t.match(await store.consume('never-seen', policy, 10, 0), { remaining: 10, resetMs: 0 })
      },
    )

    t.test(
      `${storeName}: ${algorithm}: a refund after the hit's window ended is dropped (windows) or capped at a full bucket`,
      async (t) => {
        const { store, clock } = await setup(t)
        const policy = policyOf(algorithm)
        await store.consume('k', policy, 10, 4)
        clock.now += 1000
        await store.consume('k', policy, 10, 0)
        await store.refund('k', policy, 10, 4)
        const expected = algorithm === 'sliding-window' ? 6 : 10
        t.match(await store.consume('k', policy, 10, 0), { remaining: expected })
      },
    )

    t.test(`${storeName}: ${algorithm}: reset forgets a key`, async (t) => {
      const { store } = await setup(t)
      const policy = policyOf(algorithm)
      await store.consume('k', policy, 2, 2)
      t.notOk((await store.consume('k', policy, 2, 1)).allowed)
      await store.reset('k', policy)
      t.match(await store.consume('k', policy, 2, 1), { allowed: true, remaining: 1 })
    })

    t.test(`${storeName}: ${algorithm}: a clock going backwards never raises the quota`, async (t) => {
      const { store, clock } = await setup(t)
      const policy = policyOf(algorithm)
      await store.consume('k', policy, 5, 5)
      clock.now -= 5000
      t.match(await store.consume('k', policy, 5, 1), { allowed: false, remaining: 0 })
    })

    t.test(
      `${storeName}: ${algorithm}: keys with braces, percent signs, unicode and great length are kept apart`,
      async (t) => {
        const { store } = await setup(t)
        const policy = policyOf(algorithm)
        const keys = ['{a}', '%7Ba%7D', 'a}b{', 'ключ', 'x'.repeat(500), '']
        for (const key of keys)
          t.match(await store.consume(key, policy, 1, 1), { allowed: true }, JSON.stringify(key.slice(0, 20)))
        for (const key of keys) t.match(await store.consume(key, policy, 1, 1), { allowed: false })
      },
    )

    t.test(
      `${storeName}: ${algorithm}: matches the reference arithmetic over random traffic, and remaining only rises as time restores quota`,
      async (t) => {
        const { store, clock } = await setup(t)
        let run = 0
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 20 }),
            fc.array(
              fc.record({
                advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 700 })),
                cost: fc.integer({ min: 0, max: 4 }),
              }),
              { maxLength: 30 },
            ),
            async (limit, steps) => {
              const policy = policyOf(algorithm, 1000, `model${run++}`)
              const model = { s: Number.NaN, p: 0, c: 0 }
              let previous: RateLimitDecision | undefined
              for (const step of steps) {
                clock.now += step.advance
                const windowBefore = model.s
                // The reference: decide on a copy, keep it only when the hit is allowed and costs
                // something (state is written by such hits alone).
                const next = { ...model }
                const expected = decide(policy, next, limit, step.cost, clock.now)
                if (expected.allowed && step.cost > 0) Object.assign(model, next)
                const actual = await store.consume('k', policy, limit, step.cost)
                if (JSON.stringify(actual) !== JSON.stringify(expected)) {
                  throw new Error(
                    `step ${JSON.stringify(step)}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
                  )
                }
                if (previous !== undefined) {
                  // A fixed window restores everything when a new one starts, nothing before.
                  const restored =
                    algorithm === 'fixed-window'
                      ? Number.isNaN(windowBefore) || clock.now >= windowBefore + 1000
                        ? limit
                        : 0
                      : Math.ceil((limit * step.advance) / 1000)
                  if (actual.remaining > previous.remaining + restored) {
                    throw new Error(
                      `remaining rose from ${previous.remaining} to ${actual.remaining} in ${step.advance} ms`,
                    )
                  }
                }
                if (
                  actual.remaining > limit ||
                  !Number.isInteger(actual.remaining + actual.resetMs + actual.retryAfterMs)
                ) {
                  throw new Error(`out of range: ${JSON.stringify(actual)}`)
                }
                previous = actual
              }
            },
          ),
          { numRuns: runs },
        )
        t.pass()
      },
    )

    t.test(
      `${storeName}: ${algorithm}: penalties: 200 concurrent hits allow exactly limit, then offences, then a block`,
      async (t) => {
        const { store } = await setup(t)
        t.equal(store.penalties, true, 'the store declares that it applies penalties')
        const policy = policyOf(algorithm, 3_600_000, 'pc', { ...PENALTY, offences: 5 })
        const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('k', policy, 10, 1)))
        t.equal(results.filter((r) => r.allowed).length, 10)
        t.equal(results.filter((r) => !r.allowed && r.blocked !== true).length, 4, 'four plain refusals')
        t.equal(
          results.filter((r) => r.blocked === true).length,
          186,
          'the fifth offence blocks, and the block refuses the rest',
        )
        t.ok(results.filter((r) => r.blocked === true).every((r) => r.retryAfterMs === 5000 && r.remaining === 0))
      },
    )

    t.test(`${storeName}: ${algorithm}: penalties: match the reference arithmetic over random traffic`, async (t) => {
      const { store, clock } = await setup(t)
      let run = 0
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 5 }),
          fc.record({
            offences: fc.integer({ min: 1, max: 3 }),
            periodMs: fc.integer({ min: 1, max: 3000 }),
            blockMs: fc.integer({ min: 1, max: 2000 }),
            extra: fc.integer({ min: 0, max: 5000 }),
            forgetMs: fc.integer({ min: 1, max: 5000 }),
          }),
          fc.array(
            fc.record({
              advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1500 })),
              cost: fc.integer({ min: 0, max: 3 }),
            }),
            { maxLength: 40 },
          ),
          async (limit, p, steps) => {
            const penalty = {
              offences: p.offences,
              periodMs: p.periodMs,
              blockMs: p.blockMs,
              maxBlockMs: p.blockMs + p.extra,
              forgetMs: p.forgetMs,
            }
            const policy = policyOf(algorithm, 1000, `pm${run++}`, penalty)
            const model = { s: Number.NaN, p: 0, c: 0 }
            const punished = { o: 0, os: Number.NaN, l: 0, u: Number.NaN }
            for (const step of steps) {
              clock.now += step.advance
              let expected = blockedDecision(punished, step.cost, clock.now)
              if (expected === undefined) {
                const next = { ...model }
                expected = decide(policy, next, limit, step.cost, clock.now)
                if (expected.allowed && step.cost > 0) Object.assign(model, next)
                if (!expected.allowed && step.cost > 0) expected = offend(penalty, punished, expected, clock.now)
              }
              const actual = await store.consume('k', policy, limit, step.cost)
              if (JSON.stringify(actual) !== JSON.stringify(expected)) {
                throw new Error(
                  `step ${JSON.stringify(step)}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
                )
              }
            }
          },
        ),
        { numRuns: runs },
      )
      t.pass()
    })
  }

  t.test(
    `${storeName}: penalties: each block doubles the last, up to maxBlockMs; forgotten after forgetMs`,
    async (t) => {
      const { store, clock } = await setup(t)
      const policy = policyOf('fixed-window', 1000, 'pe', PENALTY)
      /** Spend the quota, then offend until blocked; returns the block's length. */
      const offendUntilBlocked = async () => {
        t.match(await store.consume('k', policy, 1, 1), { allowed: true })
        t.match(await store.consume('k', policy, 1, 1), { allowed: false, retryAfterMs: 1000 })
        t.notOk((await store.consume('k', policy, 1, 1)).allowed)
        return (await store.consume('k', policy, 1, 0)).resetMs
      }
      t.equal(await offendUntilBlocked(), 5000, 'the second offence within periodMs blocks for blockMs')
      clock.now += 4999
      t.same(
        await store.consume('k', policy, 1, 1),
        { allowed: false, remaining: 0, resetMs: 1, retryAfterMs: 1, blocked: true },
        'a blocked key is refused, its quota untouched',
      )
      t.match(
        await store.consume('k', policy, 1, 0),
        { allowed: true, remaining: 0, retryAfterMs: 0 },
        'a free hit still passes',
      )
      clock.now += 1
      t.equal(await offendUntilBlocked(), 10_000, 'the next block is twice as long')
      clock.now += 10_000
      t.equal(await offendUntilBlocked(), 12_000, 'then capped at maxBlockMs')
      clock.now += 12_000
      t.equal(await offendUntilBlocked(), 12_000)
      clock.now += 12_000 + 60_000
      t.equal(await offendUntilBlocked(), 5000, 'forgetMs after the last block ended, the escalation starts over')
    },
  )

  t.test(
    `${storeName}: penalties: offences outside one period do not add up; blocked hits are no offences`,
    async (t) => {
      const { store, clock } = await setup(t)
      const policy = policyOf('fixed-window', 1000, 'pp', PENALTY)
      await store.consume('k', policy, 1, 1)
      t.notOk((await store.consume('k', policy, 1, 1)).blocked, 'first offence')
      clock.now += 10_000
      await store.consume('k', policy, 1, 1)
      t.notOk((await store.consume('k', policy, 1, 1)).blocked, 'the period of the first offence is over')
      t.match(await store.consume('k', policy, 1, 1), { blocked: true, retryAfterMs: 5000 })
      for (let i = 0; i < 10; i++) await store.consume('k', policy, 1, 1)
      clock.now += 5000
      t.match(await store.consume('k', policy, 1, 1), { allowed: true }, 'hammering a block does not extend it')
    },
  )

  t.test(`${storeName}: penalties: reset() lifts a block and its escalation`, async (t) => {
    const { store } = await setup(t)
    const policy = policyOf('sliding-window', 1000, 'pr', { ...PENALTY, offences: 1 })
    await store.consume('k', policy, 1, 1)
    t.match(await store.consume('k', policy, 1, 1), { blocked: true })
    t.match(await store.consume('other', policy, 1, 1), { allowed: true }, 'other keys are not blocked')
    await store.reset('k', policy)
    t.match(await store.consume('k', policy, 1, 1), { allowed: true })
    t.match(await store.consume('k', policy, 1, 1), { blocked: true, retryAfterMs: 5000 }, 'level 1 again')
  })

  t.test(`${storeName}: penalties: a policy without a penalty never blocks`, async (t) => {
    const { store } = await setup(t)
    const policy = policyOf('fixed-window', 1000, 'pn')
    await store.consume('k', policy, 1, 1)
    for (let i = 0; i < 10; i++)
      t.same(await store.consume('k', policy, 1, 1), {
        allowed: false,
        remaining: 0,
        resetMs: 1000,
        retryAfterMs: 1000,
      })
  })

  t.test(
    `${storeName}: fixed-window: the window starts with the first hit and rolls over after windowMs`,
    async (t) => {
      const { store, clock } = await setup(t)
      const policy = policyOf('fixed-window')
      t.match(await store.consume('k', policy, 3, 1), { allowed: true, remaining: 2, resetMs: 1000 })
      clock.now += 400
      t.match(await store.consume('k', policy, 3, 2), { allowed: true, remaining: 0, resetMs: 600 })
      t.match(await store.consume('k', policy, 3, 1), { allowed: false, remaining: 0, retryAfterMs: 600 })
      clock.now += 599
      t.match(await store.consume('k', policy, 3, 1), { allowed: false, retryAfterMs: 1 })
      clock.now += 1
      t.match(await store.consume('k', policy, 3, 1), { allowed: true, remaining: 2, resetMs: 1000 })
    },
  )

  t.test(`${storeName}: sliding-window: the previous window counts by its remaining overlap`, async (t) => {
    const { store, clock } = await setup(t)
    const policy = policyOf('sliding-window')
    t.match(await store.consume('k', policy, 10, 10), { allowed: true, remaining: 0, resetMs: 2000 })
    clock.now += 1000
    // The previous window (10 hits) still covers the whole sliding window.
    t.match(await store.consume('k', policy, 10, 1), { allowed: false, remaining: 0, retryAfterMs: 100 })
    clock.now += 500
    // Half of it remains: 5 of 10 used.
    t.match(await store.consume('k', policy, 10, 0), { remaining: 5, resetMs: 500 })
    t.match(await store.consume('k', policy, 10, 5), { allowed: true, remaining: 0, resetMs: 1500 })
    t.match(await store.consume('k', policy, 10, 1), { allowed: false })
    clock.now += 2000
    t.match(await store.consume('k', policy, 10, 1), { allowed: true, remaining: 9 })
  })

  t.test(`${storeName}: token-bucket: a burst of limit, then one unit per windowMs / limit`, async (t) => {
    const { store, clock } = await setup(t)
    const policy = policyOf('token-bucket')
    t.match(await store.consume('k', policy, 10, 10), { allowed: true, remaining: 0, resetMs: 1000 })
    t.match(await store.consume('k', policy, 10, 1), { allowed: false, retryAfterMs: 100 })
    clock.now += 100
    t.match(await store.consume('k', policy, 10, 1), { allowed: true, remaining: 0 })
    clock.now += 350
    t.match(await store.consume('k', policy, 10, 0), { remaining: 3, resetMs: 650 })
    clock.now += 5000
    t.match(await store.consume('k', policy, 10, 1), { allowed: true, remaining: 9, resetMs: 100 })
  })

  t.test(`${storeName}: token-bucket: a window that limit does not divide still allows exactly limit`, async (t) => {
    const { store } = await setup(t)
    const policy = policyOf('token-bucket', 1000)
    let allowed = 0
    for (let i = 0; i < 10; i++) if ((await store.consume('k', policy, 3, 1)).allowed) allowed++
    t.equal(allowed, 3)
  })

  t.test(`${storeName}: close() makes consume reject, and closing twice is harmless`, async (t) => {
    const store = await make(() => T0)
    await store.close()
    // A failure is a rejection, never a decision nor a throw (consume may answer synchronously only with a decision).
    await t.rejects(store.consume('k', policyOf('fixed-window'), 1, 1) as Promise<unknown>, /closed/)
    await store.close()
  })
}
