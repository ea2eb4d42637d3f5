import { gzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs requestDecompression example: decodes, limits, refuses unknown codings', async (t) => {
  const example = await runExample(t, 'request-decompression.ts')
  const ndjson = Buffer.from('{"event":"click"}\n'.repeat(1000))
  const ok = await httpRequest(example.url, {
    method: 'POST',
    headers: { 'content-encoding': 'gzip' },
    body: gzipSync(ndjson),
  })
  t.equal(ok.text, `1000 events in ${ndjson.length} bytes\n`)
  t.equal((await httpRequest(example.url, { method: 'POST', body: 'a\nb\n' })).text, '2 events in 4 bytes\n')
  // A bomb: 32 KiB on the wire, within bodyLimit; 32 MiB decoded, over maxDecodedSize.
  const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024))
  t.ok(bomb.length < 64 * 1024)
  const refused = await httpRequest(example.url, {
    method: 'POST',
    headers: { 'content-encoding': 'gzip' },
    body: bomb,
  })
  t.equal(refused.status, 413)
  t.match(refused.text, /decoded request body exceeds the limit of 1048576 bytes/)
  const unknown = await httpRequest(example.url, { method: 'POST', headers: { 'content-encoding': 'lz4' }, body: 'x' })
  t.equal(unknown.status, 415)
  t.equal(unknown.headers['accept-encoding'], 'gzip, deflate, br')
})
