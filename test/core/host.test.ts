import t from 'tap'
import { parsePort } from '../../lib/core/host.js'
import { formatHost, parseHost, redirectPath } from '../../lib/core.js'

t.test('parseHost(): names are folded to lower case, with one trailing dot dropped', async (t) => {
  t.same(parseHost('Example.COM'), { hostname: 'example.com', port: undefined, kind: 'name' })
  t.same(parseHost('example.com.:8080'), { hostname: 'example.com', port: 8080, kind: 'name' })
  t.same(parseHost('localhost'), { hostname: 'localhost', port: undefined, kind: 'name' })
  t.same(parseHost('_srv.internal'), { hostname: '_srv.internal', port: undefined, kind: 'name' })
})

t.test('parseHost(): IPv4 and bracketed IPv6 literals, canonical', async (t) => {
  t.same(parseHost('127.0.0.1:3000'), { hostname: '127.0.0.1', port: 3000, kind: 'ipv4' })
  t.same(parseHost('[::1]:8080'), { hostname: '::1', port: 8080, kind: 'ipv6' })
  t.same(parseHost('[2001:DB8:0:0::1]'), { hostname: '2001:db8::1', port: undefined, kind: 'ipv6' })
  t.same(parseHost('[::ffff:127.0.0.1]'), { hostname: '127.0.0.1', port: undefined, kind: 'ipv4' })
})

t.test('parseHost(): refuses what is not a host', async (t) => {
  for (const bad of [
    '',
    '[::1]evil.example.com',
    '[::1',
    '[::1]:',
    '[::1]:0',
    '[fe80::1%25eth0]',
    '[127.0.0.1]',
    '::1',
    'a.com@b.com',
    'example.com:',
    'example.com:0',
    'example.com:080',
    'example.com:65536',
    'example.com:80:80',
    'exa mple.com',
    'example..com',
    '.example.com',
    '-example.com',
    'example-.com',
    'ex%61mple.com',
    'example.com/path',
    'exämple.com',
    '999.1.1.1',
    '01.2.3.4',
    '1.2.3',
    '0x7f.1',
    'example.123',
    'a'.repeat(64) + '.com',
    ('a'.repeat(60) + '.').repeat(5) + 'com',
    'example.com\\evil.com',
    'example.com?x',
    'example.com#x',
  ]) {
    t.equal(parseHost(bad), undefined, JSON.stringify(bad))
  }
})

t.test('formatHost(): brackets IPv6 and drops the default port', async (t) => {
  t.equal(formatHost({ hostname: '::1', port: 443, kind: 'ipv6' }, 443), '[::1]')
  t.equal(formatHost({ hostname: '::1', port: 8443, kind: 'ipv6' }, 443), '[::1]:8443')
  t.equal(formatHost({ hostname: 'example.com', port: undefined, kind: 'name' }), 'example.com')
  t.equal(formatHost({ hostname: 'example.com', port: 80, kind: 'name' }), 'example.com:80')
})

t.test('redirectPath(): always one leading slash, backslashes escaped', async (t) => {
  t.equal(redirectPath('/a/b?c=d'), '/a/b?c=d')
  t.equal(redirectPath('//evil.example/x'), '/evil.example/x')
  t.equal(redirectPath('///evil.example'), '/evil.example')
  t.equal(redirectPath('/\\evil.example'), '/%5Cevil.example')
  t.equal(redirectPath('\\\\evil.example'), '/%5C%5Cevil.example')
  t.equal(redirectPath('http://evil.example//x?y'), '/x?y')
  t.equal(redirectPath('https://evil.example'), '/')
  t.equal(redirectPath('*'), '/')
  t.equal(redirectPath(undefined), '/')
  t.equal(redirectPath('?q=1'), '/?q=1')
  t.equal(redirectPath('/caf\u00e9 x'), '/caf%E9%20x')
  t.equal(redirectPath('/\u2603'), '/%E2%98%83')
})

t.test('parsePort(): 1 to 65535 in plain decimal, nothing else', async (t) => {
  for (const [text, port] of [
    ['1', 1],
    ['80', 80],
    ['65535', 65535],
  ] as const)
    t.equal(parsePort(text), port, text)
  for (const bad of ['', '0', '08', '65536', '99999', '+80', '-1', '8 0', '80a', '0x50', '1e3', '100000'])
    t.equal(parsePort(bad), undefined, JSON.stringify(bad))
})
