import fc from 'fast-check'
import t from 'tap'
import { fixedText } from '../../lib/core/fixed-text.js'

t.test('fixedText(): the text of toFixed, for any value and 0 to 6 digits (property)', async (t) => {
  const values = fc.oneof(
    fc.double({ noNaN: false }),
    fc.double({ min: 0, max: 1e4, noNaN: true }),
    // Ties and near-ties of each number of digits: n + k/10^d ± tiny.
    fc
      .tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom(-1e-12, 0, 1e-12))
      .map(([n, d, nudge]) => (n + 0.5) / 10 ** d + nudge),
  )
  fc.assert(
    fc.property(
      values,
      fc.integer({ min: 0, max: 6 }),
      (value, digits) => fixedText(value, digits) === value.toFixed(digits),
    ),
    { numRuns: 20_000 },
  )
  t.pass('20,000 values agree with toFixed')
})

t.test('fixedText(): durations as timing() writes them', async (t) => {
  t.equal(fixedText(0, 1), '0.0')
  t.equal(fixedText(12.34, 1), '12.3')
  t.equal(fixedText(0.05, 1), (0.05).toFixed(1))
  t.equal(fixedText(1.005, 2), '1.00', 'a tie that is not one in binary rounds as toFixed rounds it')
  t.equal(fixedText(2.5, 0), '3')
  t.equal(fixedText(999.9999, 3), '1000.000')
  t.equal(fixedText(-0, 1), '0.0')
  t.equal(fixedText(1e9, 1), '1000000000.0')
  t.equal(fixedText(1.25, 6), '1.250000')
})
