import t from 'tap'
import { runExample } from '../helpers/examples.js'

t.test('README example: adds its header and logs the exchange when it ends', async (t) => {
  const example = await runExample(t, 'readme-example.ts')
  const res = await fetch(`${example.url}/hi`)
  t.equal(await res.text(), 'hello\n')
  t.equal(res.headers.get('x-powered-by'), 'onions')
  t.match(await example.waitForOutput(/GET \/hi .*ms/), /^GET \/hi 200 finished \d+\.\dms$/)
})
