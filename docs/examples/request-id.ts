// requestId(): ids from a trusted proxy kept, every other request given a UUID v7
// (docs/middleware/request-id.md).
import { createServer } from 'node:http'
import { compose, getRequestId, HttpError, proxyHeaders, requestId, sendError, serverTimeouts } from 'http-onion'

const app = compose(
  proxyHeaders({ trustedProxies: ['loopback'] }),
  requestId({ incomingHeaders: ['x-request-id', 'x-correlation-id'] }),
)((req, res) => {
  if (req.url === '/private') return void sendError(req, res, new HttpError(401))
  res.end(`request ${getRequestId(req)}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
