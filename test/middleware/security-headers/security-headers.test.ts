import t, { type Test } from 'tap'
import {
  compose,
  cspSiteDefaults,
  getCspNonce,
  HttpError,
  proxyHeaders,
  securityHeaders,
  sendError,
  type RawHandler,
  type SecurityHeadersOptions,
  tryGetCspNonce,
} from '../../../lib/index.js'
import { defineMiddleware } from '../../../lib/core.js'
import { httpRequest, type HttpResult } from '../../helpers/http.js'
import { SECURITY_HEADERS } from '../../helpers/security-defaults.js'
import { serve } from '../../helpers/serve.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

const json: RawHandler = (_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end('{}')
}

async function headersOf(
  t: Test,
  options: SecurityHeadersOptions = {},
  handler: RawHandler = json,
  request: { method?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const url = await serve(t, securityHeaders(options)(handler))
  return httpRequest(url, request)
}

const DEFAULTS = SECURITY_HEADERS

t.test('securityHeaders(): the default set for APIs, without HSTS over http', async (t) => {
  const res = await headersOf(t)
  t.match(res.headers, DEFAULTS)
  t.equal(res.headers['strict-transport-security'], undefined)
  t.equal(res.headers['cross-origin-embedder-policy'], undefined)
  t.equal(res.text, '{}')
})

t.test('securityHeaders(): HSTS when a trusted proxy says the client used https', async (t) => {
  const app = (options: SecurityHeadersOptions, trusted: string) =>
    compose(proxyHeaders({ trustedProxies: [trusted] }), securityHeaders(options))(json)
  const trustedUrl = await serve(t, app({}, 'loopback'))
  const https = { 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https' }
  t.equal(
    (await httpRequest(trustedUrl, { headers: https })).headers['strict-transport-security'],
    'max-age=31536000; includeSubDomains',
  )
  const untrusted = await serve(t, app({}, '10.0.0.0/8'))
  t.equal(
    (await httpRequest(untrusted, { headers: https })).headers['strict-transport-security'],
    undefined,
    'a forged X-Forwarded-Proto is not https',
  )
  const custom = await serve(t, app({ strictTransportSecurity: { maxAge: 63_072_000, preload: true } }, 'loopback'))
  t.equal(
    (await httpRequest(custom, { headers: https })).headers['strict-transport-security'],
    'max-age=63072000; includeSubDomains; preload',
  )
  const noSub = await serve(t, app({ strictTransportSecurity: { maxAge: 300, includeSubDomains: false } }, 'loopback'))
  t.equal((await httpRequest(noSub, { headers: https })).headers['strict-transport-security'], 'max-age=300')
  const off = await serve(t, app({ strictTransportSecurity: false }, 'loopback'))
  t.equal((await httpRequest(off, { headers: https })).headers['strict-transport-security'], undefined)
})

t.test('securityHeaders(): on errors from inner layers and from an error boundary outside', async (t) => {
  const auth = defineMiddleware(
    { name: 'jwtAuth' },
    () =>
      function authHandler(req, res) {
        sendError(req, res, new HttpError(401))
      },
  )
  const unauthorized = await httpRequest(await serve(t, compose(securityHeaders(), auth)(json)))
  t.equal(unauthorized.status, 401)
  t.match(unauthorized.headers, DEFAULTS)
  const boundary = defineMiddleware(
    { name: 'errorBoundary' },
    (next) =>
      async function boundaryHandler(req, res) {
        try {
          await next(req, res)
        } catch {
          sendError(req, res, new HttpError(500))
        }
      },
  )
  const failed = await httpRequest(
    await serve(
      t,
      compose(
        boundary,
        securityHeaders(),
      )(() => {
        throw new Error('boom')
      }),
    ),
  )
  t.equal(failed.status, 500)
  t.match(failed.headers, DEFAULTS)
  const notFound = await headersOf(t, {}, (_req, res) => {
    res.statusCode = 404
    res.end('nope')
  })
  t.equal(notFound.status, 404)
  t.match(notFound.headers, DEFAULTS)
})

t.test('securityHeaders(): keeps values the handler set, unless override', async (t) => {
  const handler: RawHandler = (_req, res) => {
    res.setHeader('x-frame-options', 'SAMEORIGIN')
    res.setHeader('content-security-policy', "default-src 'self'")
    res.end()
  }
  const kept = await headersOf(t, {}, handler)
  t.equal(kept.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(kept.headers['content-security-policy'], "default-src 'self'")
  const replaced = await headersOf(t, { override: true }, handler)
  t.equal(replaced.headers['x-frame-options'], 'DENY')
  t.equal(replaced.headers['content-security-policy'], DEFAULTS['content-security-policy'])
})

t.test('securityHeaders(): removes X-Powered-By, unless told not to', async (t) => {
  const handler: RawHandler = (_req, res) => {
    res.setHeader('x-powered-by', 'Express')
    res.end()
  }
  t.equal((await headersOf(t, {}, handler)).headers['x-powered-by'], undefined)
  t.equal((await headersOf(t, { removePoweredBy: false }, handler)).headers['x-powered-by'], 'Express')
})

t.test('securityHeaders(): every header can be changed', async (t) => {
  const res = await headersOf(t, {
    xFrameOptions: 'SAMEORIGIN',
    referrerPolicy: ['no-referrer', 'strict-origin-when-cross-origin'],
    crossOriginOpenerPolicy: 'same-origin-allow-popups',
    crossOriginResourcePolicy: 'cross-origin',
    crossOriginEmbedderPolicy: 'require-corp',
    xDnsPrefetchControl: 'on',
    xPermittedCrossDomainPolicies: 'master-only',
  })
  t.match(res.headers, {
    'x-frame-options': 'SAMEORIGIN',
    'referrer-policy': 'no-referrer, strict-origin-when-cross-origin',
    'cross-origin-opener-policy': 'same-origin-allow-popups',
    'cross-origin-resource-policy': 'cross-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'x-dns-prefetch-control': 'on',
    'x-permitted-cross-domain-policies': 'master-only',
  })
})

t.test('securityHeaders(): every header can be turned off', async (t) => {
  const res = await headersOf(t, {
    contentSecurityPolicy: false,
    xContentTypeOptions: false,
    xFrameOptions: false,
    referrerPolicy: false,
    crossOriginOpenerPolicy: false,
    crossOriginResourcePolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  })
  for (const name of Object.keys(DEFAULTS)) t.equal(res.headers[name], undefined, name)
})

t.test('securityHeaders(): CSP directives merge over the defaults', async (t) => {
  const res = await headersOf(t, {
    contentSecurityPolicy: {
      directives: { imgSrc: ["'self'", 'data:'], 'form-action': null, connectSrc: "'self' https://api.example.com" },
    },
  })
  t.equal(
    res.headers['content-security-policy'],
    "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; img-src 'self' data:; connect-src 'self' https://api.example.com",
  )
})

t.test('securityHeaders(): CSP without defaults, and report-only', async (t) => {
  const res = await headersOf(t, {
    contentSecurityPolicy: {
      useDefaults: false,
      reportOnly: true,
      directives: { 'default-src': ["'self'"], upgradeInsecureRequests: true, 'report-uri': '/csp' },
    },
  })
  t.equal(res.headers['content-security-policy'], undefined)
  t.equal(
    res.headers['content-security-policy-report-only'],
    "default-src 'self'; upgrade-insecure-requests; report-uri /csp",
  )
})

t.test('securityHeaders(): on empty, HEAD, 204, 304 and writeHead(status, headers) responses', async (t) => {
  const cases: Array<[string, RawHandler, string]> = [
    ['empty end()', (_req, res) => res.end(), 'GET'],
    ['HEAD', json, 'HEAD'],
    [
      '204',
      (_req, res) => {
        res.statusCode = 204
        res.end()
      },
      'GET',
    ],
    [
      '304',
      (_req, res) => {
        res.statusCode = 304
        res.end()
      },
      'GET',
    ],
    [
      'writeHead object',
      (_req, res) => {
        res.writeHead(201, { 'x-frame-options': 'SAMEORIGIN', 'x-powered-by': 'me' })
        res.end('x')
      },
      'GET',
    ],
  ]
  for (const [name, handler, method] of cases) {
    const res = await headersOf(t, {}, handler, { method })
    t.equal(res.headers['x-content-type-options'], 'nosniff', name)
    t.equal(res.headers['content-security-policy'], DEFAULTS['content-security-policy'], name)
    t.equal(res.headers['x-powered-by'], undefined, name)
    if (name === 'writeHead object')
      t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', "headers given to writeHead count as the handler's")
  }
})

t.test('securityHeaders(): a streamed body with backpressure passes through whole', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'b')
  let sawFalse = false
  const handler: RawHandler = async (_req, res) => {
    if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawFalse = true
    await new Promise<void>((done) => res.end(done))
  }
  const res = await fetch(await serve(t, securityHeaders()(handler)))
  t.equal(res.headers.get('x-frame-options'), 'DENY')
  t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
  t.ok(sawFalse)
})

t.test('securityHeaders(): config: choices are checked', async (t) => {
  t.throws(() => securityHeaders({ xFrameOptions: 'ALLOW-FROM x' as 'DENY' }), {
    name: 'ConfigError',
    message:
      /^securityHeaders\(\): option "xFrameOptions" must be one of "DENY", "SAMEORIGIN", false; received "ALLOW-FROM x"/,
  })
  t.throws(() => securityHeaders({ crossOriginResourcePolicy: 'same' as 'same-site' }), {
    name: 'ConfigError',
    message: /option "crossOriginResourcePolicy" must be one of/,
  })
  t.throws(() => securityHeaders({ xContentTypeOptions: 'nosniff' as unknown as boolean }), {
    name: 'ConfigError',
    message: /option "xContentTypeOptions" must be true or false/,
  })
})

t.test('securityHeaders(): config: referrer policies are known tokens', async (t) => {
  t.throws(() => securityHeaders({ referrerPolicy: 'never' as 'origin' }), {
    name: 'ConfigError',
    message: /option "referrerPolicy" must be one of "no-referrer".*received "never"/,
  })
  t.throws(() => securityHeaders({ referrerPolicy: [] }), {
    name: 'ConfigError',
    message: /option "referrerPolicy" must be a referrer policy, a non-empty list of them, or false/,
  })
})

t.test('securityHeaders(): config: HSTS max-age is whole seconds', async (t) => {
  t.throws(() => securityHeaders({ strictTransportSecurity: { maxAge: -1 } }), {
    name: 'ConfigError',
    message:
      /option "strictTransportSecurity\.maxAge" must be an integer from 0 to 2147483647; received -1.*31536000 is one year/,
  })
})

t.test('securityHeaders(): config: HSTS preload needs a year and subdomains', async (t) => {
  t.throws(() => securityHeaders({ strictTransportSecurity: { maxAge: 300, preload: true } }), {
    name: 'ConfigError',
    message: /option "strictTransportSecurity\.preload" must be used with maxAge ≥ 31536000 and includeSubDomains/,
  })
  t.throws(() => securityHeaders({ strictTransportSecurity: { includeSubDomains: false, preload: true } }), {
    name: 'ConfigError',
    message: /strictTransportSecurity\.preload/,
  })
})

t.test('securityHeaders(): config: nested settings are objects with known keys', async (t) => {
  t.throws(() => securityHeaders({ strictTransportSecurity: true as unknown as false }), {
    name: 'ConfigError',
    message: /option "strictTransportSecurity" must be an object of settings or false; received true/,
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: 'default-src self' as never }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy',
    message: /option "contentSecurityPolicy" must be an object of settings or false; received "default-src self"/,
  })
  t.throws(() => securityHeaders({ strictTransportSecurity: { maxage: 1 } as never }), {
    name: 'ConfigError',
    middleware: 'securityHeaders',
    option: 'strictTransportSecurity.maxage',
    message:
      'securityHeaders(): unknown option "strictTransportSecurity.maxage"; did you mean "strictTransportSecurity.maxAge"?',
  })
  t.throws(() => securityHeaders({ strictTransportSecurity: { zzzzzzzz: 1 } as never }), {
    message:
      'securityHeaders(): unknown option "strictTransportSecurity.zzzzzzzz"; known options of strictTransportSecurity are maxAge, includeSubDomains, preload.',
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { directive: {} } as never }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.directive',
    message:
      'securityHeaders(): unknown option "contentSecurityPolicy.directive"; did you mean "contentSecurityPolicy.directives"?',
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { directives: { scriptSr: ["'self'"] } } }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.directives.scriptSr',
    message:
      'securityHeaders(): unknown option "contentSecurityPolicy.directives.scriptSr"; did you mean "contentSecurityPolicy.directives.scriptSrc"?',
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { reportOnly: 'yes' as never } }), {
    option: 'contentSecurityPolicy.reportOnly',
    message: /^securityHeaders\(\): option "contentSecurityPolicy\.reportOnly" must be true or false; received "yes"/,
  })
})

