import express from 'express'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import {
  clientIdentity,
  clientIp,
  compose,
  OrderingError,
  proxyHeaders,
  trustedHost,
  type ProxyHeadersOptions,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, tick, until } from '../../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

// The test client is always 127.0.0.1: "loopback" makes it a trusted proxy, "10.0.0.0/8" does not.
const LOCAL = { trustedProxies: ['loopback', '10.0.0.0/8'] } as const

async function identity(t: Test, options: ProxyHeadersOptions, headers: Record<string, string>) {
  const url = await serve(
    t,
    proxyHeaders(options)((req, res) => res.end(JSON.stringify({ ...clientIdentity(req), clientIp: clientIp(req) }))),
  )
  const res = await httpRequest(url, { headers: { host: 'app.test', ...headers } })
  return JSON.parse(res.text) as {
    ip: string
    scheme: string
    host: string
    prefix: string
    viaTrustedProxy: boolean
    clientIp: string
  }
}

const SOCKET = {
  ip: '127.0.0.1',
  scheme: 'http',
  host: 'app.test',
  prefix: '',
  viaTrustedProxy: false,
  clientIp: '127.0.0.1',
}
// Documentation addresses (RFC 5737, RFC 3849) a trustedProxies function is probed with.
const PROBES = ['192.0.2.1', '198.51.100.1', '2001:db8::1']

t.test('proxyHeaders(): ignores every forwarded header from an untrusted peer', async (t) => {
  const got = await identity(
    t,
    { trustedProxies: ['10.0.0.0/8'], fields: ['proto', 'host', 'port', 'prefix'] },
    {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.test',
      'x-forwarded-prefix': '/p',
    },
  )
  t.same(got, SOCKET)
})

t.test('proxyHeaders(): takes the client address a trusted peer reports', async (t) => {
  const got = await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7' })
  t.same(got, { ...SOCKET, ip: '203.0.113.7', clientIp: '203.0.113.7', viaTrustedProxy: true })
})

