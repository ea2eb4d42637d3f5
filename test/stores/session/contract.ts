/**
 * The contract every session store passes: run by memory-session.test.ts and
 * redis-session.test.ts against their backend.
 */
import t, { type Test } from 'tap'
import type { SessionPatch, SessionStore } from '../../../lib/index.js'

const patch = (
  fields: Record<string, unknown>,
  remove: string[] = [],
  createdAt?: number,
  seenAt = 2000,
): SessionPatch => ({
  ...(createdAt === undefined ? {} : { createdAt }),
  seenAt,
  set: new Map(Object.entries(fields).map(([k, v]) => [k, JSON.stringify(v)])),
  remove,
})

const read = async (store: SessionStore, id: string) => {
  const record = await store.load(id)
  return (
    record && {
      createdAt: record.createdAt,
      seenAt: record.seenAt,
      fields: Object.fromEntries([...record.fields].map(([k, v]) => [k, JSON.parse(v)])),
    }
  )
}

/** `make` gives a fresh store; `aliveAfter` says whether a session would still exist `ms` from now. */
export function sessionStoreContract(
  name: string,
  make: () => Promise<SessionStore>,
  aliveAfter: (store: SessionStore, id: string, ms: number) => Promise<boolean>,
): void {
  const open = async (t: Test): Promise<SessionStore> => {
    const store = await make()
    t.teardown(() => store.close())
    return store
  }

  t.test(`${name}: a missing session loads as undefined`, async (t) => {
    const store = await open(t)
    t.equal(await store.load('nope'), undefined)
    await store.destroy('nope')
  })

  t.test(`${name}: a patch with createdAt creates; without it, a missing session is not created`, async (t) => {
    const store = await open(t)
    t.equal(await store.save('a', patch({ x: 1 }), 60_000), false)
    t.equal(await store.load('a'), undefined)
    t.equal(await store.save('a', patch({ x: 1, y: { deep: [1, 'two'] } }, [], 1000), 60_000), true)
    t.same(await read(store, 'a'), { createdAt: 1000, seenAt: 2000, fields: { x: 1, y: { deep: [1, 'two'] } } })
  })

  t.test(`${name}: patches merge per field and remove fields`, async (t) => {
    const store = await open(t)
    await store.save('b', patch({ a: 1, b: 2, c: 3 }, [], 1000), 60_000)
    t.equal(await store.save('b', patch({ a: 10 }, [], undefined, 3000), 60_000), true)
    t.equal(await store.save('b', patch({ d: 4 }, ['b']), 60_000), true)
    t.same(await read(store, 'b'), { createdAt: 1000, seenAt: 2000, fields: { a: 10, c: 3, d: 4 } })
  })

  t.test(`${name}: creating again keeps the original creation time`, async (t) => {
    const store = await open(t)
    await store.save('c', patch({ a: 1 }, [], 1000), 60_000)
    await store.save('c', patch({ b: 2 }, [], 5000), 60_000)
    t.same(await read(store, 'c'), { createdAt: 1000, seenAt: 2000, fields: { a: 1, b: 2 } })
  })

  t.test(`${name}: field names are kept apart from the store's own bookkeeping`, async (t) => {
    const store = await open(t)
    await store.save('d', patch({ ':c': 'user field', ':s': 1, '': 'empty name', '.x': 2 }, [], 1000), 60_000)
    t.same(await read(store, 'd'), {
      createdAt: 1000,
      seenAt: 2000,
      fields: { ':c': 'user field', ':s': 1, '': 'empty name', '.x': 2 },
    })
  })

  t.test(`${name}: destroy deletes; a later patch does not resurrect`, async (t) => {
    const store = await open(t)
    await store.save('e', patch({ a: 1 }, [], 1000), 60_000)
    await store.destroy('e')
    t.equal(await store.load('e'), undefined)
    t.equal(await store.save('e', patch({ a: 2 }), 60_000), false)
    t.equal(await store.load('e'), undefined)
  })

  t.test(`${name}: every save sets the expiry`, async (t) => {
    const store = await open(t)
    await store.save('f1', patch({ a: 1 }, [], 1000), 60_000)
    await store.save('f2', patch({ a: 1 }, [], 1000), 60_000)
    await store.save('f2', patch({}), 5_000)
    t.ok(await aliveAfter(store, 'f2', 4_000))
    t.notOk(await aliveAfter(store, 'f2', 5_001))
    t.ok(await aliveAfter(store, 'f1', 55_000))
    t.notOk(await aliveAfter(store, 'f1', 60_001))
  })

  t.test(`${name}: concurrent patches of one session all land`, async (t) => {
    const store = await open(t)
    await store.save('g', patch({}, [], 1000), 60_000)
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.save('g', patch({ [`k${i}`]: i }), 60_000)))
    const record = await read(store, 'g')
    t.equal(Object.keys(record!.fields).length, 50)
  })

  t.test(`${name}: ids are separate`, async (t) => {
    const store = await open(t)
    await store.save('h1', patch({ who: 1 }, [], 1000), 60_000)
    await store.save('h2', patch({ who: 2 }, [], 1000), 60_000)
    t.same((await read(store, 'h1'))!.fields, { who: 1 })
    t.same((await read(store, 'h2'))!.fields, { who: 2 })
  })
}
