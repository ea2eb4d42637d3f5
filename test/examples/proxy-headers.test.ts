import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs proxy-headers example: the client identity a trusted proxy reports', async (t) => {
  const example = await runExample(t, 'proxy-headers.ts')
  const res = await httpRequest(example.url, {
    headers: {
      host: 'internal:3000',
      'x-forwarded-for': '6.6.6.6, 198.51.100.4, 10.1.2.3',
      'x-forwarded-proto': 'http, https, https',
      'x-forwarded-host': 'a.test, shop.example.com, shop.example.com',
    },
  })
  t.same(JSON.parse(res.text), { ip: '198.51.100.4', scheme: 'https', host: 'shop.example.com', viaTrustedProxy: true })
})