t.test('securityHeaders(): config: an undefined nested setting takes its default', async (t) => {
  const url = await serve(
    t,
    compose(
      securityHeaders({
        contentSecurityPolicy: { directives: undefined, reportOnly: undefined },
        strictTransportSecurity: { maxAge: undefined },
      }),
    )((_req, res) => res.end()),
  )
  const res = await fetch(url)
  t.equal(
    res.headers.get('content-security-policy'),
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  )
})

t.test('securityHeaders(): config: CSP values are validated (details in security-headers-csp.test.ts)', async (t) => {
  t.throws(() => securityHeaders({ contentSecurityPolicy: { directives: { scriptSrc: ["'self'; script-src *"] } } }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.directives.scriptSrc',
    message:
      /^securityHeaders\(\): option "contentSecurityPolicy\.directives\.scriptSrc" must be sources of visible ASCII without spaces, ";" or ","; received "'self'; script-src \*" \(string\)\. Give each source/,
  })
})

t.test('securityHeaders(): config: unknown options are refused', async (t) => {
  t.throws(() => securityHeaders({ hsts: false } as SecurityHeadersOptions), {
    name: 'ConfigError',
    option: 'hsts',
    message: /^securityHeaders\(\): unknown option "hsts"; /,
  })
})

// CSP3: base64-value of 128 bits: 22 characters and "==".
const NONCE = /^[A-Za-z0-9+/]{22}==$/

