// traceContext(): continue the caller's trace and hand it on to the next service
// (docs/middleware/trace-context.md). Two services in one process: "orders" calls "billing".
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { compose, getTrace, propagationHeaders, requestId, serverTimeouts, traceContext } from 'http-onion'

let billing: Server | undefined

const orders = compose(
  requestId({ trustIncoming: true }),
  traceContext({ echo: true }),
)(async (req, res) => {
  const { port } = billing!.address() as AddressInfo
  const answer = await fetch(`http://127.0.0.1:${port}/charge`, { method: 'POST', headers: propagationHeaders(req) })
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ orders: getTrace(req), billing: await answer.json() }))
})

// The next service sees this request's span as its parent, and the same request id.
const billingApp = compose(
  requestId({ trustIncoming: true }),
  traceContext(),
)((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ trace: getTrace(req), requestId: req.headers['x-request-id'] }))
})

serverTimeouts(createServer(orders)).listen(3000)
billing = serverTimeouts(createServer(billingApp)).listen(3001)
