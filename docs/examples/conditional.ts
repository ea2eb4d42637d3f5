// conditional(): 304 and 412 without buffering (docs/middleware/conditional.md): a JSON
// report tagged from its bytes, and a document updated only by a client that has seen
// its current version.
import { createServer } from 'node:http'
import { checkPreconditions, compose, compression, conditional, serverTimeouts } from 'http-onion'

const report = JSON.stringify({ rows: Array.from({ length: 500 }, (_, i) => ({ id: i, status: 'ok' })) })
const doc = { version: 1, text: 'first draft' }
const tag = () => `"v${doc.version}"`

// compression outside: conditional compares the handler's ETag and hashes the
// uncompressed bytes; compression marks the tag weak when it encodes.
const stack = compose(compression(), conditional({ etag: true }))
const app = stack(async (req, res) => {
  if (req.url === '/report') {
    // No ETag set here: conditional({ etag: true }) hashes the body handed over whole.
    res.setHeader('content-type', 'application/json')
    res.setHeader('cache-control', 'no-cache')
    res.end(report)
  } else if (req.url === '/doc' && req.method === 'PUT') {
    // Check before acting: a PUT with a stale If-Match gets 412, and nothing is lost.
    if (!checkPreconditions(req, res, { etag: tag() })) return
    let text = ''
    for await (const chunk of req) text += chunk
    doc.version++
    doc.text = text
    res.setHeader('etag', tag())
    res.end(doc.text)
  } else if (req.url === '/doc') {
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    res.setHeader('etag', tag())
    res.end(doc.text)
  } else {
    res.statusCode = 404
    res.end()
  }
})

serverTimeouts(createServer(app)).listen(3000)
console.log(stack.explain())