t.test('proxyHeaders(): walks right to left and stops at the first untrusted hop', async (t) => {
  const got = await identity(t, LOCAL, { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.2' })
  t.equal(got.ip, '203.0.113.7')
})

t.test('proxyHeaders(): takes the leftmost address when every hop is trusted', async (t) => {
  t.equal((await identity(t, LOCAL, { 'x-forwarded-for': '10.0.0.5, 10.0.0.2' })).ip, '10.0.0.5')
})

t.test('proxyHeaders(): reads repeated X-Forwarded-For lines as one list', async (t) => {
  const url = await serve(
    t,
    proxyHeaders(LOCAL)((req, res) => res.end(clientIp(req))),
  )
  const res = await httpRequest(url, { headers: { 'x-forwarded-for': ['6.6.6.6', '203.0.113.7, 10.0.0.2'] } })
  t.equal(res.text, '203.0.113.7')
})

t.test('proxyHeaders(): a malformed entry on the walk falls back to the socket', async (t) => {
  for (const chain of ['203.0.113.7, garbage', '203.0.113.7, unknown', '203.0.113.7, 10.0.0.2:99999', '01.2.3.4']) {
    t.same(await identity(t, LOCAL, { 'x-forwarded-for': chain }), SOCKET, chain)
  }
})

t.test('proxyHeaders(): empty list elements are ignored, as in Forwarded (RFC 9110 §5.6.1)', async (t) => {
  for (const [chain, ip] of [
    ['203.0.113.9, ,', '203.0.113.9'],
    ['203.0.113.7,,10.0.0.2', '203.0.113.7'],
    [', 203.0.113.7 , ,10.0.0.2, ', '203.0.113.7'],
    ['6.6.6.6,, 203.0.113.7', '203.0.113.7'],
  ] as const) {
    t.equal((await identity(t, LOCAL, { 'x-forwarded-for': chain })).ip, ip, chain)
  }
  // The same chain in Forwarded.
  t.equal((await identity(t, { ...LOCAL, header: 'forwarded' }, { forwarded: 'for=203.0.113.9, ,' })).ip, '203.0.113.9')
  // A list of nothing but empty elements names nobody.
  t.same(await identity(t, LOCAL, { 'x-forwarded-for': ' , ,' }), SOCKET)
  // Positions in the sibling lists are counted the same way: "https" is the client hop's.
  t.equal(
    (
      await identity(t, LOCAL, {
        'x-forwarded-for': '203.0.113.7, , 10.0.0.2',
        'x-forwarded-proto': 'https, , http,',
      })
    ).scheme,
    'https',
  )
})

t.test("proxyHeaders(): differential: the client address matches Express's req.ip (proxy-addr)", async (t) => {
  const app = express()
  app.set('trust proxy', ['loopback', '10.0.0.0/8'])
  app.get('/', (req, res) => {
    res.send(req.ip)
  })
  const expressUrl = await serve(t, (req, res) => {
    app(req, res)
  })
  const ours = await serve(
    t,
    proxyHeaders(LOCAL)((req, res) => res.end(clientIp(req))),
  )
  const chains = [
    '203.0.113.9, ,',
    '203.0.113.9,,',
    ', ,203.0.113.9',
    '203.0.113.7,,10.0.0.2',
    '6.6.6.6, 203.0.113.7, , 10.0.0.2, ',
    '10.0.0.5, , 10.0.0.2',
    '203.0.113.7 , 10.0.0.2',
    '2001:db8::1, 10.0.0.2',
  ]
  for (const chain of chains) {
    const headers = { 'x-forwarded-for': chain }
    const [a, b] = await Promise.all([httpRequest(expressUrl, { headers }), httpRequest(ours, { headers })])
    t.equal(b.text, a.text, chain)
  }
})

t.test('proxyHeaders(): malformed entries left of the client do not matter', async (t) => {
  t.equal((await identity(t, LOCAL, { 'x-forwarded-for': 'garbage, <script>, 203.0.113.7' })).ip, '203.0.113.7')
})

t.test('proxyHeaders(): addresses are canonical: ports, brackets, mapped IPv4, zone ids, case', async (t) => {
  const cases: Array<[string, string]> = [
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['fe80::1%eth0', 'fe80::1'],
    ['[2001:db8::1]:4711', '2001:db8::1'],
    ['203.0.113.7:8080', '203.0.113.7'],
    ['2001:DB8:0::1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
  ]
  for (const [sent, expected] of cases)
    t.equal((await identity(t, LOCAL, { 'x-forwarded-for': sent })).ip, expected, sent)
})

t.test('proxyHeaders(): the scheme comes from the same hop as the address', async (t) => {
  // The client's proxy (10.0.0.2) appended "https" when it appended the client's address.
  t.equal(
    (await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https, http' }))
      .scheme,
    'https',
  )
  // One value, written by the nearest proxy about its own hop (10.0.0.2 -> us): not the client's.
  t.equal(
    (await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https' })).scheme,
    'http',
  )
  // A client's forged "https" sits left of what the proxy appended.
  t.equal(
    (await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https, http' })).scheme,
    'http',
  )
  t.equal(
    (await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'HTTPS' })).scheme,
    'https',
  )
})

t.test('proxyHeaders(): an unknown scheme fails closed', async (t) => {
  t.same(await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'ftp' }), SOCKET)
  // An empty X-Forwarded-Proto holds no element (RFC 9110 §5.6.1): no hop reported a scheme,
  // so the connection's stands, as for a list too short to reach the client's hop.
  for (const proto of ['', ' , '])
    t.same(
      await identity(t, LOCAL, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': proto }),
      { ...SOCKET, ip: '203.0.113.7', clientIp: '203.0.113.7', viaTrustedProxy: true },
      JSON.stringify(proto),
    )
})

t.test('proxyHeaders(): the forwarded host is read only when asked for', async (t) => {
  const headers = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.test', 'x-forwarded-prefix': '/evil' }
  const got = await identity(t, LOCAL, headers)
  t.equal(got.host, 'app.test')
  t.equal(got.prefix, '')
})

t.test('proxyHeaders(): host, port and prefix from the client hop', async (t) => {
  const all = { ...LOCAL, fields: ['proto', 'host', 'port', 'prefix'] } as const
  const base = { 'x-forwarded-for': '203.0.113.7' }
  t.equal((await identity(t, all, { ...base, 'x-forwarded-host': 'Example.COM.' })).host, 'example.com')
  t.equal(
    (await identity(t, all, { ...base, 'x-forwarded-host': 'example.com', 'x-forwarded-port': '8443' })).host,
    'example.com:8443',
  )
  t.equal(
    (
      await identity(t, all, {
        ...base,
        'x-forwarded-host': 'example.com',
        'x-forwarded-proto': 'https',
        'x-forwarded-port': '443',
      })
    ).host,
    'example.com',
  )
  t.equal(
    (await identity(t, all, { ...base, 'x-forwarded-host': 'example.com:9000', 'x-forwarded-port': '8443' })).host,
    'example.com:9000',
  )
  t.equal(
    (await identity(t, all, { ...base, 'x-forwarded-port': '8443' })).host,
    'app.test:8443',
    'the port applies to Host too',
  )
  t.equal((await identity(t, all, { ...base, 'x-forwarded-host': '[::1]:8080' })).host, '[::1]:8080')
  t.equal((await identity(t, all, { ...base, 'x-forwarded-prefix': '/api/' })).prefix, '/api')
  t.equal((await identity(t, all, { ...base, 'x-forwarded-prefix': '/' })).prefix, '')
  t.equal(
    (await identity(t, all, { 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-host': 'a.test, b.test' })).host,
    'a.test',
  )
})

t.test('proxyHeaders(): malformed host, port or prefix fails closed', async (t) => {
  const all = { ...LOCAL, fields: ['proto', 'host', 'port', 'prefix'] } as const
  const base = { 'x-forwarded-for': '203.0.113.7' }
  const extras: Array<Record<string, string>> = [
    { 'x-forwarded-host': 'a.com@b.com' },
    { 'x-forwarded-host': '[::1]evil.test' },
    { 'x-forwarded-port': '0' },
    { 'x-forwarded-port': '65536' },
    { 'x-forwarded-port': 'https' },
    { 'x-forwarded-prefix': '//evil.test' },
    { 'x-forwarded-prefix': '/a/../b' },
    { 'x-forwarded-prefix': 'api' },
    { 'x-forwarded-prefix': '/a\\b' },
  ]
  for (const extra of extras) {
    t.same(await identity(t, all, { ...base, ...extra }), SOCKET, JSON.stringify(extra))
  }
})

t.test('proxyHeaders(): without X-Forwarded-For nothing else is read', async (t) => {
  t.same(await identity(t, LOCAL, { 'x-forwarded-proto': 'https' }), SOCKET)
})

t.test('proxyHeaders(): Forwarded (RFC 7239): address, proto and host from one element', async (t) => {
  const fwd = { ...LOCAL, header: 'forwarded', fields: ['proto', 'host'] } as const
  const got = await identity(t, fwd, {
    forwarded: 'for=6.6.6.6;proto=http, for=203.0.113.7;proto=https;host="Example.com:8443", for=10.0.0.2;proto=http',
  })
  t.same(got, {
    ip: '203.0.113.7',
    scheme: 'https',
    host: 'example.com:8443',
    prefix: '',
    viaTrustedProxy: true,
    clientIp: '203.0.113.7',
  })
  t.equal((await identity(t, fwd, { forwarded: 'for="[2001:db8:cafe::17]:4711"' })).ip, '2001:db8:cafe::17')
  t.equal((await identity(t, fwd, { forwarded: 'for=10.0.0.9, for=10.0.0.2' })).ip, '10.0.0.9', 'all trusted: leftmost')
  const proto = await identity(t, fwd, { forwarded: 'for=203.0.113.7' })
  t.equal(proto.scheme, 'http', "no proto in the element: the connection's")
  t.equal(proto.host, 'app.test')
})

t.test('proxyHeaders(): Forwarded: unknown, obfuscated or malformed elements fail closed', async (t) => {
  const fwd = { ...LOCAL, header: 'forwarded', fields: ['proto', 'host'] } as const
  for (const value of [
    'for=unknown',
    'for=_hidden',
    'for="1.2.3.4, for=203.0.113.7',
    'for=203.0.113.7;for=1.2.3.4',
    'proto=https',
    'for=[::1]',
    'for=203.0.113.7;proto=ftp',
    'for=203.0.113.7;host="a.com@b.com"',
    'for=203.0.113.7 x',
    '',
  ]) {
    t.same(await identity(t, fwd, { forwarded: value }), SOCKET, value)
  }
})

t.test('proxyHeaders(): each mode ignores the other header family', async (t) => {
  t.same(await identity(t, { ...LOCAL, header: 'forwarded' }, { 'x-forwarded-for': '203.0.113.7' }), SOCKET)
  t.same(await identity(t, LOCAL, { forwarded: 'for=203.0.113.7' }), SOCKET)
})

t.test('proxyHeaders(): trust by function gets the canonical address and the hop', async (t) => {
  const seen: Array<[string, number]> = []
  const trust = (ip: string, hop: number) => {
    seen.push([ip, hop])
    return hop < 2
  }
  t.equal(
    (await identity(t, { trustedProxies: trust }, { 'x-forwarded-for': '203.0.113.1, 10.0.0.3, 10.0.0.2' })).ip,
    '10.0.0.3',
  )
  // The construction-time probes with documentation addresses come first; then the request's hops.
  const probes = seen.filter(([ip]) => PROBES.includes(ip))
  t.ok(probes.length > 0, 'the function was probed at construction')
  t.same(seen.slice(probes.length), [
    ['127.0.0.1', 0],
    ['10.0.0.2', 1],
    ['10.0.0.3', 2],
  ])
  t.same(await identity(t, { trustedProxies: () => false }, { 'x-forwarded-for': '203.0.113.1' }), SOCKET)
})

t.test('proxyHeaders(): dangerouslyTrustAllProxies takes the leftmost address', async (t) => {
  t.equal(
    (await identity(t, { dangerouslyTrustAllProxies: true }, { 'x-forwarded-for': '1.1.1.1, 203.0.113.1' })).ip,
    '1.1.1.1',
  )
})

t.test("proxyHeaders(): keeps the peer's trust for later requests on a connection", async (t) => {
  const url = await serve(
    t,
    proxyHeaders(LOCAL)((req, res) => res.end(clientIp(req))),
  )
  for (const ip of ['203.0.113.1', '203.0.113.2']) {
    t.equal((await httpRequest(url, { headers: { 'x-forwarded-for': ip }, close: false })).text, ip)
  }
})

t.test('proxyHeaders(): property: a forged chain from an untrusted peer never changes the identity', async (t) => {
  // Every IPv6 hop trusted (two halves: '::/0' itself is refused), the IPv4 peer not.
  const url = await serve(
    t,
    proxyHeaders({ trustedProxies: ['10.0.0.0/8', '::/1', '8000::/1'], fields: ['proto', 'host', 'port', 'prefix'] })(
      (req, res) => res.end(JSON.stringify(clientIdentity(req))),
    ),
  )
  const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map((s) => s.trim())
  const chain = fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), headerValue), { maxLength: 6 }).map((a) => a.join(', '))
  await fc.assert(
    fc.asyncProperty(chain, headerValue, headerValue, async (xff, proto, host) => {
      const res = await httpRequest(url, {
        headers: {
          host: 'app.test',
          'x-forwarded-for': xff,
          'x-forwarded-proto': proto,
          'x-forwarded-host': host,
          forwarded: `for=${xff}`,
        },
      })
      const got = JSON.parse(res.text)
      return got.ip === '127.0.0.1' && got.scheme === 'http' && got.host === 'app.test' && got.viaTrustedProxy === false
    }),
    { numRuns: 60 },
  )
})

t.test('proxyHeaders(): property: a client forging a chain behind a trusted proxy is still itself', async (t) => {
  const url = await serve(
    t,
    proxyHeaders(LOCAL)((req, res) => res.end(clientIp(req))),
  )
  const forged = fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('10.0.0.1', '127.0.0.1', 'unknown', '')), {
    maxLength: 6,
  })
  // The proxy (loopback) appends the real, untrusted client address to whatever the client sent.
  await fc.assert(
    fc.asyncProperty(forged, async (entries) => {
      const xff = [...entries, '198.51.100.23'].join(', ')
      return (await httpRequest(url, { headers: { 'x-forwarded-for': xff } })).text === '198.51.100.23'
    }),
    { numRuns: 60 },
  )
})

t.test('proxyHeaders(): must wrap the layers that read the identity', async (t) => {
  t.throws(
    () => compose({ strict: true }, trustedHost({ allowedHosts: ['app.test'] }), proxyHeaders(LOCAL)),
    OrderingError,
  )
  t.doesNotThrow(() => compose({ strict: true }, proxyHeaders(LOCAL), trustedHost({ allowedHosts: ['app.test'] })))
})

t.test('proxyHeaders(): config: trustedProxies is required', async (t) => {
  t.throws(() => proxyHeaders(), {
    name: 'ConfigError',
    message:
      /^proxyHeaders\(\): option "trustedProxies" must be a non-empty list of proxy addresses or a function; received undefined \(undefined\)\. List the addresses/,
  })
})

t.test('proxyHeaders(): config: trustedProxies may not be empty', async (t) => {
  t.throws(() => proxyHeaders({ trustedProxies: [] }), {
    name: 'ConfigError',
    message: /option "trustedProxies" must be a non-empty list.*received an array of 0/,
  })
})

t.test('proxyHeaders(): config: trustedProxies entries must be addresses or ranges', async (t) => {
  t.throws(() => proxyHeaders({ trustedProxies: ['loopback', '10.0.0.0/33'] }), {
    name: 'ConfigError',
    message: /must be addresses, CIDR ranges or named ranges; received "10\.0\.0\.0\/33"/,
  })
  t.throws(() => proxyHeaders({ trustedProxies: ['localhost'] }), {
    name: 'ConfigError',
    message: /received "localhost".*named ranges: loopback, private/,
  })
})

t.test('proxyHeaders(): config: trustedProxies entries must be strings', async (t) => {
  t.throws(() => proxyHeaders({ trustedProxies: [127 as unknown as string] }), {
    name: 'ConfigError',
    message: /must be a list of strings; received 127 \(number\)/,
  })
})

t.test('proxyHeaders(): config: trustedProxies must be a list or a function', async (t) => {
  t.throws(() => proxyHeaders({ trustedProxies: 'loopback' as unknown as string[] }), {
    name: 'ConfigError',
    message: /option "trustedProxies" must be an array; received "loopback"/,
  })
})

t.test(
  'proxyHeaders(): config: a /0 range, "*" or true trust everyone and point to dangerouslyTrustAllProxies',
  async (t) => {
    const cases: Array<[unknown, RegExp]> = [
      [
        ['0.0.0.0/0'],
        /option "trustedProxies" must be ranges narrower than \/0; received "0\.0\.0\.0\/0".*trusts every address.*dangerouslyTrustAllProxies: true/,
      ],
      [
        ['loopback', '::/0'],
        /option "trustedProxies" must be ranges narrower than \/0; received "::\/0".*dangerouslyTrustAllProxies: true/,
      ],
      [
        ['::ffff:0.0.0.0/96'],
        /must be ranges narrower than \/0; received "::ffff:0\.0\.0\.0\/96".*dangerouslyTrustAllProxies/,
      ],
      [
        ['*'],
        /option "trustedProxies" must be addresses, CIDR ranges or named ranges; received "\*".*dangerouslyTrustAllProxies: true/,
      ],
      [
        true,
        /option "trustedProxies" must be a list of proxy addresses or a function; received true \(boolean\)\. To trust every hop.*dangerouslyTrustAllProxies: true \}\), without trustedProxies/,
      ],
    ]
    for (const [trustedProxies, message] of cases) {
      t.throws(
        () => proxyHeaders({ trustedProxies: trustedProxies as string[] }),
        { name: 'ConfigError', message },
        JSON.stringify(trustedProxies),
      )
    }
  },
)