/** A page handler that prints the nonce it was given, or "none". */
const printNonce: RawHandler = (req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end(tryGetCspNonce(req) ?? 'none')
}

t.test(
  'securityHeaders(): nonce: a fresh nonce per response, in script-src and style-src, read by the handler',
  async (t) => {
    const url = await serve(
      t,
      securityHeaders({
        contentSecurityPolicy: { nonce: true, useDefaults: false, directives: cspSiteDefaults },
      })(printNonce),
    )
    const seen = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const res = await httpRequest(url)
      t.match(res.text, NONCE)
      const csp = res.headers['content-security-policy'] as string
      t.ok(csp.includes(`script-src 'self' 'nonce-${res.text}';`), 'script-src keeps its sources and gets the nonce')
      t.ok(
        csp.includes(`style-src 'self' https: 'unsafe-inline' 'nonce-${res.text}';`),
        "style-src too ('unsafe-inline' stays for browsers without nonces)",
      )
      t.equal(csp.split(res.text).length, 3, 'the nonce is in the two directives only')
      seen.add(res.text)
    }
    t.equal(seen.size, 20, 'no nonce repeats')
  },
)

t.test('securityHeaders(): nonce: a directive the policy lacks is added from its fallback', async (t) => {
  const res = await headersOf(
    t,
    { contentSecurityPolicy: { nonce: true, directives: { defaultSrc: ["'self'"] } } },
    printNonce,
  )
  t.equal(
    res.headers['content-security-policy'],
    `default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; script-src 'self' 'nonce-${res.text}'; style-src 'self' 'nonce-${res.text}'`,
  )
  const api = await headersOf(
    t,
    { contentSecurityPolicy: { nonce: true, nonceDirectives: ['scriptSrcElem'], reportOnly: true } },
    printNonce,
  )
  t.equal(
    api.headers['content-security-policy-report-only'],
    `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; script-src-elem 'nonce-${api.text}'`,
    "a lone 'none' gives way to the nonce; report-only works the same",
  )
})

