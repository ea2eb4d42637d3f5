import fc from 'fast-check'
import { validateHeaderValue } from 'node:http'
import t from 'tap'
import { compileOriginList, MAX_ORIGIN_LENGTH, regexProblem } from '../../lib/core/origin.js'

t.test('compileOriginList(): exact origins match as browsers serialise them', async (t) => {
  const match = compileOriginList('cors', 'origins', [
    'https://App.Example.com',
    'http://localhost:3000',
    'http://[::1]:8080',
    'null',
  ])
  t.ok(match('https://app.example.com'))
  t.ok(match('http://localhost:3000'))
  t.ok(match('http://[::1]:8080'))
  t.ok(match('null'))
  for (const no of [
    'https://APP.example.com',
    'https://app.example.com/',
    'https://app.example.com.',
    'https://app.example.com:443',
    'http://app.example.com',
    'http://localhost:3001',
    'http://localhost',
    'https://app.example.com.evil.test',
    'Null',
    '',
  ]) {
    t.notOk(match(no), no)
  }
})

t.test('compileOriginList(): exact lists only the exact entries, serialised, each a valid header value', async (t) => {
  const match = compileOriginList('cors', 'origins', [
    'https://App.Example.com',
    'http://[::1]:8080',
    'null',
    'https://*.example.org',
    /^https:\/\/[a-z]+\.example\.net$/,
  ])
  t.same([...match.exact].sort(), ['http://[::1]:8080', 'https://app.example.com', 'null'])
  // Allowed, but not listed exactly: a wildcard's and a pattern's matches are the client's text.
  t.ok(match('https://a.example.org'))
  t.notOk(match.exact.has('https://a.example.org'))
  t.ok(match('https://b.example.net'))
  t.notOk(match.exact.has('https://b.example.net'))
  for (const origin of match.exact) t.doesNotThrow(() => validateHeaderValue('access-control-allow-origin', origin))
  // Property: whatever exact entry compiles, its serialised form is a valid header value.
  fc.assert(
    fc.property(fc.domain(), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), (host, port) => {
      let compiled: ReturnType<typeof compileOriginList>
      try {
        compiled = compileOriginList('cors', 'origins', [`https://${host}${port === undefined ? '' : `:${port}`}`])
      } catch {
        return true
      }
      for (const origin of compiled.exact) validateHeaderValue('access-control-allow-origin', origin)
      return true
    }),
  )
})

t.test('compileOriginList(): wildcards match subdomains on a label boundary, same scheme and port', async (t) => {
  const match = compileOriginList('cors', 'origins', ['https://*.example.com', 'http://*.dev.test:8080'])
  t.ok(match('https://a.example.com'))
  t.ok(match('https://a.b.example.com'))
  t.ok(match('http://x.dev.test:8080'))
  for (const no of [
    'https://example.com',
    'https://evil-example.com',
    'https://aexample.com',
    'http://a.example.com',
    'https://a.example.com:8443',
    'https://A.example.com',
    'https://a.example.com.',
    'https://.example.com',
    'https://a..example.com',
    'https://user@a.example.com',
    'https://a.example.com/',
    'http://x.dev.test',
    'http://x.dev.test:8081',
    'https://a.example.com.evil.test',
    'https://ä.example.com',
    `https://${'a'.repeat(MAX_ORIGIN_LENGTH)}.example.com`,
  ]) {
    t.notOk(match(no), no)
  }
})

t.test('compileOriginList(): anchored RegExps', async (t) => {
  const match = compileOriginList('cors', 'origins', [/^https:\/\/(?:app|admin)\.example\.com$/])
  t.ok(match('https://admin.example.com'))
  t.notOk(match('https://admin.example.com.evil.test'))
  t.notOk(match('https://evil.test/?https://app.example.com'))
})

