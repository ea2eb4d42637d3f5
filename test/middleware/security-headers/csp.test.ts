import t from 'tap'
import { compileCsp, cspApiDefaults, cspSiteDefaults } from '../../../lib/middleware/security-headers/csp.js'

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
