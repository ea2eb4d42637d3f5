import fc from 'fast-check'
import t from 'tap'
import { ACCESS_LOG_MAX_HEADERS, optional, pickHeaders, round, stripQuery, toLine, truncate } from '../../lib/middleware/access-log-format.js'

t.test('stripQuery(): drop keeps the path; redact keeps names and hides values', async (t) => {
  t.equal(stripQuery('/a/b?x=1&y=2', 'drop'), '/a/b')
  t.equal(stripQuery('/a/b', 'drop'), '/a/b')
  t.equal(stripQuery('/a/b', 'redact'), '/a/b')
  t.equal(stripQuery('/s?q=secret&flag&e=&t=a=b', 'redact'), '/s?q=[redacted]&flag&e=[redacted]&t=[redacted]')
  t.equal(stripQuery('/?', 'redact'), '/?')
})

t.test('pickHeaders(): all or selected, redacted, arrays joined, bounded', async (t) => {
  const redact = new Set(['authorization', 'set-cookie'])
  t.same(pickHeaders({ a: '1', authorization: 'Bearer x', 'set-cookie': ['s=1', 't=2'], n: 5, missing: undefined }, true, redact, 100),
    { a: '1', authorization: '[redacted]', 'set-cookie': '[redacted]', n: '5' })
  t.same(pickHeaders({ a: '1', b: ['x', 'y'], c: '3' }, new Set(['b', 'z']), redact, 100), { b: 'x, y' })
  const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`h${i}`, 'v'.repeat(50)]))
  const picked = pickHeaders(many, true, redact, 10)
  t.equal(Object.keys(picked).length, ACCESS_LOG_MAX_HEADERS)
  t.equal(picked.h0, `${'v'.repeat(10)}…`)
})

t.test('truncate(), optional(), round()', async (t) => {
  t.equal(truncate('abcdef', 6), 'abcdef')
  t.equal(truncate('abcdefg', 6), 'abcdef…')
  t.equal(optional(undefined, 3), undefined)
  t.equal(optional('abcd', 3), 'abc…')
  t.equal(round(1.23456789), 1.235)
})

t.test('toLine(): any strings give one line of valid JSON without raw controls or line separators (property)', async (t) => {
  fc.assert(fc.property(fc.dictionary(fc.string(), fc.string({ unit: 'binary' })), (entry) => {
    const line = toLine(entry)
    return !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(line) && JSON.stringify(JSON.parse(line)) === JSON.stringify(entry)
  }))
  t.equal(toLine({ a: 'x\u009b[31m\u2028' }), '{"a":"x\\u009b[31m\\u2028"}')
  t.equal(toLine({ a: 'plain' }), '{"a":"plain"}')
})
