import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { HttpError } from '../../../lib/index.js'
import { RequestQueue, type ShedReason } from '../../../lib/middleware/load-shedding/queue.js'
import { rawGet } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { until } from '../../helpers/wait.js'

function shedder(overrides: { inFlight?: number } = {}): RequestQueue & { reasons: ShedReason[] } {
  const reasons: ShedReason[] = []
  const queue = new RequestQueue({
    maxInFlight: 1,
    maxQueue: 2,
    queueTimeoutMs: 1000,
    error: new HttpError(503, 'busy', { code: 'overloaded', expose: true, headers: { 'retry-after': '2' } }),
    onShed: (_req, reason) => {
      reasons.push(reason)
    },
  })
  return Object.assign(queue, { reasons }, overrides)
}

t.test("RequestQueue.refuse(): answers the instance's 503, counts it and tells onShed", async (t) => {
  const s = shedder()
  const url = await serve(t, (req, res) => s.refuse(req, res, 'rss'))
  const res = await rawGet(url)
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '2')
  t.equal(s.shed, 1)
  t.same(s.reasons, ['rss'])
})

t.test('RequestQueue.enqueue() and admit(): a waiter runs when the slot frees; the count ends at 0', async (t) => {
  const s = shedder()
  const order: string[] = []
  let releaseFirst!: () => void
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    order.push(`run ${req.url}`)
    if (req.url === '/first')
      await new Promise<void>((ok) => {
        releaseFirst = ok
      })
    res.end(req.url)
  }
  const url = await serve(t, (req, res) => {
    if (s.inFlight >= s.maxInFlight) return s.enqueue(req, res, handler)
    s.admit(res)
    return handler(req, res)
  })
  const first = rawGet(url, '/first')
  await until(() => s.inFlight > 0)
  const second = rawGet(url, '/second')
  await until(() => s.queue.length > 0)
  t.same(order, ['run /first'])
  releaseFirst()
  t.equal((await first).body.toString(), '/first')
  t.equal((await second).body.toString(), '/second')
  await until(() => s.inFlight === 0)
  t.same(order, ['run /first', 'run /second'])
  t.equal(s.inFlight, 0)
  t.equal(s.queue.length, 0)
})

t.test('RequestQueue.enqueue(): a handler that throws synchronously when started rejects the waiter', async (t) => {
  const s = shedder({ inFlight: 1 })
  let outcome: unknown
  const url = await serve(t, (req, res) => {
    const waiting = s.enqueue(req, res, () => {
      throw new Error('sync boom')
    })
    waiting.catch((err: unknown) => {
      outcome = err
      res.end('caught')
    })
    // Free the slot, as the end of another exchange would: the waiter starts and throws.
    s.release()
  })
  t.equal((await rawGet(url)).body.toString(), 'caught')
  t.match(outcome, { message: 'sync boom' })
  await until(() => s.inFlight === 0)
  t.equal(s.inFlight, 0, 'its slot was given back when its exchange ended')
})
