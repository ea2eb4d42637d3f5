/**
 * Every record the core and the production stack keep per request is a class instance,
 * never an object or array literal: V8 can pretenure a literal's allocation site, and a
 * pretenured per-request record keeps each request's young objects alive until the next
 * full collection (core/listener-node.ts, docs/performance.md). A literal that slips back
 * in shows up here by its slot name.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import {
  accessLog,
  compose,
  compression,
  cors,
  errorBoundary,
  memoryStore,
  proxyHeaders,
  rateLimit,
  requestId,
  securityHeaders,
  timing,
  type AccessLogEntry,
  type RawHandler,
} from '../../lib/index.js'
import { onRequestBody, onResponseEnd, transformBody, type BodyInfo, type ResponseEndInfo } from '../../lib/core.js'
import { httpRequest } from '../helpers/http.js'
import { serve } from '../helpers/serve.js'

/** The http-onion symbol slots of `target` whose value is a plain object or array. */
function literalSlots(target: object): string[] {
  const found: string[] = []
  for (const key of Object.getOwnPropertySymbols(target)) {
    if (!key.description?.startsWith('http-onion.')) continue
    const value = (target as Record<symbol, unknown>)[key]
    if (isLiteral(value)) found.push(key.description)
  }
  return found
}

function isLiteral(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === Array.prototype || proto === null
}

t.test('per-request records of the production stack are class instances, not literals', async (t) => {
  const seen: Array<{ req: IncomingMessage; res: ServerResponse }> = []
  const passed: Record<string, unknown[]> = { endInfo: [], bodyInfo: [], entry: [] }
  const handler: RawHandler = (req, res) => {
    seen.push({ req, res })
    onRequestBody(req, () => undefined)
    onResponseEnd(res, (info: ResponseEndInfo) => {
      passed.endInfo!.push(info)
    })
    transformBody(
      res,
      (_res, body: BodyInfo) => {
        passed.bodyInfo!.push(body)
        return null
      },
      { holdBack: 64 },
    )
    res.setHeader('content-type', 'application/json')
    req.resume()
    req.on('end', () => res.end(JSON.stringify({ items: 'x'.repeat(2000) })))
  }
  const app = compose(
    errorBoundary(),
    proxyHeaders({ trustedProxies: ['loopback'] }),
    requestId(),
    timing(),
    accessLog({
      sink: (_line: string, entry: AccessLogEntry) => {
        passed.entry!.push(entry)
      },
    }),
    securityHeaders(),
    cors({ origins: ['https://app.example'], credentials: true }),
    rateLimit({ limit: 100, windowMs: 60_000, store: memoryStore() }),
    compression({ encodings: ['gzip'] }),
  )(handler)
  const url = await serve(t, app)

  for (const method of ['GET', 'POST']) {
    const response = await httpRequest(`${url}/json`, {
      method,
      headers: { origin: 'https://app.example', 'accept-encoding': 'gzip', 'content-type': 'text/plain' },
      body: method === 'POST' ? 'a body to count' : undefined,
    })
    t.equal(response.status, 200, `${method} answered`)
    t.equal(response.headers['content-encoding'], 'gzip', `${method} went through the compression route`)
  }
  await new Promise((ok) => setImmediate(ok))

  t.equal(seen.length, 2)
  for (const { req, res } of seen) {
    t.ok(
      Object.getOwnPropertySymbols(res).some((k) => k.description?.startsWith('http-onion.')),
      'the response carries records',
    )
    t.same(literalSlots(req), [], 'request slots')
    t.same(literalSlots(res), [], 'response slots')
  }
  for (const [name, values] of Object.entries(passed)) {
    t.equal(values.length, 2, `${name}: one per request`)
    t.same(values.filter(isLiteral).length, 0, `${name}: a class instance`)
  }
})
