import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { rawGet } from '../helpers/raw.js'

t.test('docs lifespan example: hooks, probes, and a clean exit on SIGTERM', async (t) => {
  const example = await runExample(t, 'lifespan.ts')
  await example.waitForOutput(/pool opened/)
  const ready = await rawGet(example.url, '/readyz')
  t.equal(ready.status, 200)
  t.same(JSON.parse(ready.body.toString()), { status: 'ready' })
  t.same(JSON.parse((await rawGet(example.url, '/healthz')).body.toString()), { status: 'alive' })
  t.equal((await rawGet(example.url, '/')).body.toString(), 'hello')

  const exited = new Promise<number | null>((ok) => example.process.once('exit', (code) => ok(code)))
  example.process.kill('SIGTERM')
  t.equal(await exited, 0, 'a clean drain exits 0')
  const output = example.output()
  t.match(output, /pool closed/, 'the shutdown hook ran')
  t.ok(output.indexOf('"path":"/"') < output.indexOf('pool closed'), 'the access log was flushed before the hooks')
})
