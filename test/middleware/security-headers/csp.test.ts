import t from 'tap'
import {
  compileCsp,
  cspAroundNonce,
  cspApiDefaults,
  cspSiteDefaults,
  nonceGenerator,
  parseCsp,
} from '../../../lib/middleware/security-headers/csp.js'

const csp = (directives: Record<string, unknown>, useDefaults = false) =>
  compileCsp('contentSecurityPolicy', directives as never, useDefaults)

t.test('compileCsp(): serialises directives in order, camelCase or kebab-case', async (t) => {
  t.equal(
    csp({ defaultSrc: ["'self'"], 'img-src': "'self'  data:", upgradeInsecureRequests: true, sandbox: false }),
    "default-src 'self'; img-src 'self' data:; upgrade-insecure-requests",
  )
  t.equal(csp({}, true), "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
  t.equal(
    csp({ 'default-src': ["'self'"] }, true),
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  )
})

t.test('compileCsp(): quoted keywords, nonces and hashes', async (t) => {
  t.equal(
    csp({
      scriptSrc: [
        "'self'",
        "'strict-dynamic'",
        "'nonce-abc123=='",
        "'sha256-AbC+/9='",
        "'wasm-unsafe-eval'",
        'https:',
        '*.example.com',
      ],
    }),
    "script-src 'self' 'strict-dynamic' 'nonce-abc123==' 'sha256-AbC+/9=' 'wasm-unsafe-eval' https: *.example.com",
  )
  t.equal(
    csp({ trustedTypes: ['default', "'allow-duplicates'"], requireTrustedTypesFor: ["'script'"] }),
    "trusted-types default 'allow-duplicates'; require-trusted-types-for 'script'",
  )
})

t.test('compileCsp(): the exported presets compile', async (t) => {
  t.match(
    csp(cspSiteDefaults as never),
    /^default-src 'self'; base-uri 'self'; font-src 'self' https: data:;.*upgrade-insecure-requests$/,
  )
  t.ok(csp(cspApiDefaults as never))
})

t.test('compileCsp(): config: unknown directives, with a guess in the spelling given, or the list', async (t) => {
  t.throws(() => csp({ scriptSource: ["'self'"] }), {
    name: 'ConfigError',
    option: 'contentSecurityPolicy.directives.scriptSource',
    message:
      'securityHeaders(): unknown option "contentSecurityPolicy.directives.scriptSource"; did you mean "contentSecurityPolicy.directives.scriptSrc"?',
  })
  t.throws(() => csp({ 'img-scr': ["'self'"] }), {
    message:
      'securityHeaders(): unknown option "contentSecurityPolicy.directives.img-scr"; did you mean "contentSecurityPolicy.directives.img-src"?',
  })
  t.throws(() => csp({ zzzzzzzzzz: ["'self'"] }), {
    option: 'contentSecurityPolicy.directives.zzzzzzzzzz',
    message:
      /^securityHeaders\(\): unknown option "contentSecurityPolicy\.directives\.zzzzzzzzzz"; known options of contentSecurityPolicy\.directives are default-src, script-src, .*, block-all-mixed-content\.$/,
  })
})

t.test('compileCsp(): config: ";" and "," cannot smuggle directives or policies', async (t) => {
  t.throws(() => csp({ scriptSrc: ["'self'; object-src *"] }), {
    name: 'ConfigError',
    message: /must be sources of visible ASCII without spaces, ";" or ","/,
  })
  t.throws(() => csp({ scriptSrc: ["'self',default-src"] }), {
    name: 'ConfigError',
    message: /without spaces, ";" or ","/,
  })
  t.throws(() => csp({ scriptSrc: "'self';" }), { name: 'ConfigError', message: /without spaces, ";" or ","/ })
  t.throws(() => csp({ scriptSrc: ['a\nb'] }), { name: 'ConfigError', message: /visible ASCII/ })
  t.throws(() => csp({ scriptSrc: [42] }), { name: 'ConfigError', message: /received 42 \(number\)/ })
})

t.test('compileCsp(): config: keywords must be quoted', async (t) => {
  t.throws(() => csp({ defaultSrc: ['self'] }), {
    name: 'ConfigError',
    message:
      /must be keywords in single quotes; received "self" \(string\)\. Unquoted, "self" is a host name; write "'self'"\./,
  })
  t.throws(() => csp({ scriptSrc: ['nonce-abc'] }), { name: 'ConfigError', message: /write "'nonce-abc'"/ })
})

t.test('compileCsp(): config: quoted values must be known keywords', async (t) => {
  t.throws(() => csp({ scriptSrc: ["'unsafe-everything'"] }), {
    name: 'ConfigError',
    message: /must be known quoted keywords.*received "'unsafe-everything'"/,
  })
  t.throws(() => csp({ scriptSrc: ["'self"] }), { name: 'ConfigError', message: /must be known quoted keywords/ })
})

t.test("compileCsp(): config: 'none' stands alone", async (t) => {
  t.throws(() => csp({ scriptSrc: ["'none'", "'self'"] }), {
    name: 'ConfigError',
    message: /must be "'none'" alone.*ignored by browsers/,
  })
})

t.test('compileCsp(): config: empty source lists and misplaced true', async (t) => {
  t.throws(() => csp({ scriptSrc: [] }), {
    name: 'ConfigError',
    message: /must be a non-empty list of sources.*write \["'none'"\]/,
  })
  t.throws(() => csp({ scriptSrc: true }), {
    name: 'ConfigError',
    message: /must be a list of sources \(true is for directives without value\)/,
  })
  t.throws(() => csp({ scriptSrc: 5 }), {
    name: 'ConfigError',
    message: /must be a list of sources, a string, true or false/,
  })
})

t.test('compileCsp(): config: directives is an object with at least one directive left', async (t) => {
  t.throws(() => csp(['default-src'] as never), {
    name: 'ConfigError',
    message: /option "contentSecurityPolicy\.directives" must be an object of directives/,
  })
  t.throws(() => csp({ defaultSrc: null }), {
    name: 'ConfigError',
    message: /must be at least one directive.*contentSecurityPolicy: false/,
  })
})

const aroundNonce = (directives: Record<string, unknown>, nonceDirectives: string[], useDefaults = false) =>
  cspAroundNonce(parseCsp('contentSecurityPolicy', directives as never, useDefaults), nonceDirectives)

t.test('cspAroundNonce(): the policy split where each nonce goes, directives in place', async (t) => {
  const parts = aroundNonce({ scriptSrc: ["'self'", "'strict-dynamic'"], imgSrc: ["'self'"], styleSrc: ["'self'"] }, [
    'script-src',
    'style-src',
  ])
  t.same(parts, ["script-src 'self' 'strict-dynamic' 'nonce-", "'; img-src 'self'; style-src 'self' 'nonce-", "'"])
  t.equal(
    parts.join('N0nce=='),
    "script-src 'self' 'strict-dynamic' 'nonce-N0nce=='; img-src 'self'; style-src 'self' 'nonce-N0nce=='",
  )
  t.ok(Object.isFrozen(parts))
})

t.test("cspAroundNonce(): a missing directive copies the browser's fallback, without 'none'", async (t) => {
  t.equal(
    aroundNonce({ defaultSrc: ["'self'", 'https:'], scriptSrc: ["'unsafe-inline'"] }, [
      'script-src-elem',
      'style-src-elem',
    ]).join('X'),
    "default-src 'self' https:; script-src 'unsafe-inline'; script-src-elem 'unsafe-inline' 'nonce-X'; style-src-elem 'self' https: 'nonce-X'",
  )
  t.equal(
    aroundNonce({}, ['script-src'], true).join('X'),
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; script-src 'nonce-X'",
  )
  t.equal(aroundNonce({ sandbox: true }, ['style-src']).join('X'), "sandbox; style-src 'nonce-X'", 'no fallback at all')
})

t.test('nonceGenerator(): 128-bit base64 nonces, none repeated across pool refills', async (t) => {
  const next = nonceGenerator()
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) {
    const nonce = next()
    t.equal(Buffer.from(nonce, 'base64').length, 16)
    t.match(nonce, /^[A-Za-z0-9+/]{22}==$/)
    seen.add(nonce)
  }
  t.equal(seen.size, 1000)
  const other = nonceGenerator()
  t.not(other(), next(), 'each generator draws its own bytes')
})

t.test('compileCsp(): config: report-to takes one endpoint name', async (t) => {
  t.equal(csp({ reportTo: 'csp-endpoint' }), 'report-to csp-endpoint')
  t.throws(() => csp({ reportTo: 'https://r.example/csp' }), {
    name: 'ConfigError',
    message:
      /"contentSecurityPolicy\.directives\.reportTo" must be one endpoint name .*; received "https:\/\/r\.example\/csp" \(string\)\. Name an endpoint of reportingEndpoints\./,
  })
  t.throws(() => csp({ 'report-to': ['a', 'b'] }), { message: /must be one endpoint name/ })
})
