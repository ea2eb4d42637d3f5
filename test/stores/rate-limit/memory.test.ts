import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { memoryStore, type MemoryStoreOptions } from '../../../lib/stores/rate-limit/memory.js'
import type { RateLimitPolicy } from '../../../lib/stores/rate-limit/store.js'
import { rateLimitStoreContract } from './contract.js'

rateLimitStoreContract('memoryStore()', async (now) => memoryStore({ now }))

const fixed: RateLimitPolicy = Object.freeze({ name: 'f', algorithm: 'fixed-window', windowMs: 1000 })
const sliding: RateLimitPolicy = Object.freeze({ name: 's', algorithm: 'sliding-window', windowMs: 1000 })
const bucket: RateLimitPolicy = Object.freeze({ name: 't', algorithm: 'token-bucket', windowMs: 1000 })

function clocked(options: MemoryStoreOptions = {}) {
  const clock = { now: 1_000_000 }
  const store = memoryStore({ now: () => clock.now, ...options })
  t.teardown(() => store.close())
  return { store, clock }
}

t.test('memoryStore(): evict-oldest: a full store drops the oldest key and keeps the others exact', async (t) => {
  const { store } = clocked({ maxKeys: 3 })
  for (const key of ['a', 'b', 'c']) await store.consume(key, fixed, 2, 2)
  t.match(await store.consume('d', fixed, 2, 1), { allowed: true, remaining: 1 })
  t.same(store.stats(), { keys: 3, evictions: 1, refused: 0 })
  t.match(await store.consume('a', fixed, 2, 1), { allowed: true }, 'a was evicted: its counter restarted')
  t.match(await store.consume('c', fixed, 2, 1), { allowed: false }, 'c kept its count')
  t.equal(store.stats().keys, 3)
})

t.test('memoryStore(): refuse: a full store refuses new keys until room frees up, and counts them', async (t) => {
  const { store, clock } = clocked({ maxKeys: 2, overflow: 'refuse' })
  await store.consume('a', fixed, 5, 1)
  clock.now += 300
  await store.consume('b', fixed, 5, 1)
  t.same(
    await store.consume('c', fixed, 5, 1),
    { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 700, overflow: true },
    'room frees up when the oldest key dies',
  )
  t.match(await store.consume('b', fixed, 5, 1), { allowed: true, remaining: 3 }, 'known keys still count')
  t.match(await store.consume('c', fixed, 5, 0), { allowed: true }, 'a free hit stores nothing, so it needs no room')
  t.same(store.stats(), { keys: 2, evictions: 0, refused: 1 })
  clock.now += 700
  t.match(await store.consume('c', fixed, 5, 1), { allowed: true }, 'a dead key made room')
  t.same(store.stats(), { keys: 2, evictions: 0, refused: 1 })
})

t.test('memoryStore(): dead keys are reclaimed before anything live is evicted', async (t) => {
  const { store, clock } = clocked({ maxKeys: 2 })
  await store.consume('a', bucket, 10, 1)
  await store.consume('b', bucket, 10, 1)
  clock.now += 150 // both buckets are full again: their state is dead
  await store.consume('c', bucket, 10, 1)
  await store.consume('d', bucket, 10, 1)
  t.same(store.stats(), { keys: 2, evictions: 0, refused: 0 })
})

t.test('memoryStore(): when one policy holds every key, another policy evicts from it', async (t) => {
  const { store } = clocked({ maxKeys: 2 })
  await store.consume('a', fixed, 5, 1)
  await store.consume('b', fixed, 5, 1)
  t.match(await store.consume('x', sliding, 5, 1), { allowed: true })
  t.same(store.stats(), { keys: 2, evictions: 1, refused: 0 })
})

t.test('memoryStore(): dead keys go as the clock moves: two per hit, without any scan', async (t) => {
  const { store, clock } = clocked()
  for (let i = 0; i < 10; i++) await store.consume(`k${i}`, fixed, 5, 1)
  clock.now += 999
  await store.consume('live', fixed, 5, 1)
  t.equal(store.stats().keys, 11, 'nothing is dead yet')
  clock.now += 1
  await store.consume('live', fixed, 5, 1)
  t.equal(store.stats().keys, 9, 'two dead heads dropped')
  await store.consume('live', fixed, 5, 0)
  t.equal(store.stats().keys, 7)
})

