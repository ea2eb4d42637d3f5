// basicAuth(): a metrics endpoint behind HTTP Basic, passwords stored as scrypt hashes (docs/middleware/basic-auth.md).
import { createServer } from 'node:http'
import { basicAuth, compose, errorBoundary, getBasicAuthUser, hashPassword, serverTimeouts } from 'http-onion'

// Store hashes, not passwords: `node -e "import('http-onion').then(async (o) => console.log(await o.hashPassword('…')))"`.
const scrypt = process.env.OPS_SCRYPT ?? (await hashPassword('change me, this is only a demo'))

const app = compose(
  errorBoundary(),
  basicAuth({ users: [{ user: 'ops', scrypt, id: 'user-ops' }], realm: 'metrics', publicPaths: ['/health'] }),
)((req, res) => {
  if (req.url === '/health') return void res.end('ok\n')
  res.end(`metrics for ${getBasicAuthUser(req)}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
