import fc from 'fast-check'
import t from 'tap'
import { compileRanges, formatIp, inRange, ipPrefixKey, normalizeIp, parseCidr, parseIp } from '../../lib/core.js'

t.test('normalizeIp(): one canonical text per address', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['0:0:0:0:0:ffff:a00:1', '10.0.0.1'],
    ['FE80:0::1%eth0', 'fe80::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ]
  for (const [input, expected] of cases) t.equal(normalizeIp(input), expected, input)
})

t.test('parseIp(): refuses what is not exactly an address', async (t) => {
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '256.1.1.1',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    ':::',
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    'g::1',
    '[::1]',
    '::1%',
    '%eth0',
    '1.2.3.4::',
    '::1.2.3',
    '1:2:3:4:5:6:7:1.2.3.4',
    'x'.repeat(100),
    'localhost',
  ]) {
    t.equal(parseIp(bad), undefined, JSON.stringify(bad))
  }
})

t.test('formatIp(): round trips every address (property)', async (t) => {
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const once = normalizeIp(text)
      if (once === undefined) return false
      return normalizeIp(once) === once && formatIp(parseIp(once)!) === once
    }),
  )
  fc.assert(fc.property(fc.ipV4(), (text) => normalizeIp(text) === text && normalizeIp(`::ffff:${text}`) === text))
  t.pass('properties hold')
})

t.test('parseCidr() and inRange(): prefixes match on bit boundaries', async (t) => {
  const r = parseCidr('10.0.0.0/8')!
  t.ok(inRange(parseIp('10.255.1.2')!, r))
  t.notOk(inRange(parseIp('11.0.0.1')!, r))
  const odd = parseCidr('172.16.0.0/12')!
  t.ok(inRange(parseIp('172.31.255.255')!, odd))
  t.notOk(inRange(parseIp('172.32.0.0')!, odd))
  const v6 = parseCidr('2001:db8::/33')!
  t.ok(inRange(parseIp('2001:db8:7fff::1')!, v6))
  t.notOk(inRange(parseIp('2001:db8:8000::1')!, v6))
  t.notOk(inRange(parseIp('10.0.0.1')!, v6), 'families never mix')
  t.ok(inRange(parseIp('10.1.2.3')!, parseCidr('::ffff:10.0.0.0/104')!), 'a mapped range is an IPv4 range')
  t.same(parseCidr('10.0.0.5/8')!.bytes, parseIp('10.0.0.0')!.bytes, 'host bits are masked')
  t.equal(parseCidr('1.2.3.4')!.prefix, 32)
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/-1', 'nope/8'])
    t.equal(parseCidr(bad), undefined, bad)
})

t.test('compileRanges(): named ranges, and the entries it could not read', async (t) => {
  const { match, invalid } = compileRanges(['loopback', 'private', '203.0.113.7', 'bogus', '10.0.0.0/99'])
  t.same(invalid, ['bogus', '10.0.0.0/99'])
  for (const ip of ['127.0.0.1', '::1', '10.1.1.1', '192.168.0.9', 'fd00::5', '203.0.113.7'])
    t.ok(match(parseIp(ip)!), ip)
  for (const ip of ['8.8.8.8', '2001:db8::1', '203.0.113.8', '172.32.0.1']) t.notOk(match(parseIp(ip)!), ip)
  t.ok(compileRanges(['LinkLocal']).match(parseIp('fe80::1')!))
  t.ok(compileRanges(['cgnat']).match(parseIp('100.64.0.1')!))
})

t.test('ipPrefixKey(): groups an IPv6 /64 and leaves IPv4 whole', async (t) => {
  t.equal(ipPrefixKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(ipPrefixKey('2001:DB8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64')
  t.equal(ipPrefixKey('2001:db8:1:2::1', 128), '2001:db8:1:2::1')
  t.equal(ipPrefixKey('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(ipPrefixKey('192.0.2.1', 64, 24), '192.0.2.0/24')
  t.equal(ipPrefixKey('not an ip'), 'not an ip')
})
