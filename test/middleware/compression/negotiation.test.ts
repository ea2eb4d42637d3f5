import fc from 'fast-check'
import t from 'tap'
import { createNegotiator, negotiateEncoding, type Encoding } from '../../../lib/middleware/compression/negotiation.js'

const all: Encoding[] = ['br', 'zstd', 'gzip', 'deflate']
const classic: Encoding[] = ['br', 'gzip', 'deflate']

t.test('negotiateEncoding(): the table of RFC 9110 §12.5.3 cases', async (t) => {
  const table: Array<[string | undefined, readonly Encoding[], string | undefined, boolean?]> = [
    [undefined, classic, undefined],
    ['', classic, undefined],
    [' , ,', classic, undefined],
    ['gzip', classic, 'gzip'],
    ['gzip;q=0', classic, undefined],
    ['gzip;q=0, *', classic, 'br'],
    ['*, gzip;q=0', classic, 'br'],
    ['*;q=0.1, gzip;q=0', ['gzip', 'deflate'], 'deflate'],
    ['br;q=0.5, gzip', classic, 'gzip'],
    ['br;q=0.5, gzip;q=0.5', classic, 'br'],
    ['gzip, br', classic, 'br'],
    ['gzip, br', ['gzip', 'br'], 'gzip'],
    ['gzip, deflate, br, zstd', all, 'br'],
    ['zstd, gzip', all, 'zstd'],
    ['zstd', classic, undefined],
    ['*', classic, 'br'],
    ['*;q=0', classic, undefined],
    ['identity', classic, undefined],
    ['identity;q=0', classic, undefined],
    ['identity;q=0, gzip', classic, 'gzip', true],
    ['*;q=0, gzip', classic, 'gzip', true],
    ['*;q=0, identity, gzip', classic, 'gzip', false],
    ['gzip;q=0.5, identity', classic, undefined],
    ['gzip;q=0.5, identity;q=0.5', classic, 'gzip'],
    ['gzip;q=0.5, *;q=0.8', ['gzip'], undefined],
    ['gzip;q=0.5, *;q=0.8', classic, 'br'],
    ['bgzip', classic, undefined],
    ['gzipx, xbr, br2', classic, undefined],
    ['x-gzip', classic, 'x-gzip'],
    ['x-gzip, gzip;q=0.5', classic, 'gzip'],
    ['x-gzip;q=0', classic, undefined],
    ['GZip;Q=1', classic, 'gzip'],
    ['gzip;q=1.5', classic, undefined],
    ['gzip;q=abc, deflate', classic, 'deflate'],
    ['gzip;level=9', classic, 'gzip'],
    ['gzip, gzip;q=0', classic, 'gzip'],
    ['deflate;q=0.001', classic, 'deflate'],
    [`gzip${' '.repeat(2000)}`, classic, undefined],
  ]
  for (const [header, offered, token, refused] of table) {
    const choice = negotiateEncoding(header, offered)
    t.equal(
      choice.encoding === undefined ? undefined : choice.token,
      token,
      `${JSON.stringify(header)} against ${offered.join(',')}`,
    )
    if (refused !== undefined) t.equal(choice.identityRefused, refused, `${header}: identity refused`)
  }
})

t.test(
  'negotiateEncoding(): acceptable is false only when identity is refused and no coding is acceptable',
  async (t) => {
    const table: Array<[string | undefined, readonly Encoding[], boolean]> = [
      [undefined, classic, true],
      ['', classic, true],
      ['identity;q=0', classic, false],
      ['*;q=0', classic, false],
      ['zstd, identity;q=0', classic, false],
      ['gzip;q=0, *;q=0', classic, false],
      ['identity;q=0, gzip', classic, true],
      ['*;q=0, identity', classic, true],
      ['*;q=0, identity;q=0.1', classic, true],
      ['gzip;q=0', classic, true],
      ['bgzip', classic, true],
    ]
    for (const [header, offered, acceptable] of table) {
      const choice = negotiateEncoding(header, offered)
      t.equal(choice.acceptable, acceptable, `${JSON.stringify(header)}`)
      if (!acceptable) t.same([choice.encoding, choice.token, choice.identityRefused], [undefined, 'identity', true])
    }
  },
)

t.test(
  'negotiateEncoding(): never picks a coding the client weighed 0 or the server does not offer (property)',
  async (t) => {
    const token = fc.constantFrom('br', 'gzip', 'deflate', 'zstd', 'identity', '*', 'x-gzip', 'compress', 'bgzip')
    const weight = fc.option(fc.constantFrom('0', '0.5', '1', '0.001', '1.0', 'x'), { nil: undefined })
    await fc.assert(
      fc.property(
        fc.array(fc.tuple(token, weight), { maxLength: 8 }),
        fc.shuffledSubarray(all, { minLength: 1 }),
        (entries, offered) => {
          const header = entries.map(([v, q]) => (q === undefined ? v : `${v};q=${q}`)).join(', ')
          const choice = negotiateEncoding(header, offered)
          if (choice.encoding === undefined) return true
          if (!offered.includes(choice.encoding)) return false
          // Its weight, as the first well-formed entry naming it (or *) gives it, is above zero.
          const valid = entries.filter(([, q]) => q !== 'x')
          const entry = valid.find(([v]) => v === choice.token) ?? valid.find(([v]) => v === '*')
          return entry !== undefined && entry[1] !== '0'
        },
      ),
      { numRuns: 2000 },
    )
    t.pass()
  },
)

t.test('createNegotiator(): one made value per distinct choice, memoised per header, bounded', async (t) => {
  let made = 0
  const negotiate = createNegotiator(classic, (choice) => {
    made++
    return { token: choice.token }
  })
  t.equal(made, 1, 'identity is made up front')
  const a = negotiate('gzip, br')
  t.equal(a.token, 'br')
  t.equal(negotiate('br'), a, 'a different header with the same outcome shares the value')
  t.equal(negotiate('gzip, br'), a)
  t.equal(negotiate(undefined).token, 'identity')
  for (let i = 0; i < 2000; i++) negotiate(`gzip;q=0.${i % 1000}, junk${i}`)
  t.equal(made, 3, 'identity, br, gzip')
})
