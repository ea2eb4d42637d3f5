import t from 'tap'
import { Sampler } from '../../../lib/middleware/load-shedding/sampler.js'

const off = { maxDelay: 0, maxElu: 0, maxHeap: 0, maxRss: 0 }
const tick = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

function blockFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    /* busy */
  }
}

t.test('Sampler: a manual sample reads memory only when a memory threshold is set', async (t) => {
  const quiet = new Sampler(1000, off)
  quiet.sample()
  t.equal(quiet.heapUsedBytes, 0)
  t.ok(quiet.sampledAt > 0)
  quiet.close()
  const memory = new Sampler(1000, { ...off, maxRss: Number.MAX_SAFE_INTEGER })
  memory.sample()
  t.ok(memory.heapUsedBytes > 0 && memory.rssBytes > memory.heapUsedBytes)
  t.equal(memory.overloaded, undefined)
  memory.close()
})

t.test('Sampler: the first signal over its threshold wins, in a fixed order', async (t) => {
  const signals = new Sampler(1000, { maxDelay: 0, maxElu: 0, maxHeap: 1, maxRss: 1 })
  signals.sample()
  t.equal(signals.overloaded, 'heapUsed', 'heap is checked before rss')
  signals.close()
})

t.test("Sampler: the timer's own lateness sees a block; the next calm window recovers", async (t) => {
  const signals = new Sampler(30, { ...off, maxDelay: 100 })
  t.teardown(() => signals.close())
  await tick(40)
  blockFor(300)
  await tick(1)
  t.equal(signals.overloaded, 'eventLoopDelay')
  t.ok(signals.eventLoopDelayMs >= 200, `${signals.eventLoopDelayMs} ms`)
  await tick(100)
  t.equal(signals.overloaded, undefined)
})

t.test('Sampler: close() stops the timer; calling it twice is harmless', async (t) => {
  const signals = new Sampler(10, { ...off, maxDelay: 50 })
  await tick(30)
  signals.close()
  signals.close()
  const at = signals.sampledAt
  await tick(40)
  t.equal(signals.sampledAt, at, 'no sample after close')
})
