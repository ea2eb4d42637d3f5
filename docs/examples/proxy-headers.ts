// proxyHeaders(): the client identity behind a reverse proxy (docs/middleware/proxy-headers.md).
import { createServer } from 'node:http'
import { clientIdentity, proxyHeaders, serverTimeouts } from 'http-onion'

// nginx on this machine appends to X-Forwarded-For and sets X-Forwarded-Proto and
// X-Forwarded-Host; the internal network's load balancers are in 10.0.0.0/8.
const withIdentity = proxyHeaders({
  trustedProxies: ['loopback', '10.0.0.0/8'],
  fields: ['proto', 'host'],
})

serverTimeouts(
  createServer(
    withIdentity((req, res) => {
      const { ip, scheme, host, viaTrustedProxy } = clientIdentity(req)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ip, scheme, host, viaTrustedProxy }))
    }),
  ),
).listen(3000)
