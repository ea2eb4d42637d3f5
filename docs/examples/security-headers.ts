// securityHeaders(): API defaults on /api, a site policy on pages (docs/middleware/security-headers.md).
import { createServer } from 'node:http'
import { compose, cspSiteDefaults, proxyHeaders, securityHeaders, serverTimeouts } from 'http-onion'

// Pages load their own scripts and styles, and images from a CDN.
const siteHeaders = securityHeaders({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { ...cspSiteDefaults, 'img-src': ["'self'", 'data:', 'https://cdn.example.com'] },
  },
  xFrameOptions: 'SAMEORIGIN',
  referrerPolicy: 'strict-origin-when-cross-origin',
})

// HSTS is sent only when the client used https, which the proxy reports.
const app = compose(proxyHeaders({ trustedProxies: ['loopback'] }), siteHeaders)

serverTimeouts(
  createServer(
    app((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8')
      res.end('<!doctype html><title>home</title><h1>home</h1>')
    }),
  ),
).listen(3000)
