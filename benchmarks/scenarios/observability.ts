/**
 * The observability layers' cost: requestId, traceContext, timing and accessLog together
 * (logging every request to a file under os.tmpdir(), as production logs to a file or a
 * pipe) against bare node:http on the 1 KB JSON route; then requestContext's cost on top of
 * that stack. Requests carry a valid traceparent, so traceContext does its full parse, and
 * an x-request-id, which is refused (no trusted proxy), so requestId mints a UUID v7.
 * Last, metrics() alone against bare node:http: its cost per request (a response-end
 * listener, a route label, one series update).
 */
import { createWriteStream } from 'node:fs'
import type { RequestListener } from 'node:http'
import {
  accessLog,
  compose,
  metrics,
  requestContext,
  requestId,
  timing,
  traceContext,
  type Middleware,
} from '../../lib/index.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'
import { logFile } from '../log-file.js'

const observability = (): Middleware[] => [
  requestId(),
  traceContext(),
  timing({ serverTiming: true }),
  accessLog({ sink: createWriteStream(logFile('obs')) }),
]

const scenario = (description: string, layers: () => Middleware[]): Scenario => ({
  description,
  start: () => listen(compose(...layers())(routes) as RequestListener),
})

export const scenarios: Record<string, Scenario> = {
  'obs-requestId': scenario('requestId alone: a refused client id, a UUID v7 minted and echoed', () => [requestId()]),
  'obs-accessLog': scenario('accessLog alone, one JSON line per request to a file', () => [
    accessLog({ sink: createWriteStream(logFile('obs')) }),
  ]),
  'obs-stack': scenario('requestId, traceContext, timing, accessLog (to a file)', observability),
  'obs-stack-context': scenario('the same four, plus requestContext()', () => [...observability(), requestContext()]),
  'obs-metrics': scenario('metrics() alone: count, duration histogram, bytes, by method/route/status class', () => [
    metrics(),
  ]),
}

const request = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'x-request-id': 'client-chosen-id',
  'user-agent': 'autocannon',
}

export const comparisons: Comparison[] = [
  {
    name: 'observability: requestId + traceContext + timing + accessLog (file) on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'obs-requestId', 'obs-accessLog', 'obs-stack'],
    headers: request,
    expect: { status: 200 },
  },
  {
    name: 'observability: requestContext on top of the four',
    route: '/json',
    baseline: 'obs-stack',
    scenarios: ['obs-stack', 'obs-stack-context'],
    headers: request,
    expect: { status: 200, headers: ['x-request-id', 'server-timing'] },
  },
  {
    name: 'observability: metrics() alone on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'obs-metrics'],
    expect: { status: 200 },
  },
]