t.test('securityHeaders(): nonce: getCspNonce() without it throws naming what to mount', async (t) => {
  let error: unknown
  const url = await serve(
    t,
    securityHeaders()((req, res) => {
      try {
        getCspNonce(req)
      } catch (err) {
        error = err
      }
      res.end(String(tryGetCspNonce(req)))
    }),
  )
  t.equal((await httpRequest(url)).text, 'undefined')
  t.match(error, {
    message:
      'getCspNonce(): no cspNonce on this request; mount securityHeaders({ contentSecurityPolicy: { nonce: true } }) before this handler.',
  })
})

t.test(
  'securityHeaders(): nonce: on a streamed body with backpressure, HEAD, 204 and writeHead(status, headers)',
  async (t) => {
    const chunk = Buffer.alloc(64 * 1024, 'n')
    let sawFalse = false
    const options: SecurityHeadersOptions = { contentSecurityPolicy: { nonce: true } }
    const streamed = await serve(
      t,
      securityHeaders(options)(async (req, res) => {
        res.setHeader('x-nonce', getCspNonce(req))
        if ((await writeWithBackpressure(res, repeated(chunk, 64))) > 0) sawFalse = true
        await new Promise<void>((done) => res.end(done))
      }),
    )
    const res = await fetch(streamed)
    t.ok(res.headers.get('content-security-policy')!.includes(`'nonce-${res.headers.get('x-nonce')}'`))
    t.equal((await res.arrayBuffer()).byteLength, 64 * chunk.length)
    t.ok(sawFalse)
    const cases: Array<[string, RawHandler, string]> = [
      ['HEAD', printNonce, 'HEAD'],
      [
        '204',
        (req, res) => {
          res.writeHead(204, { 'x-nonce': getCspNonce(req) })
          res.end()
        },
        'GET',
      ],
      [
        'writeHead object',
        (req, res) => {
          res.writeHead(200, { 'x-nonce': getCspNonce(req), 'x-frame-options': 'SAMEORIGIN' })
          res.end()
        },
        'GET',
      ],
    ]
    for (const [name, handler, method] of cases) {
      const res = await headersOf(
        t,
        options,
        (req, res) => {
          if (method === 'HEAD') res.setHeader('x-nonce', getCspNonce(req))
          return handler(req, res)
        },
        { method },
      )
      t.match(res.headers['x-nonce'], NONCE, name)
      t.ok((res.headers['content-security-policy'] as string).includes(`'nonce-${res.headers['x-nonce']}'`), name)
      t.equal(res.headers['x-frame-options'], name === 'writeHead object' ? 'SAMEORIGIN' : 'DENY', name)
    }
  },
)

