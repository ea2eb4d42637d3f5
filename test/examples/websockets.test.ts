import { SignJWT } from 'jose'
import t from 'tap'
import { WebSocket } from 'ws'
import { runExample } from '../helpers/examples.js'

const token = (sub: string) =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(Buffer.from('dev-only-secret-of-at-least-32-bytes!!'))

type Outcome = { status: number; headers: Record<string, unknown>; first?: string; body?: string }

function connect(url: string, options: ConstructorParameters<typeof WebSocket>[2]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    let headers: Record<string, unknown> = {}
    ws.once('upgrade', (res) => {
      headers = res.headers
    })
    ws.once('message', (m) => {
      ws.close()
      resolve({ status: 101, headers, first: String(m) })
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err)
    })
  })
}

t.test('docs WebSocket example: auth, origin check, the 101 headers, the access log lines', async (t) => {
  const example = await runExample(t, 'websockets.ts')
  const url = example.url.replace('http:', 'ws:')
  const none = await connect(url, { origin: 'https://app.example' })
  t.equal(none.status, 401)
  t.match(JSON.parse(none.body!), { code: 'missing_token', requestId: none.headers['x-request-id'] })
  const cookie = `token=${await token('ada')}`
  const evil = await connect(url, { origin: 'https://evil.example', headers: { cookie } })
  t.equal(evil.status, 403, 'a cross-site page cannot ride the cookie')
  const ok = await connect(url, { origin: 'https://app.example', headers: { cookie } })
  t.equal(ok.status, 101)
  t.same(JSON.parse(ok.first!), { hello: 'ada', requestId: ok.headers['x-request-id'] })
  t.match(ok.headers['set-cookie'], [/^session=/])
  await example.waitForOutput(/"upgrade":"closed"/)
  const lines = example
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{"time"'))
    .map((l) => JSON.parse(l))
  t.match(lines, [
    { status: 401, upgrade: 'handshake' },
    { status: 403, upgrade: 'handshake' },
    { status: 101, upgrade: 'handshake', userId: 'ada' },
    { status: 101, upgrade: 'closed', userId: 'ada' },
  ])
})
