import t from 'tap'
import { createDemoServer } from '../../docs/examples/demo-server.js'
import { runExample } from '../helpers/examples.js'
import { listen } from '../helpers/serve.js'

t.test('demo server: serves its routes through the production stack', async (t) => {
  const { server, explain } = createDemoServer()
  const { url } = await listen(t, server)
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.same((await res.json() as { hello: string }).hello, 'http-onion')
  t.equal(await (await fetch(`${url}/health`)).text(), 'ok')
  t.equal(await (await fetch(`${url}/stream`)).text(), 'line 1\nline 2\nline 3\nline 4\nline 5\n')
  const missing = await fetch(`${url}/nope`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { status: 404, code: 'not_found' })
  t.match(explain, /request path/)
})

t.test('demo server: the entry point listens and prints its URL and explain()', async (t) => {
  const demo = await runExample(t, 'demo-server.ts')
  await demo.waitForOutput(/response path/)
  t.match(demo.output(), /http-onion demo listening on http:\/\/127\.0\.0\.1:\d+\//)
  t.match(demo.output(), /request path \(outermost first\)/)
  const res = await fetch(`${demo.url}/health`)
  t.equal(await res.text(), 'ok')
})
