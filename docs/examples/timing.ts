// timing(): Server-Timing with the handler's own metrics (docs/middleware/timing.md).
import { createServer } from 'node:http'
import { addServerTiming, compose, serverTimeouts, timing } from 'http-onion'
import { monotonicNow } from 'http-onion/core'

// Stands in for a database call.
const queryUsers = () => new Promise<string[]>((ok) => setTimeout(() => ok(['ada', 'grace']), 5))

// An internal service: every client may see the backend timings. (The default sends
// Server-Timing only to requests an identity layer authenticated.)
const app = compose(timing({ serverTiming: true, responseTime: true }))(async (req, res) => {
  const started = monotonicNow()
  const users = await queryUsers()
  addServerTiming(req, { name: 'db', dur: monotonicNow() - started, desc: 'users query' })
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify(users))
})

serverTimeouts(createServer(app)).listen(3000)
