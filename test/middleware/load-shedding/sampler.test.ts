import t from 'tap'
import { startSampler, type Signals } from '../../../lib/middleware/load-shedding/sampler.js'

const fresh = (): Signals => ({
  overloaded: undefined,
  eventLoopDelayMs: 0,
  eventLoopUtilization: 0,
  heapUsedBytes: 0,
  rssBytes: 0,
  sampledAt: 0,
})
const off = { maxDelay: 0, maxElu: 0, maxHeap: 0, maxRss: 0 }
const tick = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

function blockFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    /* busy */
  }
}

t.test('startSampler(): a manual sample reads memory only when a memory threshold is set', async (t) => {
  const quiet = fresh()
  const a = startSampler(quiet, 1000, off)
  a.sample()
  t.equal(quiet.heapUsedBytes, 0)
  t.ok(quiet.sampledAt > 0)
  a.close()
  const memory = fresh()
  const b = startSampler(memory, 1000, { ...off, maxRss: Number.MAX_SAFE_INTEGER })
  b.sample()
  t.ok(memory.heapUsedBytes > 0 && memory.rssBytes > memory.heapUsedBytes)
  t.equal(memory.overloaded, undefined)
  b.close()
})

t.test('startSampler(): the first signal over its threshold wins, in a fixed order', async (t) => {
  const signals = fresh()
  const s = startSampler(signals, 1000, { maxDelay: 0, maxElu: 0, maxHeap: 1, maxRss: 1 })
  s.sample()
  t.equal(signals.overloaded, 'heapUsed', 'heap is checked before rss')
  s.close()
})

t.test("startSampler(): the timer's own lateness sees a block; the next calm window recovers", async (t) => {
  const signals = fresh()
  const s = startSampler(signals, 30, { ...off, maxDelay: 100 })
  t.teardown(() => s.close())
  await tick(40)
  blockFor(300)
  await tick(1)
  t.equal(signals.overloaded, 'eventLoopDelay')
  t.ok(signals.eventLoopDelayMs >= 200, `${signals.eventLoopDelayMs} ms`)
  await tick(100)
  t.equal(signals.overloaded, undefined)
})

t.test('startSampler(): close() stops the timer; calling it twice is harmless', async (t) => {
  const signals = fresh()
  const s = startSampler(signals, 10, { ...off, maxDelay: 50 })
  await tick(30)
  s.close()
  s.close()
  const at = signals.sampledAt
  await tick(40)
  t.equal(signals.sampledAt, at, 'no sample after close')
})
