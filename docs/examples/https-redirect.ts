// httpsRedirect(): http to https, health checks exempt (docs/middleware/https-redirect.md).
import { createServer } from 'node:http'
import { compose, httpsRedirect, proxyHeaders, serverTimeouts } from 'http-onion'

// TLS ends at the load balancer (10.0.0.0/8), which sets X-Forwarded-Proto.
const app = compose(
  proxyHeaders({ trustedProxies: ['10.0.0.0/8', 'loopback'] }),
  httpsRedirect({ exemptPaths: ['/health', '/.well-known/acme-challenge/*'] }),
)

serverTimeouts(createServer(app((req, res) => res.end(req.url === '/health' ? 'healthy\n' : 'secure\n')))).listen(3000)
