import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs requestContext example: the logger finds the request id deep in the call chain', async (t) => {
  const example = await runExample(t, 'request-context.ts')
  const [a, b] = await Promise.all([
    httpRequest(example.url, { method: 'POST', body: 'x'.repeat(100_000) }),
    httpRequest(example.url, { method: 'POST', body: 'y'.repeat(10) }),
  ])
  await example.waitForOutput(/(card charged[\s\S]*){2}/)
  const lines = example
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { requestId: string; message: string })
  for (const [res, size] of [
    [a, 100_000],
    [b, 10],
  ] as const) {
    const id = res.text.trim()
    const mine = lines
      .filter((l) => l.requestId === id)
      .map((l) => l.message)
      .sort()
    t.same(mine, [`body of ${size} bytes read`, 'card charged'])
  }
})
