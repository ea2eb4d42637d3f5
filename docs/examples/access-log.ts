// accessLog(): one JSON line per exchange on stdout, with the request id, the trace id and
// the error of a failed handler (docs/middleware/access-log.md).
import { createServer } from 'node:http'
import { accessLog, compose, errorBoundary, requestId, serverTimeouts, traceContext } from 'http-onion'

const app = compose(
  errorBoundary({ onError: () => undefined }),
  requestId(),
  traceContext(),
  accessLog({ query: 'redact', requestHeaders: ['user-agent', 'authorization'] }),
)(async (req, res) => {
  if (req.url === '/fail') throw new Error('inventory service unreachable')
  res.setHeader('content-type', 'text/plain')
  res.end('ok\n')
})

serverTimeouts(createServer(app)).listen(3000)
