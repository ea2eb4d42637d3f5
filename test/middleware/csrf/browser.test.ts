import t, { type Test } from 'tap'
import { compose, csrf, type CsrfOptions } from '../../../lib/index.js'
import { defineMiddleware } from '../../../lib/core.js'
import { launchBrowser } from '../../helpers/browser.js'
import { serveWithServer } from '../../helpers/serve.js'

// Loopback origins as a browser sees them: the app on http://127.0.0.1:<a>; another port of
// the same host is the same site but another origin (Sec-Fetch-Site: same-site); a page on
// http://localhost:<b> is another site (cross-site). Both hosts are potentially trustworthy,
// so Chromium sends Fetch Metadata over plain http.
const browser = await launchBrowser(t)

interface App {
  origin: string
  /** What reached csrf() for each POST: its Sec-Fetch-Site and Origin. */
  posts: Array<{ site: string | undefined; origin: string | undefined }>
  /** POSTs that reached the handler. */
  handled: number
}

const form = (action: string): string =>
  `<!doctype html><title>form</title><form method="post" action="${action}">` +
  '<input name="amount" value="100"></form><script>document.forms[0].submit()</script>'

async function startApp(t: Test, options: CsrfOptions = {}): Promise<App> {
  const app: App = { origin: '', posts: [], handled: 0 }
  const recorder = defineMiddleware(
    { name: 'recorder' },
    (next) =>
      function recorderHandler(req, res) {
        if (req.method === 'POST') {
          const site = req.headers['sec-fetch-site']
          app.posts.push({ site, origin: req.headers.origin })
        }
        return next(req, res)
      },
  )
  const { port } = await serveWithServer(
    t,
    compose(
      recorder,
      csrf(options),
    )((req, res) => {
      res.setHeader('content-type', 'text/html')
      if (req.method === 'POST') {
        app.handled++
        return res.end('<!doctype html><title>done</title>transferred')
      }
      res.end(form('/transfer'))
    }),
  )
  app.origin = `http://127.0.0.1:${port}`
  return app
}

/** A page on `host` whose form posts itself to `action` as soon as it loads. */
async function startAttacker(t: Test, host: string, action: string | (() => string)): Promise<string> {
  const { port } = await serveWithServer(t, (_req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end(form(typeof action === 'string' ? action : action()))
  })
  return `http://${host}:${port}`
}

/** Open `pageUrl` and return the status of the form post it makes to `action`. */
async function submitFrom(t: Test, pageUrl: string, action: string): Promise<{ status: number; body: string }> {
  const context = await browser!.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  const posted = page.waitForResponse((res) => res.url() === action && res.request().method() === 'POST')
  await page.goto(pageUrl)
  const res = await posted
  return { status: res.status(), body: await res.text() }
}

t.test('csrf() in Chromium: a cross-site form post is refused', { skip: !browser }, async (t) => {
  const app = await startApp(t)
  const action = `${app.origin}/transfer`
  const attacker = await startAttacker(t, 'localhost', action)
  const res = await submitFrom(t, attacker, action)
  t.equal(res.status, 403)
  t.match(res.body, /csrf_cross_origin/)
  t.same(app.posts, [{ site: 'cross-site', origin: attacker }], 'the browser said so itself')
  t.equal(app.handled, 0)
})

t.test(
  'csrf() in Chromium: a same-site, cross-origin form post is refused unless trusted',
  { skip: !browser },
  async (t) => {
    let target = ''
    const sibling = await startAttacker(t, '127.0.0.1', () => target)
    const strict = await startApp(t)
    target = `${strict.origin}/transfer`
    const refused = await submitFrom(t, sibling, target)
    t.equal(refused.status, 403)
    t.same(strict.posts, [{ site: 'same-site', origin: sibling }])
    t.equal(strict.handled, 0)

    const trusting = await startApp(t, { trustedOrigins: [sibling] })
    target = `${trusting.origin}/transfer`
    const allowed = await submitFrom(t, sibling, target)
    t.equal(allowed.status, 200)
    t.same(trusting.posts, [{ site: 'same-site', origin: sibling }])
    t.equal(trusting.handled, 1)
  },
)

t.test('csrf() in Chromium: a same-origin form post passes', { skip: !browser }, async (t) => {
  const app = await startApp(t)
  const res = await submitFrom(t, `${app.origin}/`, `${app.origin}/transfer`)
  t.equal(res.status, 200)
  t.match(res.body, /transferred/)
  t.same(app.posts, [{ site: 'same-origin', origin: app.origin }])
  t.equal(app.handled, 1)
})

t.test('csrf() in Chromium: a no-cors fetch POST from another site is refused', { skip: !browser }, async (t) => {
  const app = await startApp(t)
  const { port } = await serveWithServer(t, (_req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end('<!doctype html><title>elsewhere</title>')
  })
  const attacker = `http://localhost:${port}`
  const context = await browser!.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.goto(attacker)
  // A "simple" request: no preflight, text/plain body, the response opaque to the page.
  await page.evaluate(async (url) => {
    await fetch(url, { method: 'POST', mode: 'no-cors', body: 'amount=100', headers: { 'content-type': 'text/plain' } })
  }, `${app.origin}/transfer`)
  t.same(app.posts, [{ site: 'cross-site', origin: attacker }])
  t.equal(app.handled, 0)
})
