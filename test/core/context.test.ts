import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import t from 'tap'
import { currentContext, currentRequest, type RawHandler } from '../../lib/index.js'
import { runInContext } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'

const idOf = () => currentRequest().headers['x-n']

t.test('runInContext(): the request is current across await, timers, nextTick, emitters and stream data', async (t) => {
  const url = await serve(t, (req, res) =>
    runInContext(req, res, async () => {
      const seen: unknown[] = []
      await new Promise((ok) => setTimeout(ok, 1))
      seen.push(idOf())
      await new Promise((ok) => setImmediate(ok))
      seen.push(idOf())
      await new Promise<void>((ok) =>
        process.nextTick(() => {
          seen.push(idOf())
          ok()
        }),
      )
      const emitter = new EventEmitter()
      const fromEmitter = new Promise((ok) => emitter.once('go', () => ok(idOf())))
      setTimeout(() => emitter.emit('go'), 1)
      seen.push(await fromEmitter)
      const fromStream = new Promise((ok) => Readable.from(['x']).on('data', () => ok(idOf())))
      seen.push(await fromStream)
      seen.push(currentContext()?.res === res)
      res.end(JSON.stringify(seen))
    }),
  )
  // Interleaved requests: each must only ever see itself.
  const results = await Promise.all(
    ['1', '2', '3', '4'].map(async (n) => (await fetch(url, { headers: { 'x-n': n } })).json() as Promise<unknown[]>),
  )
  results.forEach((seen, i) => {
    t.same(seen, [...Array(5).fill(String(i + 1)), true])
  })
})

t.test('currentRequest(): outside any request it throws, naming the fix', async (t) => {
  t.equal(currentContext(), undefined)
  t.throws(() => currentRequest(), { message: /mount requestContext\(\) outside the code that calls it/ })
})

t.test('runInContext(): returns what the function returns', async (t) => {
  let returned: unknown
  const handler: RawHandler = (req, res) => {
    returned = runInContext(req, res, () => 42)
    res.end()
  }
  await (await fetch(await serve(t, handler))).text()
  t.equal(returned, 42)
})
