// The edge layers in the order they depend on each other (docs/middleware/proxy-headers.md).
import { createServer } from 'node:http'
import { compose, cors, httpsRedirect, proxyHeaders, securityHeaders, serverTimeouts, trustedHost } from 'http-onion'

const edge = compose(
  // 1. Who is the client? Only the proxy on this machine is believed.
  proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] }),
  // 2. Security headers on every response from here in, refusals and errors included.
  securityHeaders(),
  // 3. Is this a host we serve? (reads the host proxyHeaders established)
  trustedHost({ allowedHosts: ['api.example.com'] }),
  // 4. Plain http goes to https, except the load balancer's health check.
  httpsRedirect({ exemptPaths: ['/health'] }),
  // 5. CORS outside auth and rate limits (none in this example).
  cors({ origins: ['https://app.example.com'], credentials: true }),
)

const server = serverTimeouts(
  createServer(
    edge((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ path: req.url }))
    }),
  ),
)
server.listen(3000)
console.log(edge.explain())
