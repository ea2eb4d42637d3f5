// rateLimit(): an address limit outside authentication (it slows key guessing) and a
// per-client token bucket inside it (docs/middleware/rate-limit.md).
import { createServer } from 'node:http'
import { apiKey, compose, proxyHeaders, rateLimit, serverTimeouts } from 'http-onion'

// 1. Per address: 20 requests a minute, failed ones included, before any key is checked.
const perAddress = rateLimit({ limit: 20, windowMs: 60_000, exempt: ['/health'] })

// 2. Per API client: bursts of 5, then one request every 200 ms; exports cost 5.
const perClient = rateLimit({
  name: 'client',
  key: 'user',
  algorithm: 'token-bucket',
  limit: 5,
  windowMs: 1000,
  cost: (req) => (req.url?.startsWith('/export') ? 5 : 1),
  exempt: ['/health'],
  legacyHeaders: true,
})

const stack = compose(
  proxyHeaders({ trustedProxies: ['loopback'] }),
  perAddress,
  apiKey({
    keys: [{ key: process.env.API_KEY ?? 'dev-only-api-key-0123456789', id: 'partner-a' }],
    publicPaths: ['/health'],
  }),
  perClient,
)

console.log(stack.explain())
serverTimeouts(createServer(stack((req, res) => res.end(req.url === '/health' ? 'ok\n' : 'hello\n')))).listen(3000)
