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