t.test('regexProblem(): names what makes a pattern unsafe', async (t) => {
  t.equal(regexProblem(/^https:\/\/a\.example\.com$/), undefined)
  t.equal(regexProblem(/^https:\/\/[a-z.]+\.example\.com$/), undefined, 'a dot in a class is literal')
  t.equal(regexProblem(/^https:\/\/.*\.example\.com$/), undefined, 'a dot after / is deliberate')
  t.equal(regexProblem(/^https:\/\/(a|b)\.example\.com$/), undefined)
  t.equal(regexProblem(/^a\$$/), undefined)
  t.match(regexProblem(/https:\/\/a\.example\.com$/), /not anchored at the start/)
  t.match(regexProblem(/^https:\/\/a\.example\.com/), /not anchored at the end/)
  t.match(regexProblem(/^https:\/\/a\.example\.com\$/), /not anchored at the end/)
  t.match(regexProblem(/^https:\/\/a\.example\.com|https:\/\/b\.example\.com$/), /top-level \|/)
  t.match(regexProblem(/^https:\/\/a\.example\.com$/g), /g or y flag/)
  t.match(regexProblem(/^https:\/\/a\.example\.com$/y), /g or y flag/)
  t.match(regexProblem(/^https:\/\/a\.example\.com$/m), /m flag/)
  t.match(regexProblem(/^https:\/\/app.example\.com$/), /unescaped "\." in/)
})

// Every mutation named by the issue, applied to an allowed origin.
const ALLOWED = 'https://app.example.com'
const mutation = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }).map((s) => s + ALLOWED),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((s) => !/^[a-z0-9-]*(?:\.[a-z0-9-]+)*$/.test(s) || !s.startsWith('.'))
    .map((s) => ALLOWED + s),
  fc
    .integer({ min: 0, max: ALLOWED.length - 1 })
    .filter((i) => /[a-z]/.test(ALLOWED[i]!))
    .map((i) => ALLOWED.slice(0, i) + ALLOWED[i]!.toUpperCase() + ALLOWED.slice(i + 1)),
  fc.integer({ min: 1, max: 65535 }).map((p) => `${ALLOWED}:${p}`),
  fc.constantFrom(
    `${ALLOWED}.`,
    `${ALLOWED}/`,
    `${ALLOWED}./`,
    'https://user@app.example.com',
    'https://app.example.com@evil.test',
    'https://app.еxample.com',
    'https://аpp.example.com',
    'https://app.example.com\u0000',
    'null',
    'http://app.example.com',
    'https:/app.example.com',
    'https://app.example.co',
    'https://pp.example.com',
    'https://app-example.com',
    'https://appexample.com',
  ),
  fc
    .tuple(
      fc.integer({ min: 8, max: ALLOWED.length }),
      fc.constantFrom('\u00e4', '\u0430', '\uff0e', '\u3002', '%2e', '\\', '_', '-'),
    )
    .map(([i, c]) => ALLOWED.slice(0, i) + c + ALLOWED.slice(i)),
)

t.test('compileOriginList(): property: mutations of an allowed exact origin never match', async (_t) => {
  const match = compileOriginList('cors', 'origins', [ALLOWED, 'http://localhost:3000'])
  fc.assert(
    fc.property(mutation, (o) => !match(o)),
    { numRuns: 2000 },
  )
})

t.test('compileOriginList(): property: mutations outside a wildcard never match', async (_t) => {
  const match = compileOriginList('cors', 'origins', ['https://*.example.com'])
  // A suffix that ends in ".example.com" makes a real subdomain; every other mutation must fail.
  fc.assert(
    fc.property(
      mutation.filter((o) => !/^https:\/\/[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.example\.com$/.test(o)),
      (o) => !match(o),
    ),
    { numRuns: 2000 },
  )
})

t.test('compileOriginList(): property: mutations never match an anchored RegExp', async (_t) => {
  const match = compileOriginList('cors', 'origins', [/^https:\/\/app\.example\.com$/])
  fc.assert(
    fc.property(mutation, (o) => !match(o)),
    { numRuns: 2000 },
  )
})
