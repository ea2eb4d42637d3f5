import t, { type Test } from 'tap'
import {
  compose,
  httpsRedirect,
  OrderingError,
  proxyHeaders,
  trustedHost,
  type HttpsRedirectOptions,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { parseRawResponse, rawExchange, rawRequest } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'

const ok = (_req: unknown, res: { end(s: string): void }) => res.end('ok')

async function server(t: Test, options: HttpsRedirectOptions = {}) {
  return serve(t, httpsRedirect(options)(ok))
}

async function location(url: string, path: string, host = 'example.com', method = 'GET') {
  const res = await httpRequest(url + path, { method, headers: { host } })
  return { status: res.status, location: res.headers.location, length: res.headers['content-length'], body: res.text }
}

t.test('httpsRedirect(): 308 to https with the same host, path and query', async (t) => {
  const url = await server(t)
  t.same(await location(url, '/a/b?c=d&e'), {
    status: 308,
    location: 'https://example.com/a/b?c=d&e',
    length: '0',
    body: '',
  })
})

t.test('httpsRedirect(): keeps the method with 308 for POST and HEAD', async (t) => {
  const url = await server(t)
  t.equal((await location(url, '/form', 'example.com', 'POST')).status, 308)
  t.equal((await location(url, '/form', 'example.com', 'HEAD')).location, 'https://example.com/form')
})

t.test('httpsRedirect(): status 307 or 301 on request', async (t) => {
  t.equal((await location(await server(t, { status: 307 }), '/')).status, 307)
  t.equal((await location(await server(t, { status: 301 }), '/')).status, 301)
})

t.test('httpsRedirect(): replaces the http port, leaving 443 out', async (t) => {
  const url = await server(t)
  t.equal((await location(url, '/', 'example.com:80')).location, 'https://example.com/')
  t.equal((await location(url, '/', 'Example.COM.:8080')).location, 'https://example.com/')
  t.equal((await location(url, '/', '[::1]:8080')).location, 'https://[::1]/')
  const dev = await server(t, { httpsPort: 8443 })
  t.equal((await location(dev, '/x', 'localhost:8080')).location, 'https://localhost:8443/x')
})

t.test('httpsRedirect(): paths starting with // never leave the host', async (t) => {
  const url = await server(t)
  t.equal((await location(url, '//evil.test/x')).location, 'https://example.com/evil.test/x')
  t.equal((await location(url, '///evil.test')).location, 'https://example.com/evil.test')
  t.equal((await location(url, '/%5Cevil.test')).location, 'https://example.com/%5Cevil.test')
  t.equal((await location(url, '/%2F%2Fevil.test')).location, 'https://example.com/%2F%2Fevil.test')
})

t.test('httpsRedirect(): absolute-form targets keep only their path', async (t) => {
  const url = await server(t)
  const res = parseRawResponse(
    await rawExchange(url, 'GET http://evil.test//x?y HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'),
  )
  t.equal(res.status, 308)
  t.equal(res.headers.location, 'https://example.com/x?y')
})

t.test('httpsRedirect(): a missing or malformed host is 400, never a redirect', async (t) => {
  const url = await server(t)
  for (const host of ['a.com@b.com', '[::1]evil.test', 'example.com:0']) {
    const res = await location(url, '/', host)
    t.equal(res.status, 400, host)
    t.equal(JSON.parse(res.body).code, 'host_invalid')
  }
  const missing = parseRawResponse(await rawExchange(url, 'GET / HTTP/1.0\r\n\r\n'))
  t.equal(missing.status, 400)
})

t.test('httpsRedirect(): never reads X-Forwarded-Proto itself', async (t) => {
  const url = await server(t)
  const res = await httpRequest(url, {
    headers: { host: 'example.com', 'x-forwarded-proto': 'https', forwarded: 'proto=https' },
  })
  t.equal(res.status, 308)
})

t.test('httpsRedirect(): passes requests a trusted proxy received over https', async (t) => {
  const app = compose(proxyHeaders({ trustedProxies: ['loopback'] }), httpsRedirect())(ok)
  const url = await serve(t, app)
  const res = await httpRequest(url, {
    headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https' },
  })
  t.equal(res.status, 200)
  t.equal(res.text, 'ok')
  const plain = await httpRequest(url, {
    headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'http' },
  })
  t.equal(plain.status, 308)
})

