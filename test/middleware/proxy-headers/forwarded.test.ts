import t from 'tap'
import { formatIp } from '../../../lib/core.js'
import {
  commaBefore,
  entryFromRight,
  ListFromRight,
  parseForwardedElement,
  parseNode,
  splitForwarded,
} from '../../../lib/middleware/proxy-headers/forwarded.js'

const node = (text: string, bare = false) => {
  const ip = parseNode(text, bare)
  return ip && formatIp(ip)
}

t.test('splitForwarded(): splits on commas outside quoted strings, dropping empty elements', async (t) => {
  t.same(splitForwarded('for=a, for="b,c";proto=https ,, for=d'), ['for=a', 'for="b,c";proto=https', 'for=d'])
  t.same(splitForwarded('for="a\\",b"'), ['for="a\\",b"'])
  t.same(splitForwarded(''), [])
})

t.test('splitForwarded(): an unclosed quote makes the whole value unreadable', async (t) => {
  t.equal(splitForwarded('for="1.2.3.4, for=5.6.7.8'), undefined)
})

t.test('parseForwardedElement(): tokens and quoted strings, names case-insensitive', async (t) => {
  t.same(parseForwardedElement('For=192.0.2.60;Proto=http;by=203.0.113.43'), {
    for: '192.0.2.60',
    proto: 'http',
    by: '203.0.113.43',
  })
  t.same(parseForwardedElement('for="[2001:db8:cafe::17]:4711"; host="example.com:8080"'), {
    for: '[2001:db8:cafe::17]:4711',
    host: 'example.com:8080',
  })
  t.same(parseForwardedElement('for="a\\"b"'), { for: 'a"b' })
  t.same(parseForwardedElement('for=1.2.3.4;ext=x'), { for: '1.2.3.4' }, 'extensions are ignored')
  t.same(parseForwardedElement('for=1.2.3.4;'), { for: '1.2.3.4' })
})

t.test('parseForwardedElement(): refuses malformed elements', async (t) => {
  for (const bad of [
    'for',
    'for=1.2.3.4;for=5.6.7.8',
    'for=[::1]',
    'for="1.2.3.4',
    'for="1.2.3.4\\',
    'for=1.2.3.4 proto=http',
    'f r=1',
    'for="a\u0001"',
    'for=a;;',
  ]) {
    t.equal(parseForwardedElement(bad), undefined, JSON.stringify(bad))
  }
})

t.test('parseNode(): addresses with ports, canonical, zone ids dropped', async (t) => {
  t.equal(node('192.0.2.43'), '192.0.2.43')
  t.equal(node('192.0.2.43:47011'), '192.0.2.43')
  t.equal(node('192.0.2.43:_port'), '192.0.2.43')
  t.equal(node('[2001:DB8:cafe::17]:4711'), '2001:db8:cafe::17')
  t.equal(node('[::ffff:192.0.2.1]'), '192.0.2.1')
  t.equal(node('2001:db8::1', true), '2001:db8::1')
  t.equal(node('fe80::1%eth0', true), 'fe80::1')
})

t.test('parseNode(): no address for unknown, obfuscated or malformed nodes', async (t) => {
  for (const bad of [
    'unknown',
    '_hidden',
    '',
    '192.0.2.43:',
    '192.0.2.43:99999',
    '192.0.2.43:0',
    '[192.0.2.43]',
    '[::1',
    '[::1]x',
    '[::1]:x',
    '2001:db8::1',
    '1.2.3.4%eth0',
    'example.com',
    '01.2.3.4',
    'x'.repeat(81),
  ]) {
    t.equal(node(bad), undefined, JSON.stringify(bad))
  }
})

t.test('entryFromRight(): reads list entries from the right without splitting', async (t) => {
  t.equal(entryFromRight('a, b ,c', 0), 'c')
  t.equal(entryFromRight('a, b ,c', 1), 'b')
  t.equal(entryFromRight('a, b ,c', 2), 'a')
  t.equal(entryFromRight('a, b ,c', 3), undefined)
  t.equal(entryFromRight(',a', 1), undefined)
  t.equal(entryFromRight(',a', 2), undefined)
  t.equal(commaBefore(',a', 0), -1)
})

t.test('entryFromRight(): empty elements are no entries (RFC 9110 §5.6.1), as in splitForwarded', async (t) => {
  t.equal(entryFromRight('a, ,b,', 0), 'b')
  t.equal(entryFromRight('a, ,b,', 1), 'a')
  t.equal(entryFromRight('a, ,b,', 2), undefined)
  t.equal(entryFromRight(' , ,', 0), undefined)
  t.same(splitForwarded('for=a, ,for=b,'), ['for=a', 'for=b'])
})

t.test('ListFromRight: yields non-empty elements right to left, trimmed, then undefined', async (t) => {
  const list = new ListFromRight(' a ,, b\t, ,')
  t.equal(list.next(), 'b')
  t.equal(list.next(), 'a')
  t.equal(list.next(), undefined)
  t.equal(list.next(), undefined)
})
