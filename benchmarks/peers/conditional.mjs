// Express's conditional GET as res.send does it, on plain node:http: `etag` hashes the whole
// body (weak, SHA-1, Express's default), `fresh` compares it with If-None-Match and
// If-Modified-Since. Both packages come with Express; none is added for them.
import { createServer } from 'node:http'
import createEtag from 'etag'
import fresh from 'fresh'
import { largeJson, smallJson } from './shared.mjs'

function send(req, res, body, tag) {
  res.setHeader('content-type', 'application/json')
  const etag = tag ?? createEtag(body, { weak: true })
  res.setHeader('etag', etag)
  if (fresh(req.headers, { etag, 'last-modified': undefined })) {
    res.statusCode = 304
    res.removeHeader('content-type')
    res.end()
    return
  }
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(body)
}

function expressEtagFresh() {
  const server = createServer((req, res) => {
    if (req.url === '/json') send(req, res, smallJson)
    else if (req.url === '/json64') send(req, res, largeJson)
    else if (req.url === '/tagged') send(req, res, largeJson, '"v42"')
    else {
      res.statusCode = 404
      res.end()
    }
  })
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)))
}

export const scenarios = {
  'conditional-express-etag-fresh': {
    description: "node:http with Express's etag (weak, whole body) and fresh, as res.send uses them",
    start: expressEtagFresh,
  },
}