t.test('httpsRedirect(): redirects when the https claim comes from an untrusted peer', async (t) => {
  const app = compose(proxyHeaders({ trustedProxies: ['10.0.0.0/8'] }), httpsRedirect())(ok)
  const url = await serve(t, app)
  const res = await httpRequest(url, {
    headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https' },
  })
  t.equal(res.status, 308)
})

t.test('httpsRedirect(): exempt paths are served over http, matched on the matchable path', async (t) => {
  const url = await server(t, { exemptPaths: ['/health', '/.well-known/acme-challenge/*'] })
  t.equal((await location(url, '/health')).status, 200)
  t.equal((await location(url, '/HEALTH/')).status, 200)
  t.equal((await location(url, '/health?probe=1')).status, 200)
  t.equal((await location(url, '/.well-known/acme-challenge/token')).status, 200)
  t.equal((await location(url, '/healthz')).status, 308)
  t.equal((await location(url, '/%zz/health')).status, 308, 'a path that cannot be normalised is not exempt')
  // Sent raw (a URL parser would resolve the dots): ambiguous targets are never exempt, since
  // routers serve /admin/..%2fhealth as /admin/:page, which must not be answered over http.
  for (const path of [
    '/./health?probe=1',
    '/admin/../health',
    '/admin/..%2fhealth',
    '/admin/%2e%2e/health',
    '//health',
    '/health;x',
  ]) {
    t.equal((await rawRequest(url, 'GET', path, [['Host', 'example.com']])).status, 308, path)
  }
})

t.test('httpsRedirect(): ambiguousPaths "refuse" answers ambiguous targets 400, over http and https', async (t) => {
  const url = await serve(
    t,
    compose(
      proxyHeaders({ trustedProxies: ['loopback'] }),
      httpsRedirect({ exemptPaths: ['/health'], ambiguousPaths: 'refuse' }),
    )(ok),
  )
  for (const proto of ['http', 'https']) {
    for (const path of ['/admin/..%2fhealth', '//health', '/%zz']) {
      const res = await rawRequest(url, 'GET', path, [
        ['Host', 'example.com'],
        ['X-Forwarded-Proto', proto],
      ])
      t.equal(res.status, 400, `${proto} ${path}`)
      t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
    }
    t.equal(
      (
        await rawRequest(url, 'GET', '/health', [
          ['Host', 'example.com'],
          ['X-Forwarded-Proto', proto],
        ])
      ).status,
      200,
    )
  }
  t.throws(() => httpsRedirect({ ambiguousPaths: 'redirect' as never }), {
    name: 'ConfigError',
    message: /httpsRedirect\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"/,
  })
})

t.test('httpsRedirect(): must be inside trustedHost', async (t) => {
  t.throws(
    () => compose({ strict: true }, httpsRedirect(), trustedHost({ allowedHosts: ['example.com'] })),
    OrderingError,
  )
})

t.test('httpsRedirect(): config: status must be 308, 307 or 301', async (t) => {
  t.throws(() => httpsRedirect({ status: 302 as 308 }), {
    name: 'ConfigError',
    message: /^httpsRedirect\(\): option "status" must be one of 308, 307, 301; received 302 \(number\)/,
  })
})

t.test('httpsRedirect(): config: httpsPort must be a port', async (t) => {
  t.throws(() => httpsRedirect({ httpsPort: 0 }), {
    name: 'ConfigError',
    message: /option "httpsPort" must be an integer from 1 to 65535; received 0/,
  })
  t.throws(() => httpsRedirect({ httpsPort: 70000 }), {
    name: 'ConfigError',
    message: /option "httpsPort" must be an integer from 1 to 65535; received 70000/,
  })
})

t.test('httpsRedirect(): config: exemptPaths must be path patterns', async (t) => {
  t.throws(() => httpsRedirect({ exemptPaths: ['health'] }), {
    name: 'ConfigError',
    message: /option "exemptPaths" must be path patterns.*write "\/health"/,
  })
  t.throws(() => httpsRedirect({ exemptPaths: [/health/] }), {
    name: 'ConfigError',
    message: /option "exemptPaths" must be patterns whose RegExps start with \^/,
  })
})

t.test('httpsRedirect(): config: unknown options are refused', async (t) => {
  t.throws(() => httpsRedirect({ port: 443 } as HttpsRedirectOptions), {
    name: 'ConfigError',
    message:
      'httpsRedirect(): unknown option "port"; known options are status, httpsPort, exemptPaths, ambiguousPaths.',
  })
})
