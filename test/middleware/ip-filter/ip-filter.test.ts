import express from 'express'
import { createServer } from 'node:http'
import t from 'tap'
import { toExpress } from '../../../adapters/express.js'
import {
  accessLog,
  clientIp,
  compose,
  ipFilter,
  proxyHeaders,
  rateLimit,
  requestId,
  type RawHandler,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { listen, serve } from '../../helpers/serve.js'
import { captureWarnings, until } from '../../helpers/wait.js'

const echo: RawHandler = (req, res) => res.end(clientIp(req))

/** A stack whose client address is the X-Forwarded-For the test sends (the peer, loopback, is trusted). */
const behindProxy = (filter: ReturnType<typeof ipFilter>) =>
  compose(proxyHeaders({ trustedProxies: ['loopback'] }), filter)(echo)

const from = (url: string, ip: string) => httpRequest(url, { headers: { 'x-forwarded-for': ip } })

t.test('ipFilter(): allow admits the socket peer in a named range, and refuses others with 403', async (t) => {
  t.equal((await httpRequest(await serve(t, compose(ipFilter({ allow: ['loopback'] }))(echo)))).text, '127.0.0.1')
  const refused = await httpRequest(await serve(t, compose(requestId(), ipFilter({ allow: ['10.0.0.0/8'] }))(echo)))
  t.equal(refused.status, 403)
  const body = JSON.parse(refused.text)
  t.same(
    { status: body.status, code: body.code, message: body.message },
    { status: 403, code: 'ip_forbidden', message: 'Access from this address is not allowed' },
  )
  t.equal(body.requestId, refused.headers['x-request-id'], 'the common shape, with the request id')
  t.notMatch(refused.text, /127\.0\.0\.1/, 'the address is not echoed')
})

t.test('ipFilter(): deny refuses listed addresses and admits the rest', async (t) => {
  const url = await serve(t, behindProxy(ipFilter({ deny: ['203.0.113.0/24', '2001:db8:bad::/48'] })))
  t.equal((await from(url, '203.0.113.9')).status, 403)
  t.equal((await from(url, '203.0.114.9')).status, 200)
  t.equal((await from(url, '2001:db8:bad:1::5')).status, 403)
  t.equal((await from(url, '2001:db8:bad0::5')).status, 200)
})

t.test('ipFilter(): deny wins over allow, whatever the order of entries', async (t) => {
  const url = await serve(t, behindProxy(ipFilter({ allow: ['private'], deny: ['10.9.0.0/16'] })))
  t.equal((await from(url, '10.1.2.3')).text, '10.1.2.3')
  t.equal((await from(url, '10.9.2.3')).status, 403, 'denied inside an allowed range')
  t.equal((await from(url, '192.168.1.1')).status, 200)
  t.equal((await from(url, '8.8.8.8')).status, 403, 'not allowed')
  t.equal((await from(url, 'fd00::1')).status, 200, 'private includes IPv6 unique local addresses')
})

t.test('ipFilter(): IPv6 ranges match canonically, whatever the spelling', async (t) => {
  const url = await serve(t, behindProxy(ipFilter({ allow: ['2001:DB8:0:0::/64'] })))
  t.equal((await from(url, '2001:db8::1')).status, 200)
  t.equal((await from(url, '2001:0db8:0000:0000:ffff::1')).status, 200)
  t.equal((await from(url, '2001:db8:0:1::1')).status, 403)
  t.equal((await from(url, '10.0.0.1')).status, 403, 'an IPv4 client is in no IPv6 range')
})

t.test('ipFilter(): IPv4-mapped IPv6 addresses are the IPv4 address, in requests and in lists', async (t) => {
  const url = await serve(t, behindProxy(ipFilter({ allow: ['10.0.0.0/8'] })))
  t.equal((await from(url, '::ffff:10.1.1.1')).status, 200)
  t.equal((await from(url, '::ffff:11.1.1.1')).status, 403)
  const mapped = await serve(t, behindProxy(ipFilter({ deny: ['::ffff:192.0.2.0/120'] })))
  t.equal((await from(mapped, '192.0.2.7')).status, 403, 'a mapped range denies the plain IPv4 address')
  t.equal((await from(mapped, '192.0.3.7')).status, 200)
})

t.test('ipFilter(): an untrusted peer cannot choose its address through proxyHeaders', async (t) => {
  const stack = compose(proxyHeaders({ trustedProxies: ['10.0.0.0/8'] }), ipFilter({ allow: ['192.0.2.0/24'] }))(echo)
  t.equal((await from(await serve(t, stack), '192.0.2.1')).status, 403)
})

t.test('ipFilter(): through the Express adapter', async (t) => {
  const app = express()
  app.use(toExpress(proxyHeaders({ trustedProxies: ['loopback'] })))
  app.use(toExpress(ipFilter({ allow: ['private'] })))
  app.get('/', (req, res) => {
    res.send(clientIp(req))
  })
  const { url } = await listen(t, createServer(app))
  t.equal((await from(url, '192.168.7.7')).text, '192.168.7.7')
  const refused = await from(url, '198.51.100.1')
  t.equal(refused.status, 403)
  t.equal(JSON.parse(refused.text).code, 'ip_forbidden')
})

t.test('ipFilter(): HEAD gets the 403 without a body', async (t) => {
  const url = await serve(t, compose(ipFilter({ deny: ['loopback'] }))(echo))
  const res = await httpRequest(url, { method: 'HEAD' })
  t.equal(res.status, 403)
  t.equal(res.text, '')
})

t.test('ipFilter(): config', async (t) => {
  const fails = (options: unknown, option: string, message: RegExp) =>
    t.throws(() => ipFilter(options as never), { name: 'ConfigError', option, message }, message.source)
  fails({}, 'allow', /must be a list of addresses or ranges \(or give deny\).*allow: \['private'\]/)
  fails({ allow: [] }, 'allow', /non-empty list.*leave allow unset/)
  fails({ deny: [] }, 'deny', /non-empty list/)
  fails({ allow: 'loopback' }, 'allow', /an array/)
  fails({ allow: ['10.0.0.0/33'] }, 'allow[0]', /a CIDR range.*named range \(loopback, private/)
  fails({ deny: ['localhost'] }, 'deny[0]', /received "localhost"/)
  fails({ allow: ['10.0.0.1/8'] }, 'allow[0]', /no bits set past its prefix.*Did you mean 10\.0\.0\.0\/8\?/)
  fails({ deny: ['0.0.0.0/0'] }, 'deny[0]', /narrower than \/0.*refuses every IPv4 address/)
  fails({ allow: ['::/0'] }, 'allow[0]', /admits every IPv6 address: leave allow unset/)
  fails(
    { allow: ['10.1.0.0/16'], deny: ['private'] },
    'allow',
    /deny does not cover entirely.*"10\.1\.0\.0\/16".*deny entry "private" covers it/,
  )
  fails({ allow: ['loopback'], denny: [] }, 'denny', /unknown option "denny"; did you mean "deny"\?/)
  t.doesNotThrow(() => ipFilter({ allow: ['10.0.0.0/8'], deny: ['10.0.0.0/9'] }), 'a partial overlap is fine')
})

// The missing-proxy warning is once per layer name and per process, so these tests run in
// this order: the cases that must not warn first, then each layer once.
const MISSING = 'HTTP_ONION_PROXY_HEADERS_MISSING'
const missing = (warnings: Error[]) => warnings.filter((w) => (w as { code?: string }).code === MISSING)

t.test('missing-proxy warning: none with proxyHeaders in the stack, trusted peer or not', async (t) => {
  const warnings = captureWarnings(t)
  for (const trustedProxies of [['loopback'], ['10.0.0.0/8']]) {
    const url = await serve(
      t,
      compose(proxyHeaders({ trustedProxies }), ipFilter({ deny: ['203.0.113.0/24'] }), rateLimit())(echo),
    )
    await from(url, '198.51.100.1')
    await httpRequest(url, { headers: { forwarded: 'for=198.51.100.1' } })
  }
  await new Promise((ok) => setImmediate(ok))
  t.same(missing(warnings), [])
})

t.test('missing-proxy warning: none without forwarded headers', async (t) => {
  const warnings = captureWarnings(t)
  await httpRequest(await serve(t, compose(ipFilter({ allow: ['loopback'] }), rateLimit())(echo)))
  await new Promise((ok) => setImmediate(ok))
  t.same(missing(warnings), [])
})

t.test('ipFilter(): never reads X-Forwarded-For itself, and warns once that no proxyHeaders ran', async (t) => {
  const warnings = captureWarnings(t)
  const url = await serve(t, compose(ipFilter({ allow: ['10.0.0.0/8'] }))(echo))
  t.equal((await from(url, '10.0.0.1')).status, 403, 'a forged header admits nobody')
  const denyLoop = await serve(t, compose(ipFilter({ deny: ['loopback'] }))(echo))
  t.equal((await from(denyLoop, '8.8.8.8')).status, 403, 'a forged header escapes no deny')
  await until(() => missing(warnings).length > 0)
  const [warning, ...more] = missing(warnings)
  t.equal(warning?.name, 'SecurityWarning')
  t.match(warning?.message, /^ipFilter\(\): a request carried X-Forwarded-For, but no proxyHeaders\(\) ran/)
  t.match(warning?.message, /peer \(127\.0\.0\.1\)/)
  t.same(more, [], 'once')
})

t.test('missing-proxy warning: from rateLimit keyed by address, on Forwarded too', async (t) => {
  const warnings = captureWarnings(t)
  const url = await serve(t, compose(rateLimit())(echo))
  await httpRequest(url, { headers: { forwarded: 'for=198.51.100.1' } })
  await until(() => missing(warnings).length > 0)
  t.match(missing(warnings)[0]?.message, /^rateLimit\(\): a request carried Forwarded/)
})

t.test('missing-proxy warning: from accessLog', async (t) => {
  const warnings = captureWarnings(t)
  const url = await serve(t, compose(accessLog({ sink: () => undefined }))(echo))
  await from(url, '198.51.100.1')
  await until(() => missing(warnings).length > 0)
  t.match(missing(warnings)[0]?.message, /^accessLog\(\): /)
  await from(url, '198.51.100.1')
  await new Promise((ok) => setImmediate(ok))
  t.equal(missing(warnings).length, 1, 'once')
})
