import fc from 'fast-check'
import t, { type Test } from 'tap'
import { compose, proxyHeaders, trustedHost, type TrustedHostOptions } from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { parseRawResponse, rawExchange, rawRequest } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'

const ok = (_req: unknown, res: { end(s: string): void }) => res.end('ok')

async function server(t: Test, options: TrustedHostOptions) {
  return serve(t, trustedHost(options)(ok))
}

async function status(url: string, host: string): Promise<number> {
  return (await httpRequest(url, { headers: { host } })).status
}

t.test('trustedHost(): serves a listed host, on any port when the entry has none', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com'] })
  const res = await httpRequest(url, { headers: { host: 'example.com' } })
  t.equal(res.status, 200)
  t.equal(res.text, 'ok')
  t.equal(await status(url, 'example.com:8080'), 200)
})

t.test('trustedHost(): compares case-insensitively and ignores one trailing dot', async (t) => {
  const url = await server(t, { allowedHosts: ['Example.com'] })
  t.equal(await status(url, 'EXAMPLE.COM.'), 200)
  t.equal(await status(url, 'example.com.:3000'), 200)
  t.equal(await status(url, 'example.com..'), 400)
})

t.test('trustedHost(): an entry with a port allows that port only, the default port implied', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com:8443', 'plain.test:80'] })
  t.equal(await status(url, 'example.com:8443'), 200)
  t.equal(await status(url, 'example.com:8444'), 400)
  t.equal(await status(url, 'example.com'), 400, 'no port over http is port 80')
  t.equal(await status(url, 'plain.test'), 200)
})

t.test('trustedHost(): refuses an unlisted host with the JSON error shape', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com'] })
  const res = await httpRequest(url, { headers: { host: 'evil.test' } })
  t.equal(res.status, 400)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(res.text), { status: 400, code: 'host_not_allowed', message: 'Host not allowed' })
})

t.test('trustedHost(): wildcards match subdomains on a label boundary, never the apex', async (t) => {
  const url = await server(t, { allowedHosts: ['*.example.com'] })
  t.equal(await status(url, 'a.example.com'), 200)
  t.equal(await status(url, 'a.b.example.com:8080'), 200)
  t.equal(await status(url, 'example.com'), 400)
  t.equal(await status(url, 'evil-example.com'), 400)
  t.equal(await status(url, 'aexample.com'), 400)
  t.equal(await status(url, 'example.com.evil.test'), 400)
  t.equal(await status(url, '.example.com'), 400)
})

t.test('trustedHost(): the apex is allowed when listed next to the wildcard', async (t) => {
  const url = await server(t, { allowedHosts: ['*.example.com', 'example.com'] })
  t.equal(await status(url, 'example.com'), 200)
})

t.test('trustedHost(): a wildcard with a port', async (t) => {
  const url = await server(t, { allowedHosts: ['*.example.com:8443'] })
  t.equal(await status(url, 'a.example.com:8443'), 200)
  t.equal(await status(url, 'a.example.com'), 400)
})

t.test('trustedHost(): IPv6 and IPv4 literals, compared canonically', async (t) => {
  const url = await server(t, { allowedHosts: ['[::1]', '127.0.0.1:3000'] })
  t.equal(await status(url, '[::1]:8080'), 200)
  t.equal(await status(url, '[0:0::1]'), 200)
  t.equal(await status(url, '127.0.0.1:3000'), 200)
  t.equal(await status(url, '127.0.0.1:3001'), 400)
  t.equal(await status(url, '[::2]'), 400)
})

t.test('trustedHost(): malformed hosts are 400 host_invalid', async (t) => {
  const url = await server(t, { allowedHosts: ['*'] })
  for (const host of [
    '[::1]evil.example.com',
    'a.com@b.com',
    'example.com:',
    'example.com:99999',
    '::1',
    'a b',
    'exa%6dple.com',
    '1.2.3',
  ]) {
    const res = await httpRequest(url, { headers: { host } })
    t.equal(res.status, 400, host)
    t.equal(JSON.parse(res.text).code, 'host_invalid', host)
  }
  t.equal(await status(url, 'anything.test'), 200, '"*" allows any well-formed host')
})

t.test('trustedHost(): a request without Host is 400 host_missing', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com'] })
  const res = parseRawResponse(await rawExchange(url, 'GET / HTTP/1.0\r\n\r\n'))
  t.equal(res.status, 400)
  t.same(JSON.parse(res.body.toString()), { status: 400, code: 'host_missing', message: 'Missing Host header' })
})

t.test('trustedHost(): two Host lines are 400 host_invalid, even when the first is allowed', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com'] })
  const res = parseRawResponse(
    await rawExchange(url, 'GET / HTTP/1.1\r\nHost: example.com\r\nHost: evil.test\r\nConnection: close\r\n\r\n'),
  )
  t.equal(res.status, 400)
  t.equal(JSON.parse(res.body.toString()).code, 'host_invalid')
})