t.test('proxyHeaders(): config: a function that trusts any address at any hop is refused', async (t) => {
  for (const trust of [
    () => true,
    (ip: string) => ip !== '10.0.0.1',
    (_ip: string, hop: number) => hop > 0,
    (ip: string) => ip.includes(':'),
  ]) {
    t.throws(
      () => proxyHeaders({ trustedProxies: trust }),
      {
        name: 'ConfigError',
        message:
          /option "trustedProxies" must be a function that trusts only your proxies; received a function\. It trusts (192\.0\.2\.1|2001:db8::1) \(a documentation address.*even 1000 hops away.*dangerouslyTrustAllProxies: true/,
      },
      String(trust),
    )
  }
  t.doesNotThrow(
    () => proxyHeaders({ trustedProxies: (ip: string) => ip.startsWith('10.') }),
    'an address check passes',
  )
  t.doesNotThrow(
    () =>
      proxyHeaders({
        trustedProxies: () => {
          throw new Error('only my own addresses')
        },
      }),
    'a throwing probe is not a verdict',
  )
})

t.test(
  'proxyHeaders(): trust by position warns once: a client reaching the server directly chooses its identity',
  async (t) => {
    const warnings = captureWarnings(t)
    // Trusts any peer's report, not any peer: hop 1, where earlier tests' functions warn at hop 0.
    const byPosition = (ip: string, hop: number) => hop === 1 || ip === '127.0.0.1'
    proxyHeaders({ trustedProxies: byPosition })
    proxyHeaders({ trustedProxies: byPosition })
    proxyHeaders({ trustedProxies: (ip: string) => ip.startsWith('10.') })
    await until(() => warnings.length > 0)
    await tick()
    const mine = warnings.filter((w) => w.name === 'SecurityWarning' && /trustedProxies function/.test(w.message))
    t.equal(mine.length, 1, 'once')
    t.match(
      mine[0]?.message,
      /proxyHeaders\(\): the trustedProxies function trusts 192\.0\.2\.1 \(a documentation address, standing for any client\) at hop 1: trust by position is safe only if no client can reach this server except through your proxies/,
    )
    t.equal((mine[0] as Error & { code?: string }).code, 'HTTP_ONION_WIDE_PROXY_TRUST')
  },
)

t.test(
  'proxyHeaders(): ranges wider than /8 (IPv4) or /16 (IPv6) warn once; named and non-public ranges do not',
  async (t) => {
    const warnings = captureWarnings(t)
    proxyHeaders({ trustedProxies: ['0.0.0.0/7', '2000::/3'] })
    proxyHeaders({ trustedProxies: ['0.0.0.0/7'] })
    proxyHeaders({
      trustedProxies: [
        '10.0.0.0/8',
        '172.16.0.0/12',
        'fc00::/7',
        'fe80::/10',
        '2a06:98c0::/29',
        '2600::/16',
        'private',
        'loopback',
        'linklocal',
        'cgnat',
      ],
    })
    await until(() => warnings.length >= 2)
    await tick()
    const mine = warnings
      .filter((w) => w.name === 'SecurityWarning' && /trustedProxies entry/.test(w.message))
      .map((w) => w.message)
    t.equal(mine.length, 2, mine.join('\n'))
    t.match(
      mine[0],
      /proxyHeaders\(\): trustedProxies entry "0\.0\.0\.0\/7" is wider than \/8: every client with an address in it chooses its own address/,
    )
    t.match(mine[1], /trustedProxies entry "2000::\/3" is wider than \/16/)
  },
)

t.test('proxyHeaders(): config: dangerouslyTrustAllProxies excludes a list', async (t) => {
  t.throws(() => proxyHeaders({ dangerouslyTrustAllProxies: true, trustedProxies: ['loopback'] }), {
    name: 'ConfigError',
    message: /option "trustedProxies" must be absent when dangerouslyTrustAllProxies is true/,
  })
  t.throws(() => proxyHeaders({ dangerouslyTrustAllProxies: 'yes' as unknown as boolean }), {
    name: 'ConfigError',
    message: /option "dangerouslyTrustAllProxies" must be true or false/,
  })
})

t.test('proxyHeaders(): config: header must be a known family', async (t) => {
  t.throws(() => proxyHeaders({ ...LOCAL, header: 'x-real-ip' as 'forwarded' }), {
    name: 'ConfigError',
    message: /option "header" must be one of "x-forwarded", "forwarded"; received "x-real-ip"/,
  })
})

t.test('proxyHeaders(): config: fields must be known', async (t) => {
  t.throws(() => proxyHeaders({ ...LOCAL, fields: ['for' as 'proto'] }), {
    name: 'ConfigError',
    message: /option "fields" must be one of "proto", "host", "port", "prefix"; received "for"/,
  })
})

t.test('proxyHeaders(): config: port and prefix only with x-forwarded', async (t) => {
  t.throws(() => proxyHeaders({ ...LOCAL, header: 'forwarded', fields: ['proto', 'prefix'] }), {
    name: 'ConfigError',
    message: /RFC 7239 has no prefix parameter.*X-Forwarded-Prefix/,
  })
})

t.test('proxyHeaders(): config: unknown options are refused', async (t) => {
  t.throws(() => proxyHeaders({ ...LOCAL, trustProxy: true } as ProxyHeadersOptions), {
    name: 'ConfigError',
    message:
      'proxyHeaders(): unknown option "trustProxy"; known options are trustedProxies, dangerouslyTrustAllProxies, header, fields.',
  })
})