t.test("securityHeaders(): nonce: a handler's own CSP is kept, unless override", async (t) => {
  const handler: RawHandler = (req, res) => {
    res.setHeader('content-security-policy', "default-src 'self'")
    res.end(getCspNonce(req))
  }
  const kept = await headersOf(t, { contentSecurityPolicy: { nonce: true } }, handler)
  t.equal(kept.headers['content-security-policy'], "default-src 'self'")
  const replaced = await headersOf(t, { contentSecurityPolicy: { nonce: true }, override: true }, handler)
  t.ok(
    (replaced.headers['content-security-policy'] as string).endsWith(
      `script-src 'nonce-${replaced.text}'; style-src 'nonce-${replaced.text}'`,
    ),
  )
})

t.test('securityHeaders(): Permissions-Policy and Reporting-Endpoints, linked to CSP report-to', async (t) => {
  const res = await headersOf(t, {
    permissionsPolicy: { camera: [], geolocation: ['self', 'https://maps.example'], fullscreen: ['*'] },
    reportingEndpoints: { csp: 'https://reports.example/csp', default: '/reports' },
    contentSecurityPolicy: { directives: { reportTo: 'csp' } },
  })
  t.equal(res.headers['permissions-policy'], 'camera=(), geolocation=(self "https://maps.example"), fullscreen=*')
  t.equal(res.headers['reporting-endpoints'], 'csp="https://reports.example/csp", default="/reports"')
  t.ok((res.headers['content-security-policy'] as string).endsWith('; report-to csp'))
  const off = await headersOf(t)
  t.equal(off.headers['permissions-policy'], undefined, 'off by default')
  t.equal(off.headers['reporting-endpoints'], undefined, 'off by default')
})

