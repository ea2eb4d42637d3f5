// loadShedding(): 503 + Retry-After while the event loop is late or too many requests are
// in flight; health checks always answered (docs/middleware/load-shedding.md).
import { createServer } from 'node:http'
import { compose, errorBoundary, loadShedding, serverTimeouts } from 'http-onion'

const shedding = loadShedding({
  maxEventLoopDelayMs: 100,
  maxInFlight: 100,
  maxQueue: 10,
  sampleIntervalMs: 100,
  exempt: ['/health'],
  onShed: (req, reason) => console.log(`shed ${req.url} (${reason})`),
})

const app = compose(
  errorBoundary(),
  shedding,
)((req, res) => {
  if (req.url === '/report') {
    // A request that hogs the CPU for a second: everything behind it waits.
    console.log('report: busy for 1 s')
    const end = Date.now() + 1000
    while (Date.now() < end);
  }
  res.end(`ok ${req.url}\n`)
})

const server = serverTimeouts(createServer(app)).listen(3000)
server.on('close', () => shedding.close())
