// apiKey(): partner keys known only by their SHA-256 digests (docs/middleware/api-key.md).
import { createServer } from 'node:http'
import { apiKey, compose, errorBoundary, serverTimeouts } from 'http-onion'

// Store digests, not keys: `printf %s "$KEY" | sha256sum`.
const auth = apiKey({
  hashes: [
    {
      sha256: process.env.PARTNER_A_SHA256 ?? '8d9a0c0e2c6e8b7f1b3d5f35e0f1a9c2fba4f3e0b3f5e4d3c2b1a09f8e7d6c5b',
      id: 'partner-a',
    },
    {
      sha256: process.env.PARTNER_B_SHA256 ?? 'c1d2e3f4a5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
      id: 'partner-b',
    },
  ],
  publicPaths: ['/health'],
})

const app = compose(
  errorBoundary(),
  auth,
)((req, res) => {
  if (req.url === '/health') return void res.end('ok\n')
  res.end(`hello ${auth.get(req).id}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