t.test('securityHeaders(): config: nonce settings', async (t) => {
  t.throws(() => securityHeaders({ contentSecurityPolicy: { nonce: 'yes' as never } }), {
    name: 'ConfigError',
    message: /^securityHeaders\(\): option "contentSecurityPolicy\.nonce" must be true or false; received "yes"/,
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { nonce: true, nonceDirectives: ['img-src'] } }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.nonceDirectives',
    message:
      /must be one of "script-src", "script-src-elem", "style-src", "style-src-elem"; received "img-src" \(string\)\. Nonces apply to/,
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { nonce: true, nonceDirectives: [] } }), {
    message: /"contentSecurityPolicy\.nonceDirectives" must be a non-empty list of directives/,
  })
  t.throws(
    () => securityHeaders({ contentSecurityPolicy: { nonce: true, nonceDirectives: ['scriptSrc', 'script-src'] } }),
    {
      message:
        /"contentSecurityPolicy\.nonceDirectives" must be a list without repeats; received "scriptSrc, script-src"/,
    },
  )
})

t.test('securityHeaders(): config: nonceDirectives without nonce: true is refused', async (t) => {
  t.throws(() => securityHeaders({ contentSecurityPolicy: { nonceDirectives: ['script-src'] } }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.nonceDirectives',
    message:
      /must be set with nonce: true; received "script-src" \(string\)\. Without nonce: true no nonce is made; add it, or drop nonceDirectives\./,
  })
  t.throws(() => securityHeaders({ contentSecurityPolicy: { nonceDirectives: ['img-src'] } }), {
    message: /"contentSecurityPolicy\.nonceDirectives" must be one of "script-src"/,
  })
})

t.test('securityHeaders(): config: report-to names a reporting endpoint', async (t) => {
  t.throws(() => securityHeaders({ contentSecurityPolicy: { directives: { reportTo: 'csp' } } }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.directives.report-to',
    message:
      /must be an endpoint of reportingEndpoints; received "csp" \(string\)\. Declare it: reportingEndpoints: \{ 'csp': 'https:\/\/…' \}/,
  })
  t.throws(
    () =>
      securityHeaders({
        reportingEndpoints: { default: '/r' },
        contentSecurityPolicy: { directives: { reportTo: 'csp' } },
      }),
    { message: /must be one of the reportingEndpoints \(default\); received "csp"/ },
  )
  t.throws(
    () =>
      securityHeaders({
        reportingEndpoints: { csp: '/r' },
        contentSecurityPolicy: { directives: { reportTo: ['csp', 'other'] } },
      }),
    { message: /"contentSecurityPolicy\.directives\.reportTo" must be one endpoint name/ },
  )
})

t.test('securityHeaders(): config: a referrer policy listed twice is refused', async (t) => {
  t.throws(() => securityHeaders({ referrerPolicy: ['origin', 'origin'] }), {
    name: 'ConfigError',
    option: 'referrerPolicy',
    message:
      'securityHeaders(): option "referrerPolicy" must be a list of different policies; received "origin, origin" (string). "origin" is listed twice; keep the one in the place you want (the last known to a browser wins).',
  })
  t.throws(() => securityHeaders({ referrerPolicy: ['no-referrer', 'strict-origin', 'no-referrer'] }), {
    message: /"no-referrer" is listed twice/,
  })
})
