// rateLimit() on a login route: failed attempts slow down after three, and a client that
// keeps failing is locked out, each lockout twice as long as the last
// (docs/middleware/rate-limit.md, "Penalties and slow-down").
import { createServer } from 'node:http'
import { compose, proxyHeaders, rateLimit, serverTimeouts } from 'http-onion'

const loginLimit = rateLimit({
  name: 'login',
  limit: 5, // failed attempts per 15 minutes
  windowMs: 15 * 60_000,
  refundIf: (_req, res) => res.statusCode < 400, // a successful login gives its attempt back
  slowDown: { delayAfter: 3, delayMs: 250, maxDelayMs: 2000 }, // the 4th waits 250 ms, the 5th 500 ms
  penalty: { blockMs: 15 * 60_000, maxBlockMs: 24 * 3_600_000 }, // then 15 min, 30 min, 1 h ... up to a day
  headers: 'draft-6', // RateLimit-Limit, -Remaining, -Reset
})

const stack = compose(proxyHeaders({ trustedProxies: ['loopback'] }), loginLimit)

const login = stack((req, res) => {
  res.statusCode = req.headers['x-password'] === 'correct horse battery staple' ? 204 : 401
  res.end()
})

serverTimeouts(createServer(login)).listen(3000)
