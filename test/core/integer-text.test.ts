/**
 * integerText(): the text of String(n), built so that a count that differs on every
 * request leaves no old-generation garbage through V8's number-string cache.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import t from 'tap'
import { integerText } from '../../lib/core/integer-text.js'

t.test('integerText(): the same text as String() for every number', async (t) => {
  const edges = [0, -0, 1, 9, 10, 99, 100, 999, 1000, 1001, 9999, 10_000, 99_999, 100_000, 999_999, 1_000_000]
  edges.push(1_000_001, 999_999_999, 1_000_000_000, 1_000_000_001, 2 ** 31, 2 ** 32, 999_999_999_999, 1e12, 2 ** 53)
  edges.push(-1, -1000, 0.5, 1.5, 1000.25, 1e21, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)
  for (const n of edges) t.equal(integerText(n), String(n), String(n))
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (n) => integerText(n) === String(n)),
    { numRuns: 20_000 },
  )
  fc.assert(
    fc.property(fc.maxSafeNat(), (n) => integerText(n) === String(n)),
    { numRuns: 20_000 },
  )
  fc.assert(
    fc.property(fc.double(), (n) => integerText(n) === String(n)),
    { numRuns: 5_000 },
  )
})

// Runs in a child under --trace-gc-nvp: formats 300,000 distinct counts (with young garbage
// beside them, so scavenges run) and prints the bytes promoted per scavenge.
const child = fileURLToPath(new URL('./integer-text.child.ts', import.meta.url))
const promotedPerScavenge = (format: 'string' | 'integerText'): number => {
  // The TypeScript loader only: tap's coverage and mock hooks promote plenty of their own.
  const loader = process.execArgv.filter((arg) => arg.includes('typescript') || arg.startsWith('--conditions'))
  const run = spawnSync(process.execPath, [...loader, '--trace-gc-nvp', child, format], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`)
  let promoted = 0
  let scavenges = 0
  let churning = false
  for (const line of run.stdout.split('\n')) {
    if (line === 'churn:start' || line === 'churn:end') churning = line === 'churn:start'
    if (!churning || !line.includes('gc=s ')) continue
    scavenges++
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0)
  }
  if (scavenges < 10) throw new Error(`only ${scavenges} scavenges: the child did not churn`)
  return promoted / scavenges
}

t.test('integerText(): distinct counts are young garbage, where String() promotes them', async (t) => {
  // The control pins V8's behaviour: if String() stops promoting, integerText() has no reason left.
  const viaString = promotedPerScavenge('string')
  const viaIntegerText = promotedPerScavenge('integerText')
  t.ok(viaString > 1024, `String(): ${Math.round(viaString)} bytes promoted per scavenge (V8's number cache)`)
  t.ok(
    viaIntegerText * 10 < viaString,
    `integerText(): ${Math.round(viaIntegerText)} bytes per scavenge, a tenth of String()'s or less`,
  )
})
