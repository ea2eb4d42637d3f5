/**
 * Each middleware alone against bare node:http on the 1 KB route, in one interleaved table.
 * The scenarios come from each area's file (edge, flow, observability, identity, rate limit,
 * compression); this file adds the few that no area measures alone, and sends every request
 * with the union of the headers those areas need (host and forwarded headers, a token, a key,
 * a session cookie, a traceparent), so each layer does its full work.
 */
import type { RequestListener } from 'node:http'
import { compose, requestContext, timing, traceContext, type Middleware } from '../../lib/index.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'
import { comparisons as edge } from './edge.js'
import { comparisons as identity } from './identity.js'
import { comparisons as observability } from './observability.js'

const alone = (description: string, layer: () => Middleware): Scenario => ({
  description,
  start: () => listen(compose(layer())(routes) as RequestListener),
})

export const scenarios: Record<string, Scenario> = {
  'mw-timing': alone('timing() alone: Server-Timing total', () => timing({ serverTiming: true })),
  'mw-traceContext': alone('traceContext() alone: parse traceparent, new span', () => traceContext()),
  'mw-requestContext': alone('requestContext() alone: the chain in AsyncLocalStorage', () => requestContext()),
}

const headersOf = (list: readonly Comparison[], prefix: string) =>
  list.find((c) => c.name.startsWith(prefix))?.headers ?? {}

export const comparisons: Comparison[] = [
  {
    name: 'middleware: each alone on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    headers: {
      ...headersOf(edge, 'edge: each layer alone'),
      ...headersOf(observability, 'observability: requestId'),
      ...headersOf(identity, 'identity: apiKey'),
      ...headersOf(identity, 'identity: jwtAuth HS256'),
      'accept-encoding': 'gzip',
    },
    scenarios: [
      'bare',
      'edge-proxyHeaders',
      'edge-trustedHost',
      'edge-httpsRedirect',
      'edge-cors',
      'edge-securityHeaders',
      'obs-requestId',
      'mw-timing',
      'mw-traceContext',
      'obs-accessLog',
      'mw-requestContext',
      'flow-errorBoundary',
      'flow-timeout',
      'flow-bodyLimit',
      'flow-bodyCapture',
      'flow-loadShedding',
      'flow-hooks',
      'flow-when',
      'rate-limit-memory',
      'compression-gzip',
      'id-jwt-hs256-cache',
      'id-apiKey',
      'id-session-cookie',
    ],
    expect: { status: 200 },
  },
]
