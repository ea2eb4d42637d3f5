import { createServer } from 'node:http'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { WebSocketServer } from 'ws'
import {
  accessLog,
  compose,
  cors,
  getJwtClaims,
  getRequestId,
  getSession,
  handleUpgrades,
  jwtAuth,
  rateLimit,
  requestId,
  session,
  type AccessLogEntry,
} from '../../lib/index.js'
import { launchBrowser } from '../helpers/browser.js'
import { listen, serveWithServer } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'

// Chromium's own WebSocket against handleUpgrades(): what only a browser decides. It sends the
// API's cookies and its page's Origin on a handshake, never preflights it, and lets a script
// see nothing of a refusal but a failed socket; the server's access log and Chromium's
// DevTools protocol (the handshake's response headers) show the rest. Origins: the API on
// http://localhost:<a>, the allowed page on http://localhost:<b> (same site, another origin),
// an attacker's page on http://127.0.0.1:<c> (another site).
const browser = await launchBrowser(t)

const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'
const token = (sub: string): Promise<string> =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))

interface Api {
  port: number
  lines: AccessLogEntry[]
  /** Handshakes that reached the upgrade handler. */
  reached: number
}

async function startApi(t: Test, pageOrigin: string, limit = 100): Promise<Api> {
  const api: Api = { port: 0, lines: [], reached: 0 }
  const stack = compose(
    requestId(),
    accessLog({ sink: (_line, entry) => api.lines.push(entry) }),
    cors({ origins: [pageOrigin], credentials: true }),
    rateLimit({ limit, windowMs: 60_000 }),
    session({ secrets: ['a-session-secret-of-at-least-32-bytes!!'] }),
    jwtAuth({ secret: SECRET, algorithms: ['HS256'], cookie: 'token' }),
  )
  const server = createServer((_req, res) => res.end())
  const wss = new WebSocketServer({ noServer: true })
  handleUpgrades(server, stack, (req, socket, head) => {
    api.reached++
    getSession(req).set('joined', true)
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ sub: getJwtClaims(req).sub, requestId: getRequestId(req) }))
    })
  })
  t.teardown(() => {
    for (const client of wss.clients) client.terminate()
  })
  api.port = (await listen(t, server)).port
  return api
}

async function startPage(t: Test, host: string): Promise<string> {
  const { port } = await serveWithServer(t, (_req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end('<!doctype html><title>page</title>')
  })
  return `http://${host}:${port}`
}

interface Attempt {
  opened: boolean
  message?: string
  closeCode?: number
}

interface Handshake {
  status: number
  headers: Record<string, string>
}

/**
 * From a page at `pageOrigin`, open `times` WebSockets to the API one after the other, each
 * closed once it opened; with the cookie `token` when given. Also returns the handshake
 * answers Chromium's DevTools protocol saw.
 */
async function openFrom(
  t: Test,
  pageOrigin: string,
  api: Api,
  jwt: string | undefined,
  times = 1,
): Promise<{ attempts: Attempt[]; handshakes: Handshake[]; cookies: string[] }> {
  const context = await browser!.newContext()
  t.teardown(() => context.close())
  if (jwt !== undefined) {
    // SameSite=Lax still goes with a same-site, cross-origin handshake (and so would a
    // cross-site one: browsers treat a WebSocket as a subresource; the origin check must refuse it).
    await context.addCookies([{ name: 'token', value: jwt, domain: 'localhost', path: '/', sameSite: 'Lax' }])
  }
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  const handshakes: Handshake[] = []
  cdp.on('Network.webSocketHandshakeResponseReceived', (event) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(event.response.headers)) headers[name.toLowerCase()] = String(value)
    handshakes.push({ status: event.response.status, headers })
  })
  await page.goto(`${pageOrigin}/`)
  const attempts = await page.evaluate(
    async ({ url, times }) => {
      const results: Attempt[] = []
      for (let i = 0; i < times; i++) {
        results.push(
          await new Promise<Attempt>((resolve) => {
            const ws = new WebSocket(url)
            let message: string | undefined
            let opened = false
            ws.onopen = () => {
              opened = true
            }
            ws.onmessage = (event) => {
              message = String(event.data)
              ws.close()
            }
            ws.onclose = (event) => resolve({ opened, message, closeCode: event.code })
          }),
        )
      }
      return results
    },
    { url: `ws://localhost:${api.port}/live`, times },
  )
  const cookies = (await context.cookies(`http://localhost:${api.port}/`)).map((c) => c.name)
  return { attempts, handshakes, cookies }
}

if (browser) {
  t.test('handleUpgrades() in Chromium: without a token, 401 JSON and no upgrade', async (t) => {
    const page = await startPage(t, 'localhost')
    const api = await startApi(t, page)
    const { attempts, handshakes } = await openFrom(t, page, api, undefined)
    t.match(attempts, [{ opened: false, closeCode: 1006 }], 'the script sees only a failed socket')
    t.equal(api.reached, 0, 'the upgrade handler never ran')
    await until(() => api.lines.length === 1)
    t.match(api.lines, [{ status: 401, upgrade: 'handshake' }])
    if (handshakes.length > 0) t.equal(handshakes[0]!.status, 401)
  })

  t.test(
    'handleUpgrades() in Chromium: with a token it connects; the 101 carries the request id and session cookie',
    async (t) => {
      const page = await startPage(t, 'localhost')
      const api = await startApi(t, page)
      const { attempts, handshakes, cookies } = await openFrom(t, page, api, await token('ada'))
      t.equal(attempts.length, 1)
      t.ok(attempts[0]!.opened)
      const seen = JSON.parse(attempts[0]!.message!)
      t.equal(seen.sub, 'ada', 'the server-side handler read the claims')
      t.equal(handshakes.length, 1)
      t.equal(handshakes[0]!.status, 101)
      t.equal(handshakes[0]!.headers['x-request-id'], seen.requestId)
      // DevTools hides Set-Cookie from the headers it reports; the cookie jar shows it arrived.
      t.ok(cookies.includes('session'), 'Chromium stored the session cookie the 101 set')
      await until(() => api.lines.length === 1)
      t.match(api.lines, [{ status: 101, upgrade: 'handshake', userId: 'ada', requestId: seen.requestId }])
    },
  )

  t.test('handleUpgrades() in Chromium: a cross-site page is refused although the cookie goes with it', async (t) => {
    const page = await startPage(t, 'localhost')
    const attacker = await startPage(t, '127.0.0.1')
    const api = await startApi(t, page)
    const { attempts } = await openFrom(t, attacker, api, await token('ada'))
    t.match(attempts, [{ opened: false }])
    t.equal(api.reached, 0)
    await until(() => api.lines.length === 1)
    t.match(api.lines, [{ status: 403, upgrade: 'handshake' }])
  })

  t.test('handleUpgrades() in Chromium: the 11th handshake within a limit of 10 gets 429', async (t) => {
    const page = await startPage(t, 'localhost')
    const api = await startApi(t, page, 10)
    const { attempts } = await openFrom(t, page, api, await token('ada'), 11)
    t.same(
      attempts.map((a) => a.opened),
      [...Array(10).fill(true), false],
    )
    await until(() => api.lines.length === 11)
    t.same(
      api.lines.map((l) => l.status),
      [...Array(10).fill(101), 429],
    )
    t.equal(api.reached, 10)
  })
}
