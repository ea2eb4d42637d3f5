import t from 'tap'
import { flushAll, registerFlushable } from '../../lib/core.js'

t.test('flushAll(): flushes every registered buffer in parallel and waits for all', async (t) => {
  const order: string[] = []
  let releaseSlow: (() => void) | undefined
  // Registered for the whole process: only its first flush is held.
  const slow = {
    flush: () =>
      new Promise<void>((ok) => {
        if (releaseSlow !== undefined) return ok()
        order.push('slow started')
        releaseSlow = () => {
          order.push('slow done')
          ok()
        }
      }),
  }
  const fast = {
    flush: async () => {
      order.push('fast done')
    },
  }
  registerFlushable(slow)
  registerFlushable(fast)
  let done = false
  const flushing = flushAll().then(() => {
    done = true
  })
  await new Promise((ok) => setImmediate(ok))
  t.same(order, ['slow started', 'fast done'], 'both started at once')
  t.equal(done, false, 'waits for the slow one')
  releaseSlow!()
  await flushing
  t.same(order, ['slow started', 'fast done', 'slow done'])
})

t.test('flushAll(): a buffer that throws or rejects does not stop the others', async (t) => {
  let flushed = 0
  registerFlushable({
    flush: () => {
      throw new Error('sync')
    },
  })
  registerFlushable({ flush: () => Promise.reject(new Error('async')) })
  registerFlushable({
    flush: async () => {
      flushed++
    },
  })
  await flushAll()
  t.equal(flushed, 1)
})
