// jwtAuth(): an API protected by HS256 tokens, with public paths, a scope check and typed
// claims (docs/middleware/jwt-auth.md).
import { createServer } from 'node:http'
import { compose, cors, errorBoundary, jwtAuth, proxyHeaders, serverTimeouts } from 'http-onion'

interface OrderClaims {
  sub: string
  tenant: string
  scope: string
}

const auth = jwtAuth<OrderClaims>({
  secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!!',
  issuer: 'https://id.example/',
  audience: 'api://orders',
  scopes: ['orders:read'],
  publicPaths: ['/health', '/docs/*'],
  realm: 'orders',
})

const app = compose(
  errorBoundary(),
  proxyHeaders({ trustedProxies: ['loopback'] }),
  cors({ origins: ['https://app.example'] }),
  auth,
)((req, res) => {
  if (req.url === '/health') return void res.end('ok\n')
  const { sub, tenant } = auth.get(req)
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ user: sub, tenant }))
})

// With an identity provider: its key set, fetched and cached; the algorithm named here.
const fromIssuer = jwtAuth({
  jwksUrl: 'https://id.example/.well-known/jwks.json',
  algorithms: ['RS256'],
  issuer: 'https://id.example/',
  audience: 'api://orders',
})
console.log(compose(errorBoundary(), fromIssuer).explain())

serverTimeouts(createServer(app)).listen(3000)
