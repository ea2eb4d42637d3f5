// trustedHost(): serve only your own hosts (docs/middleware/trusted-host.md).
import { createServer } from 'node:http'
import { serverTimeouts, trustedHost } from 'http-onion'

const hosts = trustedHost({
  // The apex is not covered by the wildcard: here it is not listed, so with wwwRedirect
  // a request for example.com is sent to www.example.com.
  allowedHosts: ['www.example.com', '*.api.example.com', 'localhost:3000'],
  wwwRedirect: true,
})

serverTimeouts(createServer(hosts((req, res) => res.end(`hello from ${req.headers.host}\n`)))).listen(3000)