t.test('trustedHost(): an absolute-form target must name an allowed host too', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com'] })
  const evil = parseRawResponse(
    await rawExchange(url, 'GET http://evil.test/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'),
  )
  t.equal(evil.status, 400)
  t.equal(JSON.parse(evil.body.toString()).code, 'host_not_allowed')
  const good = parseRawResponse(
    await rawExchange(url, 'GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'),
  )
  t.equal(good.status, 200)
  const bad = parseRawResponse(
    await rawExchange(url, 'GET http://a.com@b.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'),
  )
  t.equal(bad.status, 400)
})

t.test('trustedHost(): predicates decide on the parsed host', async (t) => {
  const seen: unknown[] = []
  const url = await server(t, {
    allowedHosts: [
      (h) => {
        seen.push(h)
        return h.hostname.endsWith('.tenant.test')
      },
    ],
  })
  t.equal(await status(url, 'A.Tenant.test:81'), 200)
  t.equal(await status(url, 'tenant.test'), 400)
  t.same(seen[0], { hostname: 'a.tenant.test', port: 81, kind: 'name' })
})

t.test('trustedHost(): checks the host a trusted proxy forwarded', async (t) => {
  const app = compose(
    proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] }),
    trustedHost({ allowedHosts: ['public.test'] }),
  )(ok)
  const url = await serve(t, app)
  const via = await httpRequest(url, {
    headers: { host: 'internal:8080', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-host': 'public.test' },
  })
  t.equal(via.status, 200)
  const direct = await httpRequest(url, {
    headers: { host: 'internal:8080', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-host': 'evil.test' },
  })
  t.equal(direct.status, 400)
})

t.test('trustedHost(): ignores a forwarded host from an untrusted peer', async (t) => {
  const app = compose(
    proxyHeaders({ trustedProxies: ['10.0.0.0/8'], fields: ['proto', 'host'] }),
    trustedHost({ allowedHosts: ['public.test'] }),
  )(ok)
  const url = await serve(t, app)
  t.equal(
    (
      await httpRequest(url, {
        headers: { host: 'evil.test', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-host': 'public.test' },
      })
    ).status,
    400,
  )
})

t.test('trustedHost(): wwwRedirect sends the apex to its www host with path and query', async (t) => {
  const url = await server(t, { allowedHosts: ['www.example.com'], wwwRedirect: true })
  const res = await httpRequest(`${url}/a/b?c=d`, { headers: { host: 'example.com:8080' } })
  t.equal(res.status, 308)
  t.equal(res.headers.location, 'http://www.example.com:8080/a/b?c=d')
  t.equal(res.headers['content-length'], '0')
  const evil = await httpRequest(`${url}//evil.test/x`, { headers: { host: 'example.com' } })
  t.equal(evil.headers.location, 'http://www.example.com/evil.test/x')
  t.equal(await status(url, 'other.test'), 400, 'no www host listed for it')
  t.equal(await status(url, 'www.www.example.com'), 400)
  t.equal(await status(url, 'www.example.com'), 200)
})

t.test('trustedHost(): wwwRedirect keeps the scheme the client used', async (t) => {
  const app = compose(
    proxyHeaders({ trustedProxies: ['loopback'] }),
    trustedHost({ allowedHosts: ['www.example.com'], wwwRedirect: true }),
  )(ok)
  const url = await serve(t, app)
  const res = await httpRequest(url, {
    headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https' },
  })
  t.equal(res.headers.location, 'https://www.example.com/')
})

t.test('trustedHost(): property: random Host values never pass unless allowed', async (t) => {
  const url = await server(t, { allowedHosts: ['example.com', '*.api.example.com'] })
  const allowedShape = /^(?:example\.com|(?:[a-z0-9_-]+\.)+api\.example\.com)\.?(?::\d{1,5})?$/i
  const pieces = fc.constantFrom(
    'example',
    'com',
    'api',
    'evil',
    '.',
    '-',
    ':',
    '[',
    ']',
    '@',
    '_',
    '*',
    '%2e',
    '::1',
    '8080',
    'www',
    'EXAMPLE',
    '\\',
    '/',
    '#',
    '?',
  )
  const mutated = fc
    .tuple(
      fc.constantFrom('example.com', 'a.api.example.com', 'api.example.com'),
      fc.array(pieces, { maxLength: 4 }),
      fc.array(pieces, { maxLength: 4 }),
    )
    .map(([base, before, after]) => before.join('') + base + after.join(''))
  const host = fc.oneof(mutated, fc.stringMatching(/^[\x21-\x7e]{1,40}$/))
  await fc.assert(
    fc.asyncProperty(host, async (h) => {
      const code = await status(url, h)
      return code === 400 || (code === 200 && allowedShape.test(h))
    }),
    { numRuns: 150 },
  )
})

t.test('trustedHost(): config: allowedHosts is required', async (t) => {
  t.throws(() => trustedHost(), {
    name: 'ConfigError',
    message:
      /^trustedHost\(\): option "allowedHosts" must be a non-empty array of hosts; received undefined \(undefined\)\. List the hosts you serve/,
  })
  t.throws(() => trustedHost({ allowedHosts: [] }), {
    name: 'ConfigError',
    message: /option "allowedHosts" must be a non-empty array of hosts; received an array of 0/,
  })
})

t.test('trustedHost(): config: entries must be hosts', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: ['https://example.com'] }), {
    name: 'ConfigError',
    message: /received "https:\/\/example\.com" \(string\)\. Give the host alone, without scheme or path\./,
  })
  t.throws(() => trustedHost({ allowedHosts: ['::1'] }), {
    name: 'ConfigError',
    message: /received "::1".*IPv6 needs brackets/,
  })
})

