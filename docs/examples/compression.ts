// compression() in one runnable program (docs/middleware/compression.md): JSON, a streamed
// page flushed by hand, Server-Sent Events, and a precompressed asset left alone.
import { createServer } from 'node:http'
import { brotliCompressSync } from 'node:zlib'
import { compose, compression, flushResponse, type RawHandler, serverTimeouts } from 'http-onion'

const report = JSON.stringify({ rows: Array.from({ length: 500 }, (_, i) => ({ id: i, status: 'ok' })) })
// Built once at start-up (a build step would do this), never on the request path.
const appJs = brotliCompressSync(`console.log(${JSON.stringify('hello '.repeat(1000))})`)

const router: RawHandler = async (req, res) => {
  if (req.url === '/report') {
    res.setHeader('content-type', 'application/json')
    res.end(report)
  } else if (req.url === '/page') {
    // Streamed HTML: the head goes out before the slow part is ready.
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.write('<!doctype html><title>Report</title><p>Loading…</p>')
    flushResponse(res)
    await new Promise((ok) => setTimeout(ok, 50))
    res.end(`<pre>${report}</pre>`)
  } else if (req.url === '/events') {
    // Every write of an event stream is compressed and flushed at once.
    res.setHeader('content-type', 'text/event-stream')
    for (let i = 1; i <= 3; i++) {
      res.write(`data: tick ${i}\n\n`)
      await new Promise((ok) => setTimeout(ok, 20))
    }
    res.end()
  } else if (req.url === '/app.js') {
    // Already encoded: compression() leaves it alone; Vary is the handler's to set.
    res.setHeader('content-type', 'text/javascript')
    res.setHeader('content-encoding', 'br')
    res.setHeader('vary', 'Accept-Encoding')
    res.end(appJs)
  } else {
    res.statusCode = 404
    res.end()
  }
}

const app = compose(
  compression({
    threshold: 1024,
    encodings: ['br', 'gzip'],
    types: ['text/*', '*/*+json', 'application/json', 'text/javascript'],
  }),
)

serverTimeouts(createServer(app(router))).listen(3000)
console.log(app.explain())