t.test('memoryStore(): penalty state counts against maxKeys and dies after its life', async (t) => {
  const { store, clock } = clocked({ maxKeys: 10 })
  const penalty = { offences: 1, periodMs: 1000, blockMs: 2000, maxBlockMs: 4000, forgetMs: 3000 }
  const punishing: RateLimitPolicy = Object.freeze({ ...fixed, name: 'pen', penalty })
  const offend = async (key: string) => {
    await store.consume(key, punishing, 1, 1)
    t.match(await store.consume(key, punishing, 1, 1), { blocked: true }, `${key} is locked out`)
  }
  await offend('a')
  t.equal(store.stats().keys, 2, "a's counter and a's penalty state")
  clock.now += 6999
  await offend('b')
  t.equal(store.stats().keys, 3, "a's counter died with its window; its penalty state lives on")
  clock.now += 1
  await offend('c')
  t.equal(
    store.stats().keys,
    4,
    "b's and c's, and no more of a's: gone 7 s (maxBlockMs + forgetMs) after its last write",
  )
  await t.rejects(
    store.consume('d', { ...punishing, penalty: { ...penalty, blockMs: 1 } }, 0, 1) as Promise<unknown>,
    /policy "pen" is used with two different penalties/,
  )
})

t.test('memoryStore(): a key counted again moves to the back of the eviction order', async (t) => {
  const { store } = clocked({ maxKeys: 2 })
  await store.consume('a', fixed, 5, 1)
  await store.consume('b', fixed, 5, 1)
  await store.consume('a', fixed, 5, 1)
  await store.consume('c', fixed, 5, 1)
  t.match(await store.consume('a', fixed, 5, 0), { remaining: 3 }, 'a survived: b was least recently counted')
  t.match(await store.consume('b', fixed, 5, 0), { remaining: 5 })
})

t.test('memoryStore(): a refused or free hit does not count as a write for eviction order', async (t) => {
  const { store } = clocked({ maxKeys: 2 })
  await store.consume('a', fixed, 1, 1)
  await store.consume('b', fixed, 1, 1)
  await store.consume('a', fixed, 1, 1) // refused
  await store.consume('a', fixed, 1, 0) // free
  await store.consume('c', fixed, 1, 1)
  t.match(await store.consume('a', fixed, 1, 0), { remaining: 1 }, 'a was evicted')
  t.match(await store.consume('b', fixed, 1, 0), { remaining: 0 })
})

t.test("memoryStore(): one timer at most, unref'd, released by close()", async (t) => {
  const live = new Set<unknown>()
  const created: NodeJS.Timeout[] = []
  const realSet = globalThis.setInterval
  const realClear = globalThis.clearInterval
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    const timer = realSet(fn, ms)
    live.add(timer)
    created.push(timer)
    return timer
  }) as typeof setInterval
  globalThis.clearInterval = ((timer: NodeJS.Timeout) => {
    live.delete(timer)
    realClear(timer)
  }) as typeof clearInterval
  t.teardown(() => {
    globalThis.setInterval = realSet
    globalThis.clearInterval = realClear
  })

  const store = memoryStore()
  t.equal(live.size, 0, 'no timer before the first hit')
  for (const windowMs of [60_000, 5000, 120_000, 2000, 1]) {
    await store.consume('k', { name: `w${windowMs}`, algorithm: 'fixed-window', windowMs }, 5, 1)
    t.ok(live.size <= 1, `one timer with a ${windowMs} ms policy`)
  }
  t.equal(live.size, 1)
  t.ok(
    created.every((timer) => !timer.hasRef()),
    "every timer was unref'd",
  )
  await store.close()
  t.equal(live.size, 0)
})

