// Adapters: HTTP/2 needs none. The composed stack runs on node:http2's compatibility API;
// here over cleartext (h2c), as behind a proxy that speaks HTTP/2 to its upstreams.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http2'
import { compose, compression, errorBoundary, getRequestId, requestId, securityHeaders, timeout } from 'http-onion'

const app = compose(
  errorBoundary(),
  requestId(),
  securityHeaders(),
  compression(),
  timeout({ ms: 5_000 }),
)((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ requestId: getRequestId(req), protocol: req.httpVersion, padding: 'h2 '.repeat(500) }))
})

// Http2ServerRequest and Http2ServerResponse are typed as their own classes: one cast.
createServer((req, res) => app(req as unknown as IncomingMessage, res as unknown as ServerResponse)).listen(3000)
