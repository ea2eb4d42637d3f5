import t from 'tap'
import { reportError } from '../../lib/core.js'
import { rateLimitedReporter } from '../../lib/core/report.js'
import { captureWarnings, silenceWarningOutput } from '../helpers/wait.js'

t.test('reportError(): a process warning, never a throw', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  t.doesNotThrow(() => reportError('log sink', new Error('disk full')))
  t.doesNotThrow(() => reportError('teardown hook', 'a string'))
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 2)
  t.match(warnings[0], { name: 'HttpOnionError', message: 'log sink: disk full', code: 'HTTP_ONION_REPORTED' })
  t.match(warnings[1]!.message, 'teardown hook: a string')
})

/** A reporter on a hand-driven clock, with the summary timer it asks for kept to run by hand. */
function driven(limit: number, windowMs: number) {
  let clock = 1000
  const scheduled: Array<{ callback: () => void; ms: number }> = []
  const report = rateLimitedReporter({
    limit,
    windowMs,
    now: () => clock,
    schedule: (callback, ms) => {
      scheduled.push({ callback, ms })
    },
  })
  return {
    report,
    scheduled,
    advance: (ms: number) => {
      clock += ms
    },
  }
}

const settle = () => new Promise((ok) => setImmediate(ok))
const codeOf = (w: Error) => (w as Error & { code?: string }).code

t.test('rateLimitedReporter(): at most limit warnings per window, then one summary of what was dropped', async (t) => {
  const seen = captureWarnings(t)
  const { report, scheduled, advance } = driven(3, 1000)
  for (let i = 0; i < 10; i++) {
    report('hot route', new Error(`failure ${i}`))
    advance(10)
  }
  await settle()
  t.same(
    seen.map((w) => w.message),
    ['hot route: failure 0', 'hot route: failure 1', 'hot route: failure 2'],
  )
  t.equal(scheduled.length, 1, 'one timer, at the first dropped report')
  t.equal(scheduled[0]!.ms, 1000 - 30, 'due when the window ends')
  scheduled[0]!.callback()
  await settle()
  t.equal(seen.length, 4)
  t.match(seen[3], { name: 'HttpOnionError', message: 'suppressed 7 reports: at most 3 are reported per 1000 ms' })
  t.equal(codeOf(seen[3]!), 'HTTP_ONION_SUPPRESSED')
  advance(1000)
  report('hot route', new Error('next window'))
  await settle()
  t.equal(seen[4]?.message, 'hot route: next window', 'a new window lets reports through again')
  t.equal(codeOf(seen[4]!), 'HTTP_ONION_REPORTED')
})

t.test(
  'rateLimitedReporter(): no timer while under the limit; a window that starts before the timer ran summarises first',
  async (t) => {
    const seen = captureWarnings(t)
    const { report, scheduled, advance } = driven(1, 100)
    report('sink', new Error('a'))
    t.equal(scheduled.length, 0)
    report('sink', new Error('b'))
    report('sink', new Error('c'))
    advance(150)
    report('sink', new Error('d'))
    await settle()
    t.same(
      seen.map((w) => w.message),
      ['sink: a', 'suppressed 2 reports: at most 1 are reported per 100 ms', 'sink: d'],
    )
    scheduled[0]!.callback()
    await settle()
    t.equal(seen.length, 3, 'the late timer finds nothing left to summarise')
  },
)
