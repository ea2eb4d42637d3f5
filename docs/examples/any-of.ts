// anyOf(): an API that takes a partner's API key, a user's token, or the ops team's password (docs/middleware/any-of.md).
import { createServer } from 'node:http'
import { anyOf, apiKey, basicAuth, compose, errorBoundary, getUserId, jwtAuth, serverTimeouts } from 'http-onion'

const auth = anyOf(
  { publicPaths: ['/health'] },
  apiKey({ keys: [{ key: process.env.PARTNER_KEY ?? 'demo-partner-key-0123456789', id: 'partner-a' }] }),
  jwtAuth({ secret: process.env.JWT_SECRET ?? 'demo-secret-of-at-least-32-bytes!!' }),
  basicAuth({ users: [{ user: 'ops', password: process.env.OPS_PASSWORD ?? 'demo ops password' }], realm: 'api' }),
)

const app = compose(
  errorBoundary(),
  auth,
)((req, res) => {
  if (req.url === '/health') return void res.end('ok\n')
  res.end(`hello ${getUserId(req)}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
