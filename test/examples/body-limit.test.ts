import { gzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

t.test('docs bodyLimit example: declared and counted overflows, and a gzip bomb', async (t) => {
  const example = await runExample(t, 'body-limit.ts')
  t.equal((await httpRequest(example.url, { method: 'POST', body: 'x'.repeat(1024) })).text, 'received 1024 bytes\n')
  const declared = await httpRequest(example.url, { method: 'POST', body: 'x'.repeat(1025) })
  t.equal(declared.status, 413)
  t.equal(declared.headers.connection, 'close')
  const chunked = parseRawResponse(
    await rawExchange(
      example.url,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        `400\r\n${'a'.repeat(1024)}\r\n1\r\nb\r\n0\r\n\r\n`,
    ),
  )
  t.equal(chunked.status, 413)
  const small = gzipSync(Buffer.alloc(1000))
  t.equal(
    (await httpRequest(example.url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: small })).text,
    'received 1000 bytes\n',
  )
  // A bomb: within the 1 KiB wire limit, 200 KiB once inflated.
  const inflated = gzipSync(Buffer.alloc(200 * 1024))
  t.ok(inflated.length <= 1024, `200 KiB of zeros gzip to ${inflated.length} bytes`)
  const res = await httpRequest(example.url, {
    method: 'POST',
    headers: { 'content-encoding': 'gzip' },
    body: inflated,
  })
  t.equal(res.status, 413)
  t.match(res.text, /decoded request body exceeds the limit of 65536 bytes/)
})
