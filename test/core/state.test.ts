import t from 'tap'
import { defineState } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'

t.test('defineState(): typed values per request, never shared between requests', async (t) => {
  const tenant = defineState<{ name: string }>('tenant', 'tenantResolver()')
  const seen: Array<string | undefined> = []
  const url = await serve(t, (req, res) => {
    seen.push(tenant.tryGet(req)?.name)
    t.equal(tenant.has(req), false)
    tenant.set(req, { name: req.url!.slice(1) })
    t.equal(tenant.has(req), true)
    res.end(tenant.get(req).name)
  })
  t.equal(await (await fetch(`${url}/a`)).text(), 'a')
  t.equal(await (await fetch(`${url}/b`)).text(), 'b')
  t.same(seen, [undefined, undefined])
})

t.test('defineState(): get() names what to mount when nothing set the value', async (t) => {
  const tenant = defineState<string>('tenant', 'tenantResolver()')
  let error: unknown
  const url = await serve(t, (req, res) => {
    try {
      tenant.get(req)
    } catch (err) {
      error = err
    }
    res.end()
  })
  await (await fetch(url)).text()
  t.match(error, { message: 'getTenant(): no tenant on this request; mount tenantResolver() before this handler.' })
})

t.test('defineState(): two keys of the same name are distinct', async (t) => {
  const a = defineState<number>('n')
  const b = defineState<number>('n')
  const url = await serve(t, (req, res) => {
    a.set(req, 1)
    res.end(String(b.tryGet(req)))
  })
  t.equal(await (await fetch(url)).text(), 'undefined')
  t.equal(a.name, 'n')
})

t.test('defineState(): every key of a request in one slot, so its accessors stay monomorphic', async (t) => {
  // One symbol per key made the load in the shared tryGet megamorphic (core/state.ts).
  const keys = ['a', 'b', 'c'].map((name) => defineState<string>(name))
  let slots: symbol[] = []
  const url = await serve(t, (req, res) => {
    const before = new Set(Object.getOwnPropertySymbols(req))
    for (const key of keys) key.set(req, key.name)
    slots = Object.getOwnPropertySymbols(req).filter((s) => !before.has(s))
    res.end(keys.map((key) => key.get(req)).join(''))
  })
  t.equal(await (await fetch(url)).text(), 'abc')
  t.equal(slots.length, 1, 'one new slot on the request for three keys')
})

t.test(
  'defineState(): a key made after a request got its record (a module loaded late) still reads and writes',
  async (t) => {
    const early = defineState<string>('early')
    const url = await serve(t, (req, res) => {
      early.set(req, 'early')
      // The record was sized for the keys made before it; these come after.
      const late = defineState<string>('late')
      const later = defineState<number>('later')
      const before = [late.tryGet(req), later.has(req)]
      later.set(req, 2)
      late.set(req, 'late')
      res.end(JSON.stringify([before, early.get(req), late.get(req), later.get(req)]))
    })
    t.same(JSON.parse(await (await fetch(url)).text()), [[null, false], 'early', 'late', 2])
  },
)
