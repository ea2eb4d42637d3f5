// ipFilter(): an admin API for the office and the VPN only, behind nginx (docs/middleware/ip-filter.md).
import { createServer } from 'node:http'
import { clientIp, compose, ipFilter, proxyHeaders, requestId, serverTimeouts } from 'http-onion'

const app = compose(
  // nginx on this machine appends the client's address to X-Forwarded-For.
  proxyHeaders({ trustedProxies: ['loopback'] }),
  requestId(),
  // The VPN hands out 10.8.0.0/16 and the office is 198.51.100.0/24; the VPN's guest pool is not admitted.
  ipFilter({ allow: ['10.8.0.0/16', '198.51.100.0/24', '2001:db8:ab::/48'], deny: ['10.8.99.0/24'] }),
)((req, res) => {
  res.end(`admin console for ${clientIp(req)}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
