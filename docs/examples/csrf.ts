// csrf(): refuse cross-site form posts from what browsers say, no tokens to thread through
// forms (docs/middleware/csrf.md).
import { createServer } from 'node:http'
import { compose, csrf, errorBoundary, getCsrfToken, proxyHeaders, serverTimeouts, session } from 'http-onion'

// One list for the sibling front ends; cors({ origins: frontEnds }) takes the same grammar.
const frontEnds = ['https://admin.example.com', 'https://*.preview.example.com']

const app = compose(
  errorBoundary(),
  // Behind a TLS-terminating proxy: compare Origin with the scheme and host the client used.
  proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] }),
  session({ secrets: [process.env.SESSION_SECRET ?? 'dev-only-session-secret-of-32-bytes!!'] }),
  csrf({
    trustedOrigins: frontEnds,
    // The payment provider posts here from its own site; the handler checks its signature.
    bypassPaths: ['/webhooks/*'],
    // Browsers too old to send Sec-Fetch-Site or Origin must send the session's token.
    tokenFallback: true,
  }),
)((req, res) => {
  if (req.method === 'GET') {
    // Scripts read the token from the page and send it as X-CSRF-Token.
    res.setHeader('content-type', 'text/html; charset=utf-8')
    return res.end(`<meta name="csrf-token" content="${getCsrfToken(req)}"><form method="post" action="/transfer">`)
  }
  res.end(`${req.method} ${req.url}: accepted\n`)
})

serverTimeouts(createServer(app)).listen(3000)