t.test('trustedHost(): config: "*" only as the whole first label', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: ['a.*.example.com'] }), {
    name: 'ConfigError',
    message: /received "a\.\*\.example\.com".*"\*" is allowed only as the whole first label/,
  })
  t.throws(() => trustedHost({ allowedHosts: ['*example.com'] }), {
    name: 'ConfigError',
    message: /received "\*example\.com"/,
  })
  t.throws(() => trustedHost({ allowedHosts: ['*.127.0.0.1'] }), {
    name: 'ConfigError',
    message: /received "\*\.127\.0\.0\.1"/,
  })
})

t.test('trustedHost(): config: no wildcard over a top-level domain', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: ['*.com'] }), {
    name: 'ConfigError',
    message: /must be wildcards under a domain of two labels or more.*received "\*\.com"/,
  })
  t.doesNotThrow(() => trustedHost({ allowedHosts: ['*.localhost'] }))
})

t.test('trustedHost(): wildcards under a single label reserved for local use are allowed', async (t) => {
  for (const suffix of ['test', 'internal', 'lan', 'local', 'example', 'invalid', 'home.arpa', 'TEST']) {
    t.doesNotThrow(() => trustedHost({ allowedHosts: [`*.${suffix}`] }), suffix)
  }
  const url = await serve(
    t,
    compose(trustedHost({ allowedHosts: ['*.test'] }))((_q, res) => res.end('ok')),
  )
  t.equal((await rawRequest(url, 'GET', '/', [['Host', 'app.test']])).status, 200)
  t.equal((await rawRequest(url, 'GET', '/', [['Host', 'a.b.test']])).status, 200)
  t.equal((await rawRequest(url, 'GET', '/', [['Host', 'test']])).status, 400)
  t.equal((await rawRequest(url, 'GET', '/', [['Host', 'app.testserver']])).status, 400)
})

t.test('trustedHost(): config: another single label is refused, saying why and what to write', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: ['*.testserver'] }), {
    name: 'ConfigError',
    message:
      /received "\*\.testserver".*"\*\.testserver" accepts every host under "testserver", a name that may be delegated publicly\. Write the hosts in full \("app\.testserver"\), put the wildcard under two labels \("\*\.app\.testserver"\), or use a suffix reserved for local use: "\*\.localhost", "\*\.test"/,
  })
})

t.test('trustedHost(): config: entries are strings or functions', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: [/example/ as unknown as string] }), {
    name: 'ConfigError',
    message: /must be hosts \(strings\) or functions; received \/example\/ \(RegExp\)/,
  })
})

t.test('trustedHost(): config: wwwRedirect is a boolean', async (t) => {
  t.throws(() => trustedHost({ allowedHosts: ['a.test'], wwwRedirect: 1 as unknown as boolean }), {
    name: 'ConfigError',
    message: /option "wwwRedirect" must be true or false; received 1 \(number\)/,
  })
})

t.test('trustedHost(): config: unknown options are refused', async (t) => {
  t.throws(() => trustedHost({ allowedHost: ['a.test'] } as TrustedHostOptions), {
    name: 'ConfigError',
    message: /^trustedHost\(\): unknown option "allowedHost"; did you mean "allowedHosts"\?$/,
  })
})

t.test('trustedHost(): the remembered last host never lets another host through', async (t) => {
  const url = await serve(
    t,
    compose(trustedHost({ allowedHosts: ['a.example'] }))((_req, res) => res.end('ok')),
  )
  const statuses = []
  for (const host of [
    'a.example',
    'b.example',
    'a.example',
    'a.example:8080',
    'A.EXAMPLE',
    'evil.a.example',
    'a.example',
  ]) {
    statuses.push((await httpRequest(url, { headers: { host } })).status)
  }
  t.same(statuses, [200, 400, 200, 200, 200, 400, 200])
})

t.test('trustedHost(): a predicate is asked on every request, never remembered', async (t) => {
  let open = true
  const url = await serve(
    t,
    compose(trustedHost({ allowedHosts: [() => open] }))((_req, res) => res.end('ok')),
  )
  t.equal((await httpRequest(url, { headers: { host: 'a.example' } })).status, 200)
  open = false
  t.equal((await httpRequest(url, { headers: { host: 'a.example' } })).status, 400)
})
