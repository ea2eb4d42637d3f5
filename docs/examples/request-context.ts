// requestContext(): code deep in a call chain reads the current request without being
// handed it (docs/middleware/request-context.md).
import { createServer } from 'node:http'
import { compose, currentRequest, getRequestId, requestContext, requestId, serverTimeouts } from 'http-onion'

// A logger used everywhere: it finds the request id on its own.
function log(message: string): void {
  console.log(JSON.stringify({ requestId: getRequestId(currentRequest()), message }))
}

async function chargeCard(): Promise<void> {
  await new Promise((ok) => setTimeout(ok, 5))
  log('card charged')
}

const app = compose(
  requestId(),
  requestContext(),
)(async (req, res) => {
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
  })
  req.on('end', () => log(`body of ${size} bytes read`))
  await chargeCard()
  res.end(`${getRequestId(req)}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
