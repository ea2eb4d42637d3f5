import fc from 'fast-check'
import t from 'tap'
import { formatTraceparent, parseTraceparent, parseTracestate } from '../../../lib/core.js'

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const HEX = '0123456789abcdef'
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...HEX), minLength: length, maxLength: length })
const traceIdArb = hex(32).filter((s) => /[^0]/.test(s))
const spanIdArb = hex(16).filter((s) => /[^0]/.test(s))

t.test('parseTraceparent(): round trip of every valid version-00 header (property)', async (t) => {
  fc.assert(
    fc.property(traceIdArb, spanIdArb, fc.integer({ min: 0, max: 255 }), (traceId, parentId, flags) => {
      const header = formatTraceparent(traceId, parentId, flags)
      const parsed = parseTraceparent(header)
      return (
        header.length === 55 &&
        parsed !== undefined &&
        parsed.version === '00' &&
        parsed.traceId === traceId &&
        parsed.parentId === parentId &&
        parsed.flags === flags &&
        parsed.sampled === ((flags & 1) === 1) &&
        formatTraceparent(parsed.traceId, parsed.parentId, parsed.flags) === header
      )
    }),
  )
  t.pass()
})

t.test('parseTraceparent(): rejects every malformed shape (property)', async (t) => {
  const valid = fc.tuple(traceIdArb, spanIdArb, hex(2)).map(([a, b, f]) => ({ a, b, f }))
  const mutations: Array<[string, fc.Arbitrary<string>]> = [
    ['version ff', valid.map(({ a, b, f }) => `ff-${a}-${b}-${f}`)],
    ['all-zero trace id', fc.tuple(spanIdArb, hex(2)).map(([b, f]) => `00-${'0'.repeat(32)}-${b}-${f}`)],
    ['all-zero parent id', fc.tuple(traceIdArb, hex(2)).map(([a, f]) => `00-${a}-${'0'.repeat(16)}-${f}`)],
    [
      'version 00 with more',
      fc.tuple(valid, fc.string({ maxLength: 10 })).map(([{ a, b, f }, more]) => `00-${a}-${b}-${f}-${more}`),
    ],
    [
      'version 00 with trailing characters',
      fc
        .tuple(valid, fc.string({ minLength: 1, maxLength: 10 }))
        .map(([{ a, b, f }, more]) => `00-${a}-${b}-${f}${more}`),
    ],
    [
      'an upper-case digit',
      valid.chain(({ a, b, f }) =>
        fc
          .nat(a.length - 1)
          .filter((i) => /[a-f]/.test(a[i]!))
          .map((i) => `00-${a.slice(0, i)}${a[i]!.toUpperCase()}${a.slice(i + 1)}-${b}-${f}`),
      ),
    ],
    [
      'a non-hex character',
      fc
        .tuple(valid, fc.nat(54), fc.constantFrom('g', 'z', ' ', '_', 'G', '+', '\u00e9'))
        .map(([{ a, b, f }, i, c]) => {
          const s = `00-${a}-${b}-${f}`
          return `${s.slice(0, i)}${s[i] === '-' ? 'x' : c}${s.slice(i + 1)}`
        }),
    ],
    [
      'a field of the wrong length',
      fc.tuple(valid, fc.constantFrom(0, 1, 2, 3), fc.boolean()).map(([{ a, b, f }, field, longer]) => {
        const fields = ['00', a, b, f]
        fields[field] = longer ? `${fields[field]}a` : fields[field]!.slice(1)
        return fields.join('-')
      }),
    ],
    [
      'a wrong separator',
      fc.tuple(valid, fc.constantFrom('_', ' ', '.', ':', '')).map(([{ a, b, f }, sep]) => `00${sep}${a}-${b}-${f}`),
    ],
    [
      'a future version whose prefix runs on',
      fc.tuple(valid, fc.constantFrom('0', 'x', '.')).map(([{ a, b, f }, c]) => `01-${a}-${b}-${f}${c}more`),
    ],
    ['anything short', fc.string({ maxLength: 54 })],
  ]
  for (const [label, arb] of mutations) {
    fc.assert(
      fc.property(arb, (header) => parseTraceparent(header) === undefined),
      { numRuns: 200 },
    )
    t.pass(label)
  }
  t.equal(parseTraceparent(undefined), undefined)
})

t.test('parseTraceparent(): reads a future version by the version-00 layout', async (t) => {
  t.match(parseTraceparent(`cc-${PARENT.slice(3)}`), {
    version: 'cc',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    sampled: true,
  })
  t.match(parseTraceparent(`cc-${PARENT.slice(3)}-what-the-future-holds`), {
    version: 'cc',
    parentId: '00f067aa0ba902b7',
  })
  t.match(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03'), { flags: 3, sampled: true })
})

t.test('parseTracestate(): validation, normalisation and trimming', async (t) => {
  t.equal(parseTracestate(' a=1 ,\t, b@sys=x y , c-*/_9=~ '), 'a=1,b@sys=x y,c-*/_9=~')
  // Spaces around a member are OWS, not part of its value.
  t.equal(parseTracestate('a=ends '), 'a=ends')
  t.equal(parseTracestate(''), undefined)
  t.equal(parseTracestate(' , '), undefined)
  t.equal(parseTracestate(undefined), undefined)
  for (const bad of [
    'A=1',
    '1a=1',
    'a=',
    'a=b,c',
    'a=x=y',
    'a=b\u00e9',
    'a=in=side',
    'a=1,a=2',
    `${'k'.repeat(257)}=v`,
    `a=${'v'.repeat(257)}`,
    'a@Sys=1',
    'a@b@c=1',
  ]) {
    t.equal(parseTracestate(bad), undefined, bad)
  }
  const members32 = Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')
  t.equal(parseTracestate(members32), members32)
  t.equal(parseTracestate(`${members32},k32=v`), undefined)
  // Longer than 512: members over 128 characters go first, then members from the end.
  const big = `big=${'b'.repeat(200)}`
  const small = Array.from({ length: 31 }, (_, i) => `s${String(i).padStart(2, '0')}=${'v'.repeat(16)}`)
  const trimmed = parseTracestate([small[0], big, ...small.slice(1)].join(','))!
  t.notMatch(trimmed, /big=/)
  t.ok(trimmed.length <= 512)
  t.ok(trimmed.startsWith(`s00=${'v'.repeat(16)},s01=`))
  t.equal(trimmed.split(',').length, 24)
  const v250 = 'v'.repeat(250)
  t.equal(parseTracestate(`a=${v250},b=${v250},d=${v250},c=1`, 512), `a=${v250},b=${v250},c=1`)
})

t.test('parseTracestate(): accepts every well-formed list and keeps it (property)', async (t) => {
  const keyChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-*/')
  const key = fc
    .tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), fc.string({ unit: keyChar, maxLength: 20 }))
    .map(([a, b]) => a + b)
  const valueChar = fc
    .integer({ min: 0x20, max: 0x7e })
    .filter((c) => c !== 0x2c && c !== 0x3d)
    .map((c) => String.fromCharCode(c))
  const value = fc
    .tuple(
      fc.string({ unit: valueChar, maxLength: 12 }),
      valueChar.filter((c) => c !== ' '),
    )
    .map(([a, b]) => a + b)
  fc.assert(
    fc.property(
      fc.uniqueArray(key, { minLength: 1, maxLength: 10 }),
      fc.array(value, { minLength: 10, maxLength: 10 }),
      (keys, values) => {
        const list = keys.map((k, i) => `${k}=${values[i]}`).join(',')
        return parseTracestate(list) === list
      },
    ),
  )
  t.pass()
})
