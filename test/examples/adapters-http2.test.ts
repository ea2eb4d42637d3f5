import { connect } from 'node:http2'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { runExample } from '../helpers/examples.js'

t.test('docs adapters HTTP/2 example: the stack over h2c, compressed, with its headers', async (t) => {
  const example = await runExample(t, 'adapters-http2.ts')
  const session = connect(example.url)
  t.teardown(() => {
    session.close()
  })
  const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((ok, fail) => {
    const stream = session.request({ ':path': '/', 'accept-encoding': 'gzip' })
    const parts: Buffer[] = []
    let headers: Record<string, unknown> = {}
    stream.on('response', (h) => {
      headers = h
    })
    stream.on('data', (d: Buffer) => parts.push(d))
    stream.on('end', () => ok({ headers, body: Buffer.concat(parts) }))
    stream.on('error', fail)
    stream.end()
  })
  t.equal(headers[':status'], 200)
  t.equal(headers['content-encoding'], 'gzip')
  t.equal(headers['x-content-type-options'], 'nosniff')
  const json = JSON.parse(gunzipSync(body).toString()) as { requestId: string; protocol: string }
  t.equal(json.protocol, '2.0')
  t.equal(json.requestId, headers['x-request-id'])
})
