import t from 'tap'
import { compose, cors, type CorsOptions, type RawHandler } from '../../../lib/index.js'
import { defineMiddleware } from '../../../lib/core.js'
import { launchBrowser } from '../../helpers/browser.js'
import { serveWithServer } from '../../helpers/serve.js'

// Loopback origins: the API on http://localhost:<a>, the allowed page on http://localhost:<b>
// (cross-origin but same-site, so the browser sends the API's cookie with credentials:
// 'include'), and another page on http://127.0.0.1:<c> (cross-origin and cross-site).
const browser = await launchBrowser(t)

interface Api {
  url: string
  preflights: number
  actual: number
  cookies: string[]
}

async function startApi(options: CorsOptions): Promise<Api> {
  const api: Api = { url: '', preflights: 0, actual: 0, cookies: [] }
  // Counts what reaches the server, outside cors, so answered preflights are counted too.
  const counter = defineMiddleware(
    { name: 'counter' },
    (next) =>
      function counterHandler(req, res) {
        if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) api.preflights++
        else api.actual++
        return next(req, res)
      },
  )
  const handler: RawHandler = (req, res) => {
    api.cookies.push(req.headers.cookie ?? '')
    res.setHeader('content-type', 'application/json')
    res.setHeader('x-request-id', 'req-1')
    res.end(JSON.stringify({ method: req.method, custom: req.headers['x-custom'] ?? null }))
  }
  const { port } = await serveWithServer(t, compose(counter, cors(options))(handler))
  api.url = `http://localhost:${port}/data`
  return api
}

async function startPage(host: string): Promise<string> {
  const { port } = await serveWithServer(t, (_req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end('<!doctype html><title>page</title>')
  })
  return `http://${host}:${port}`
}

interface Outcome {
  ok: boolean
  status?: number
  body?: string
  exposed?: string | null
  error?: string
}

/** From a page at `pageOrigin`, PUT to `apiUrl` with credentials and a custom header. */
async function callFrom(pageOrigin: string, apiUrl: string, times = 1): Promise<Outcome[]> {
  const context = await browser!.newContext()
  t.teardown(() => context.close())
  // The API's session cookie; SameSite=Lax still goes to a same-site, cross-origin fetch.
  await context.addCookies([{ name: 'sid', value: 'abc', domain: 'localhost', path: '/', sameSite: 'Lax' }])
  const page = await context.newPage()
  await page.goto(`${pageOrigin}/`)
  return page.evaluate(
    async ({ url, times }) => {
      const results: Outcome[] = []
      for (let i = 0; i < times; i++) {
        try {
          const res = await fetch(url, {
            method: 'PUT',
            credentials: 'include',
            headers: { 'x-custom': 'yes', 'content-type': 'application/json' },
            body: '{}',
          })
          results.push({
            ok: true,
            status: res.status,
            body: await res.text(),
            exposed: res.headers.get('x-request-id'),
          })
        } catch (err) {
          results.push({ ok: false, error: String(err) })
        }
      }
      return results
    },
    { url: apiUrl, times },
  )
}

if (browser) {
  const page = await startPage('localhost')
  const otherPage = await startPage('127.0.0.1')
  const allowHeaders = ['content-type', 'x-custom']

  t.test('cors() in Chromium: an allowed origin calls with credentials and a custom header', async (t) => {
    const api = await startApi({
      origins: [page],
      credentials: true,
      allowedHeaders: allowHeaders,
      exposedHeaders: ['x-request-id'],
    })
    const [result] = await callFrom(page, api.url)
    t.same(result, { ok: true, status: 200, body: '{"method":"PUT","custom":"yes"}', exposed: 'req-1' })
    t.equal(api.preflights, 1)
    t.equal(api.actual, 1)
    t.same(api.cookies, ['sid=abc'], 'the cookie went with the call')
  })

  t.test('cors() in Chromium: a disallowed origin fails and the request is never sent', async (t) => {
    const api = await startApi({ origins: [page], credentials: true, allowedHeaders: allowHeaders })
    const [result] = await callFrom(otherPage, api.url)
    t.equal(result!.ok, false)
    t.match(result!.error, /TypeError/)
    t.equal(api.preflights, 1)
    t.equal(api.actual, 0, 'the preflight failed, so the PUT was never made')
  })

  t.test('cors() in Chromium: a header not allowed fails the preflight', async (t) => {
    const api = await startApi({ origins: [page], credentials: true, allowedHeaders: ['content-type'] })
    const [result] = await callFrom(page, api.url)
    t.equal(result!.ok, false)
    t.equal(api.actual, 0)
  })

  t.test('cors() in Chromium: credentials need Access-Control-Allow-Credentials', async (t) => {
    // The same origin allowed, but without credentials: the browser refuses a credentialed call.
    const api = await startApi({ origins: [page], allowedHeaders: allowHeaders })
    const [result] = await callFrom(page, api.url)
    t.equal(result!.ok, false)
  })

  t.test('cors() in Chromium: the preflight is cached for maxAge', async (t) => {
    const cached = await startApi({ origins: [page], credentials: true, allowedHeaders: allowHeaders, maxAge: 600 })
    const results = await callFrom(page, cached.url, 3)
    t.same(
      results.map((r) => r.ok),
      [true, true, true],
    )
    t.equal(cached.preflights, 1, 'one preflight for three calls')
    t.equal(cached.actual, 3)
    const uncached = await startApi({ origins: [page], credentials: true, allowedHeaders: allowHeaders, maxAge: 0 })
    t.same(
      (await callFrom(page, uncached.url, 3)).map((r) => r.ok),
      [true, true, true],
    )
    t.equal(uncached.preflights, 3, 'maxAge 0: a preflight before every call')
  })
}
