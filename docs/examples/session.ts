// session(): signed-cookie sessions with login (regenerate) and logout (destroy)
// (docs/middleware/session.md).
import { createServer } from 'node:http'
import { compose, errorBoundary, proxyHeaders, serverTimeouts, session } from 'http-onion'

const sessions = session<{ userId: string; visits: number }>({
  // Rotate by putting a new secret first; drop the old one once its cookies have expired.
  secrets: [process.env.SESSION_SECRET ?? 'dev-only-session-secret-of-32-bytes!!'],
  userIdKey: 'userId',
  idleTimeoutSeconds: 1800,
})

const app = compose(
  errorBoundary(),
  proxyHeaders({ trustedProxies: ['loopback'] }),
  sessions,
)(async (req, res) => {
  const s = sessions.get(req)
  if (req.method === 'POST' && req.url === '/login') {
    await s.regenerate() // a fresh session at login: an id planted earlier is worthless
    s.set('userId', 'alice')
  } else if (req.method === 'POST' && req.url === '/logout') {
    await s.destroy()
    return void res.end('bye\n')
  }
  s.set('visits', (s.get('visits') ?? 0) + 1)
  res.end(`${s.get('userId') ?? 'anonymous'}, visit ${s.get('visits')}\n`)
})

serverTimeouts(createServer(app)).listen(3000)
