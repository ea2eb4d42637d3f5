// errorBoundary(): every failure answered once, in the library's error shape; a failure
// after the headers cuts the connection (docs/middleware/error-boundary.md).
import { createServer } from 'node:http'
import { compose, errorBoundary, HttpError, requestId, serverTimeouts } from 'http-onion'

class OrderNotFound extends Error {}

const app = compose(
  errorBoundary({
    // Errors of code you do not control get their status here.
    map: (err) => (err instanceof OrderNotFound ? new HttpError(404, err.message) : undefined),
    onError: (report) =>
      console.log(JSON.stringify({ status: report.status, action: report.action, requestId: report.requestId })),
  }),
  requestId(),
)(async (req, res) => {
  if (req.url === '/orders/7') throw new OrderNotFound('No order 7')
  if (req.url === '/bug') throw new Error('connection to db-3.internal:5432 refused')
  if (req.url === '/stream') {
    res.write('first rows\n')
    await new Promise((ok) => setTimeout(ok, 10))
    throw new Error('cursor lost mid-stream')
  }
  res.end('ok\n')
})

serverTimeouts(createServer(app)).listen(3000)
