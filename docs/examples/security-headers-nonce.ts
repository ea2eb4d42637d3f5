// securityHeaders(): a fresh CSP nonce per page for inline scripts, with Permissions-Policy and
// CSP reports (docs/middleware/security-headers.md).
import { createServer } from 'node:http'
import { cspSiteDefaults, getCspNonce, securityHeaders, serverTimeouts } from 'http-onion'

// Inline <script> and <style> run only with this response's nonce; violations are reported.
const pageHeaders = securityHeaders({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { ...cspSiteDefaults, 'report-to': 'csp' },
    nonce: true,
  },
  reportingEndpoints: { csp: 'https://reports.example.com/csp' },
  permissionsPolicy: { camera: [], microphone: [], geolocation: ['self'] },
  xFrameOptions: 'SAMEORIGIN',
})

serverTimeouts(
  createServer(
    pageHeaders((req, res) => {
      const nonce = getCspNonce(req)
      res.setHeader('content-type', 'text/html; charset=utf-8')
      res.end(`<!doctype html><title>home</title><h1>home</h1>
<script nonce="${nonce}">document.querySelector('h1').textContent = 'hello'</script>`)
    }),
  ),
).listen(3000)
