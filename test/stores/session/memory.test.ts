import t from 'tap'
import { memorySessionStore, type SessionPatch } from '../../../lib/index.js'
import { sessionStoreContract } from './contract.js'

let now = 1_000_000
sessionStoreContract(
  'memorySessionStore()',
  async () => memorySessionStore({ now: () => now }),
  async (store, id, ms) => {
    const start = now
    now = start + ms
    const alive = (await store.load(id)) !== undefined
    now = start
    return alive
  },
)

const patch = (createdAt?: number): SessionPatch => ({
  ...(createdAt === undefined ? {} : { createdAt }),
  seenAt: 1,
  set: new Map([['k', '1']]),
  remove: [],
})

t.test('memorySessionStore(): sessions expire on the injected clock', async (t) => {
  let at = 0
  const store = memorySessionStore({ now: () => at })
  await store.save('a', patch(0), 1000)
  at = 999
  t.ok(await store.load('a'))
  at = 1000
  t.equal(await store.load('a'), undefined)
  t.equal(await store.save('a', patch(), 1000), false, 'an expired session is not patched')
})

t.test('memorySessionStore(): bounded: expired sessions go first, then the least recently used', async (t) => {
  let at = 0
  const store = memorySessionStore({ maxSessions: 3, now: () => at })
  await store.save('short', patch(0), 10)
  await store.save('a', patch(0), 10_000)
  await store.save('b', patch(0), 10_000)
  at = 20
  await store.save('c', patch(0), 10_000)
  t.equal(store.size, 3)
  t.equal(await store.load('short'), undefined)
  t.ok(await store.load('a'), 'a is now the most recently used')
  await store.save('d', patch(0), 10_000)
  t.equal(await store.load('b'), undefined, 'b was the least recently used')
  t.ok(await store.load('a'))
  t.ok(await store.load('c'))
  t.ok(await store.load('d'))
})

t.test('memorySessionStore(): a loaded record does not change with later writes', async (t) => {
  const store = memorySessionStore()
  await store.save('a', patch(0), 10_000)
  const record = await store.load('a')
  await store.save('a', { seenAt: 2, set: new Map([['k', '2']]), remove: [] }, 10_000)
  t.equal(record!.fields.get('k'), '1')
})

t.test('memorySessionStore(): refuses a non-positive ttl and use after close', async (t) => {
  const store = memorySessionStore()
  await t.rejects(store.save('a', patch(0), 0), {
    name: 'RangeError',
    message: /save\(\) needs a positive ttlMs; received 0/,
  })
  await store.close()
  await t.rejects(store.load('a'), { message: /memorySessionStore\(\): the store was closed/ })
  await t.rejects(store.save('a', patch(0), 10), /closed/)
  await t.rejects(store.destroy('a'), /closed/)
})

t.test('memorySessionStore(): config', async (t) => {
  t.throws(() => memorySessionStore({ maxSessions: 0 }), {
    name: 'ConfigError',
    message: /memorySessionStore\(\): option "maxSessions" must be a positive integer/,
  })
  t.throws(() => memorySessionStore({ now: 1 as never }), {
    name: 'ConfigError',
    message: /option "now" must be a function/,
  })
  t.throws(() => memorySessionStore({ max: 3 } as never), {
    name: 'ConfigError',
    message: /^memorySessionStore\(\): unknown option "max"; did you mean "maxSessions"\?$/,
  })
})
