import { createGzip, gunzipSync } from 'node:zlib'
import t from 'tap'
import { compose } from '../../lib/index.js'
import { onResponseEnd, onResponseStart, transformBody, type ResponseEndInfo } from '../../lib/core.js'
import { h2Request, serveH2 } from '../helpers/h2.js'

t.test('core over HTTP/2: compose, response-start listeners, writeHead headers', async (t) => {
  const app = compose((next) => (req, res) => {
    onResponseStart(res, (res) => {
      res.setHeader('x-listener', String(res.getHeader('x-given')))
      res.statusCode = 202
    })
    return next(req, res)
  })((_req, res) => {
    res.writeHead(200, { 'x-given': 'yes' })
    res.end('h2')
  })
  const res = await h2Request(await serveH2(t, app))
  t.equal(res.status, 202)
  t.equal(res.headers['x-listener'], 'yes')
  t.equal(res.text, 'h2')
})

t.test('core over HTTP/2: onResponseEnd reports a finished exchange', async (t) => {
  let resolve!: (info: ResponseEndInfo) => void
  const ended = new Promise<ResponseEndInfo>((ok) => {
    resolve = ok
  })
  const url = await serveH2(t, (_req, res) => {
    onResponseEnd(res, (info) => resolve(info))
    res.end('x')
  })
  await h2Request(url)
  const info = await ended
  t.equal(info.outcome, 'finished')
  t.equal(info.status, 200)
  t.equal(info.bytesWritten, undefined)
})

t.test('core over HTTP/2: transformBody gzips and keeps the decision rules', async (t) => {
  const url = await serveH2(t, (_req, res) => {
    transformBody(
      res,
      (res, body) => {
        if (body.length !== undefined && body.length < 16) return null
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      },
      { holdBack: 16 },
    )
    res.end(res.req.url === '/big' ? 'y'.repeat(1000) : 'small')
  })
  const small = await h2Request(url)
  t.equal(small.headers['content-length'], '5')
  t.equal(small.text, 'small')
  const big = await h2Request(`${url}/big`)
  t.equal(big.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(big.body).toString(), 'y'.repeat(1000))
})

t.test('core over HTTP/2: an aborted stream is reported as aborted, and a late listener still runs', async (t) => {
  let resolve!: (info: ResponseEndInfo) => void
  const ended = new Promise<ResponseEndInfo>((ok) => {
    resolve = ok
  })
  let late!: (outcome: string) => void
  const lateRan = new Promise<string>((ok) => {
    late = ok
  })
  const url = await serveH2(t, (_req, res) => {
    onResponseEnd(res, (info) => {
      resolve(info)
      setImmediate(() => onResponseEnd(res, (again) => late(again.outcome)))
    })
    res.write('partial')
  })
  const { connect } = await import('node:http2')
  const session = connect(url)
  const stream = session.request({ ':path': '/' })
  await new Promise((ok) => stream.once('data', ok))
  stream.close()
  const info = await ended
  session.close()
  t.equal(info.outcome, 'aborted')
  t.equal(await lateRan, 'aborted')
})
