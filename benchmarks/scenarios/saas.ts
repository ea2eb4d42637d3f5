/**
 * The middleware lesson's SaaS stack (docs/examples/saas-stack.ts, issue #20): JSON log line
 * per request with tenant and user, JWT, a per-tenant limit looked up through an async cache,
 * public paths, gzip over 2 KB. `saas-fixed-limit` is the same service with one fixed limit,
 * so the difference is the lookup's cost. Goal: ≤ 100 CPU µs per request (10k req/s a core).
 */
import { createWriteStream } from 'node:fs'
import type { RequestListener } from 'node:http'
import { SignJWT } from 'jose'
import { saasApp } from '../../docs/examples/saas-stack.js'
import { benchSettings as S, listen, type Comparison, type Scenario } from '../common.js'
import { logFile } from '../log-file.js'

const start = (fixedLimit: number | undefined, name: string) => () => {
  const log = createWriteStream(logFile(name))
  return listen(
    saasApp({
      jwtSecret: S.jwtSecret,
      log: (line) => log.write(line),
      // A store that answers on a later turn, as a database would; the cache keeps it off most requests.
      lookupLimit: (tenant) => new Promise((ok) => setImmediate(ok, tenant === 'none' ? 0 : S.rateLimit)),
      ...(fixedLimit === undefined ? {} : { fixedLimit }),
    }) as RequestListener,
  )
}

export const scenarios: Record<string, Scenario> = {
  saas: {
    description: 'the lesson’s SaaS stack (docs/examples/saas-stack.ts): per-tenant limit through an async cache',
    start: start(undefined, 'saas'),
  },
  'saas-fixed-limit': {
    description: 'the same SaaS stack with one fixed limit: no lookup',
    start: start(S.rateLimit, 'saas-fixed-limit'),
  },
}

const token = await new SignJWT({ tenant: 'acme' })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('bench-user')
  .setExpirationTime('2h')
  .sign(new TextEncoder().encode(S.jwtSecret))
const headers = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' }

export const comparisons: Comparison[] = [
  {
    name: 'saas: the lesson’s SaaS stack, small JSON (GET /v1/me)',
    route: '/v1/me',
    baseline: 'saas-fixed-limit',
    headers,
    scenarios: ['saas-fixed-limit', 'saas'],
    expect: { status: 200, headers: ['x-request-id', 'ratelimit'], absentHeaders: ['content-encoding'] },
  },
  {
    name: 'saas: the lesson’s SaaS stack, 2.4 KB JSON gzipped (GET /v1/projects)',
    route: '/v1/projects',
    baseline: 'saas-fixed-limit',
    headers,
    scenarios: ['saas-fixed-limit', 'saas'],
    expect: { status: 200, headers: ['x-request-id', 'ratelimit', 'content-encoding'] },
  },
]
