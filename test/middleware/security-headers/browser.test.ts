import t from 'tap'
import { cspSiteDefaults, getCspNonce, type RawHandler, securityHeaders } from '../../../lib/index.js'
import { launchBrowser } from '../../helpers/browser.js'
import { serveWithServer } from '../../helpers/serve.js'

// What only a browser judges: that Chromium runs the inline script and style that carry the
// response's nonce and blocks those that do not (reporting a violation), even with
// 'unsafe-inline' in the policy; that 'strict-dynamic' lets a nonced script load others; and
// that Permissions-Policy turns a feature off.
const browser = await launchBrowser(t)

interface PageState {
  ran: string[]
  violations: Array<{ directive: string; blocked: string; sample: string }>
  nonce: string
  color: string
  geolocation: boolean | null
}

/** A page whose inline scripts and styles carry `nonce` or not; the first script records violations. */
function page(nonce: string, extra = ''): string {
  return `<!doctype html><title>csp</title>
<script nonce="${nonce}">
  window.ran = ['nonced']
  window.violations = []
  document.addEventListener('securitypolicyviolation', (e) =>
    window.violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample }))
  window.nonceSeen = document.currentScript.nonce
</script>
<script>window.ran.push('no nonce')</script>
<script nonce="wrong${nonce}">window.ran.push('wrong nonce')</script>
<style nonce="${nonce}">p { color: rgb(0, 128, 0) }</style>
<style>p { color: rgb(255, 0, 0) !important }</style>
<p>text</p>
${extra}`
}

async function visit(url: string): Promise<{ state: PageState; header: string }> {
  const context = await browser!.newContext()
  t.teardown(() => context.close())
  const tab = await context.newPage()
  const response = await tab.goto(url)
  // Violations are reported as events after parsing: wait for the two blocked scripts and the style.
  await tab.waitForFunction('window.violations.length >= 3')
  // A string: this project's TypeScript has no DOM types, and the page is the browser's.
  const state = (await tab.evaluate(`({
    ran: window.ran,
    violations: window.violations,
    nonce: window.nonceSeen,
    color: getComputedStyle(document.querySelector('p')).color,
    geolocation: document.featurePolicy ? document.featurePolicy.allowsFeature('geolocation') : null,
  })`)) as PageState
  return { state, header: (await response!.allHeaders())['content-security-policy']! }
}

if (browser) {
  const handler: RawHandler = (req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end(page(getCspNonce(req)))
  }
  const app = securityHeaders({
    contentSecurityPolicy: {
      nonce: true,
      useDefaults: false,
      // 'unsafe-inline' in both: with a nonce present, Chromium must ignore it.
      directives: { ...cspSiteDefaults, scriptSrc: ["'self'", "'unsafe-inline'"] },
    },
    permissionsPolicy: { geolocation: [] },
  })(handler)

  t.test('securityHeaders() nonce in Chromium: the nonced script and style run, others are blocked', async (t) => {
    const { url } = await serveWithServer(t, app)
    const { state, header } = await visit(url)
    t.match(header, /script-src 'self' 'unsafe-inline' 'nonce-[A-Za-z0-9+/]{22}=='/)
    t.same(state.ran, ['nonced'], "the scripts without the nonce did not run, despite 'unsafe-inline'")
    t.ok(header.includes(`'nonce-${state.nonce}'`), 'the page saw the nonce of its own response')
    t.equal(state.color, 'rgb(0, 128, 0)', 'the nonced style applied, the other did not')
    t.same(
      state.violations.map((v) => [v.directive, v.blocked]).sort(),
      [
        ['script-src-elem', 'inline'],
        ['script-src-elem', 'inline'],
        ['style-src-elem', 'inline'],
      ],
      'a violation for each element without the right nonce',
    )
    t.equal(state.geolocation, false, 'Permissions-Policy: geolocation=() turned geolocation off')
  })

  t.test('securityHeaders() nonce in Chromium: each response has its own nonce', async (t) => {
    const { url } = await serveWithServer(t, app)
    const first = await visit(url)
    const second = await visit(url)
    t.not(first.state.nonce, second.state.nonce)
    t.same(second.state.ran, ['nonced'])
  })

  t.test("securityHeaders() nonce in Chromium: with 'strict-dynamic' a nonced script loads others", async (t) => {
    // A script host the policy does not list: loaded only because a nonced script asked for it.
    const { url: cdn } = await serveWithServer(t, (req, res) => {
      res.setHeader('content-type', 'text/javascript')
      res.end(`window.ran.push(${JSON.stringify(req.url)})`)
    })
    const { url } = await serveWithServer(
      t,
      securityHeaders({
        contentSecurityPolicy: {
          nonce: true,
          useDefaults: false,
          directives: { ...cspSiteDefaults, scriptSrc: ["'strict-dynamic'", 'https:'] },
        },
      })((req, res) => {
        const nonce = getCspNonce(req)
        res.setHeader('content-type', 'text/html; charset=utf-8')
        res.end(
          page(
            nonce,
            `<script src="${cdn}/parser-inserted.js"></script>
<script nonce="${nonce}">
  const s = document.createElement('script'); s.src = '${cdn}/dynamic.js'; document.head.append(s)
</script>`,
          ),
        )
      }),
    )
    const context = await browser.newContext()
    t.teardown(() => context.close())
    const tab = await context.newPage()
    await tab.goto(url)
    await tab.waitForFunction(`window.ran.includes('/dynamic.js')`)
    await tab.waitForFunction('window.violations.length >= 4')
    const ran = await tab.evaluate('window.ran')
    t.same(ran, ['nonced', '/dynamic.js'], 'the parser-inserted script without a nonce was blocked')
  })
}
