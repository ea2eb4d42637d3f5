import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

interface Trace {
  traceId: string
  spanId: string
  parentSpanId?: string
  sampled: boolean
  traceState?: string
}

t.test("docs traceContext example: the caller's trace continues through both services", async (t) => {
  const example = await runExample(t, 'trace-context.ts')
  const res = await httpRequest(example.url, {
    headers: {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=abc',
      'x-request-id': 'edge-1',
    },
  })
  const body = JSON.parse(res.text) as { orders: Trace; billing: { trace: Trace; requestId: string } }
  t.equal(body.orders.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(body.orders.parentSpanId, '00f067aa0ba902b7')
  t.equal(body.billing.trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(body.billing.trace.parentSpanId, body.orders.spanId)
  t.equal(body.billing.trace.traceState, 'vendor=abc')
  t.equal(body.billing.requestId, 'edge-1')
  t.equal(res.headers.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${body.orders.spanId}-01`)
})
