import t from 'tap'
import { reportError } from '../../lib/index.js'

t.test('reportError(): a process warning, never a throw', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  t.doesNotThrow(() => reportError('log sink', new Error('disk full')))
  t.doesNotThrow(() => reportError('teardown hook', 'a string'))
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 2)
  t.match(warnings[0], { name: 'HttpOnionError', message: 'log sink: disk full', code: 'HTTP_ONION_REPORTED' })
  t.match(warnings[1]!.message, 'teardown hook: a string')
})