t.test('memoryStore(): the idle sweep drops every dead key on the timer', async (t) => {
  const clock = { now: 0 }
  let tick: (() => void) | undefined
  const realSet = globalThis.setInterval
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    tick = fn
    return realSet(() => undefined, ms)
  }) as typeof setInterval
  t.teardown(() => {
    globalThis.setInterval = realSet
  })
  const store = memoryStore({ now: () => clock.now })
  t.teardown(() => store.close())
  for (let i = 0; i < 10; i++) await store.consume(`k${i}`, fixed, 1, 1)
  clock.now += 2000
  tick!()
  t.equal(store.stats().keys, 0)
})

t.test('memoryStore(): one name used with two meanings is refused', async (t) => {
  const { store } = clocked()
  await store.consume('k', fixed, 1, 1)
  await t.rejects(
    store.consume('k', { name: 'f', algorithm: 'token-bucket', windowMs: 1000 }, 1, 1) as Promise<unknown>,
    /policy "f" is used as token-bucket\/1000ms and as fixed-window\/1000ms/,
  )
  t.ok(
    (await store.consume('k2', { name: 'f', algorithm: 'fixed-window', windowMs: 1000 }, 1, 1)).allowed,
    'an equal policy object is fine',
  )
})

t.test('memoryStore(): refund and reset after close reject', async (t) => {
  const store = memoryStore()
  await store.close()
  await t.rejects(store.refund('k', fixed, 1, 1), /closed/)
  await t.rejects(store.reset('k', fixed), /closed/)
})

t.test('memoryStore(): config', async (t) => {
  t.throws(() => memoryStore({ maxKeys: 0 }), {
    name: 'ConfigError',
    message:
      /memoryStore\(\): option "maxKeys" must be a positive integer; received 0 \(number\)\. It is the hard bound/,
  })
  t.throws(() => memoryStore({ maxKeys: 1.5 }), { name: 'ConfigError', message: /option "maxKeys"/ })
  t.throws(() => memoryStore({ overflow: 'lru' as 'refuse' }), {
    name: 'ConfigError',
    message: /option "overflow" must be one of "evict-oldest", "refuse"; received "lru"/,
  })
  t.throws(() => memoryStore({ now: 5 as unknown as () => number }), {
    name: 'ConfigError',
    message: /option "now" must be a function/,
  })
  t.throws(() => memoryStore({ maxkeys: 5 } as MemoryStoreOptions), {
    name: 'ConfigError',
    message: /^memoryStore\(\): unknown option "maxkeys"; did you mean "maxKeys"\?$/,
  })
})

// Retained heap, measured in a child process with --expose-gc so nothing else in this
// process (tap, other tests) moves the numbers.
t.test(
  'memoryStore(): 1M then 2M distinct keys keep retained heap within the documented bound, and flat',
  { timeout: 120_000 },
  async (t) => {
    const fixture = fileURLToPath(new URL('./fixtures/memory-bound.ts', import.meta.url))
    const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', fixture], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let output = ''
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString()
    })
    const code = await new Promise((ok) => child.once('exit', ok))
    t.equal(code, 0)
    const result = JSON.parse(output.trim().split('\n').pop()!) as Record<string, number>
    t.comment(JSON.stringify(result))
    const bound = result.maxKeys! * 300 // docs/middleware/rate-limit.md: at most 300 bytes per key
    t.equal(result.keysAt1M, result.maxKeys)
    t.equal(result.keysAt2M, result.maxKeys)
    t.equal(result.evictions, 2_000_000 - result.maxKeys!)
    t.ok(result.retainedAt1M! <= bound, `retained after 1M keys: ${result.retainedAt1M} bytes <= ${bound}`)
    t.ok(result.retainedAt2M! <= bound, `retained after 2M keys: ${result.retainedAt2M} bytes <= ${bound}`)
    t.ok(Math.abs(result.retainedAt2M! - result.retainedAt1M!) <= 0.1 * bound, 'flat from 1M to 2M keys')
    t.ok(result.retainedAfterClose! <= 0.05 * bound, 'close() releases it all')
  },
)
