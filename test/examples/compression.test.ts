import { request } from 'node:http'
import { brotliDecompressSync, createGunzip, gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs/middleware/compression.md example: JSON, a flushed page, events, a precompressed asset', async (t) => {
  const example = await runExample(t, 'compression.ts')
  await example.waitForOutput(/compression/)
  t.match(example.output(), /compression \(br, gzip; threshold 1024 B; br q4, gzip 6\)/)

  const report = await httpRequest(`${example.url}/report`, { headers: { 'accept-encoding': 'gzip, deflate, br' } })
  t.equal(report.headers['content-encoding'], 'br')
  t.equal(report.headers.vary, 'Accept-Encoding')
  t.equal(JSON.parse(brotliDecompressSync(report.body).toString()).rows.length, 500)

  const head = await new Promise<string>((ok, fail) => {
    request(`${example.url}/page`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const gunzip = createGunzip()
      gunzip.once('data', (d: Buffer) => {
        ok(d.toString())
        res.destroy()
      })
      gunzip.on('error', () => undefined)
      res.pipe(gunzip)
    })
      .on('error', fail)
      .end()
  })
  t.match(head, /<p>Loading…<\/p>$/, 'the flushed head arrives before the rest')

  const events = await httpRequest(`${example.url}/events`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(events.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(events.body).toString(), 'data: tick 1\n\ndata: tick 2\n\ndata: tick 3\n\n')

  const asset = await httpRequest(`${example.url}/app.js`, { headers: { 'accept-encoding': 'gzip, br' } })
  t.equal(asset.headers['content-encoding'], 'br')
  t.match(brotliDecompressSync(asset.body).toString(), /^console\.log\("hello /)

  const plain = await httpRequest(`${example.url}/report`)
  t.equal(plain.headers['content-encoding'], undefined)
  t.equal(plain.headers.vary, 'Accept-Encoding')
})
