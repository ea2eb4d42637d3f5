/**
 * The conformance scenarios: one list, run unchanged on every platform of
 * conformance-apps.ts. Each scenario sends its requests, checks the answers on their own
 * (`check`), and reduces them to an outcome (status, security-relevant headers, error code)
 * that must be identical to node:http's on every platform.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { SignJWT } from 'jose'
import type { Test } from 'tap'
import {
  ADMIN_KEY,
  BODY_LIMIT,
  bigJson,
  JWT_SECRET,
  ORIGIN,
  RATE_LIMIT,
  SECRET_FAILURE,
  streamedBody,
  type Platform,
  type RequestSpec,
  type Result,
} from './conformance-apps.js'

export interface Scenario {
  readonly name: string
  readonly requests: readonly RequestSpec[]
  /** Checks of the answers on their own, run for every platform. */
  check(t: Test, results: Result[], platform: Platform, before: Snapshot): void
  /** Compare the error body's `code` (false for answers the framework writes itself). @default true */
  readonly compareBody?: boolean
  /** Headers whose values legitimately differ on some platforms, with the reason (checked in `check`). */
  readonly differs?: (platform: Platform) => Readonly<Record<string, string>>
}

/** What the platform had observed before the scenario ran. */
export interface Snapshot {
  drains: number
  fullWrites: number
  aborted: number
  reports: number
}

export const snapshot = (p: Platform): Snapshot => ({
  drains: p.observed.drains,
  fullWrites: p.observed.fullWrites,
  aborted: p.observed.aborted,
  reports: p.observed.reports.length,
})

import { SECURITY_HEADERS } from '../helpers/security-defaults.js'
export { SECURITY_HEADERS }

/** Headers compared across platforms: the security headers, CORS, auth, limits, coding. */
const COMPARED = [
  ...Object.keys(SECURITY_HEADERS),
  'strict-transport-security',
  'x-powered-by',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
  'www-authenticate',
  'retry-after',
  'ratelimit-policy',
  'ratelimit',
  'content-encoding',
]

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A result reduced to what must be identical on every platform; `differs` names headers left out. */
export function outcome(
  scenario: Scenario,
  differs: Readonly<Record<string, string>>,
  spec: RequestSpec,
  result: Result,
): Record<string, unknown> {
  const headers: Record<string, unknown> = {}
  for (const name of COMPARED) if (!(name in differs)) headers[name] = result.headers[name]
  // Vary is a set: compared without order or case.
  const vary = result.headers.vary
  headers.vary =
    vary === undefined
      ? undefined
      : vary
          .split(',')
          .map((v) => v.trim().toLowerCase())
          .sort()
  const id = result.headers['x-request-id']
  headers['x-request-id'] =
    id === undefined
      ? 'absent'
      : id === spec.headers?.['x-request-id']
        ? 'echoed'
        : UUID_V7.test(String(id))
          ? 'minted'
          : `other: ${String(id)}`
  const out: Record<string, unknown> = { status: result.status, headers }
  if (scenario.compareBody !== false) {
    const body = errorBody(result)
    out.body =
      body === undefined
        ? 'not an error body'
        : { status: body.status, code: body.code, message: body.message, idMatchesHeader: body.requestId === id }
  }
  return out
}

interface ErrorBody {
  status: number
  code: string
  message: string
  requestId?: string
}

/** The library's error shape, when the body is one. */
export function errorBody(result: Result): ErrorBody | undefined {
  if (!String(result.headers['content-type']).startsWith('application/json')) return undefined
  try {
    const body = JSON.parse(result.text) as Partial<ErrorBody>
    return typeof body.code === 'string' && typeof body.status === 'number' ? (body as ErrorBody) : undefined
  } catch {
    return undefined
  }
}

const key = new TextEncoder().encode(JWT_SECRET)
const now = Math.floor(Date.now() / 1000)
const validToken = await new SignJWT({ scope: 'orders:read' })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('alice')
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(key)
const expiredToken = await new SignJWT({})
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('alice')
  .setIssuedAt(now - 7200)
  .setExpirationTime(now - 3600)
  .sign(key)

function expectSecurityHeaders(t: Test, result: Result, what: string, except: readonly string[] = []): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!except.includes(name)) t.equal(result.headers[name], value, `${what}: ${name}`)
  }
  t.equal(result.headers['x-powered-by'], undefined, `${what}: no X-Powered-By`)
}

/** An answer of the library's own (sendError): its code, the id in header and body, CORS for `ORIGIN`. */
function expectRefusal(t: Test, result: Result, status: number, code: string, withCors = true): void {
  t.equal(result.status, status, 'status')
  const body = errorBody(result)
  t.equal(body?.code, code, 'code')
  t.match(result.headers['x-request-id'], UUID_V7, 'a request id')
  t.equal(body?.requestId, result.headers['x-request-id'], 'the body names the id of the header')
  t.equal(result.headers['cache-control'], 'no-store')
  if (withCors) {
    t.equal(result.headers['access-control-allow-origin'], ORIGIN, 'readable by the calling page')
    t.equal(result.headers['access-control-allow-credentials'], 'true')
  }
  expectSecurityHeaders(t, result, `${status}`)
}

const withOrigin = { origin: ORIGIN }

/** Spellings of /me that a naive publicPaths check would read as under /public. */
export const PUBLIC_DETOURS = [
  '/public/../me',
  '/public/%2e%2e/me',
  '/public/%2E%2E/me',
  '/public/..%2fme',
  '/public%2f..%2fme',
  '/PUBLIC/../me',
  '/public/./../me',
]
/** Spellings of /admin that a naive when() filter would not see. */
export const ADMIN_SPELLINGS = [
  '/admin',
  '/%61dmin',
  '/%61%64%6d%69%6e',
  '/ADMIN',
  '/Admin/',
  '//admin',
  '/./admin',
  '/admin/',
  '/x/../admin',
  '/%2e/admin',
  '/admin?from=/public/x',
]

export const scenarios: readonly Scenario[] = [
  {
    name: 'requestId: a valid incoming id is echoed and seen by the route; an invalid one is replaced',
    requests: [
      { path: '/public/id', headers: { 'x-request-id': 'conformance-7f3a.1' } },
      { path: '/public/id', headers: { 'x-request-id': 'not valid; has spaces' } },
    ],
    compareBody: false,
    check(t, [kept, replaced]) {
      t.equal(kept!.status, 200)
      t.equal(kept!.headers['x-request-id'], 'conformance-7f3a.1')
      t.same(JSON.parse(kept!.text), { requestId: 'conformance-7f3a.1' })
      t.match(replaced!.headers['x-request-id'], UUID_V7)
      t.same(JSON.parse(replaced!.text), { requestId: replaced!.headers['x-request-id'] })
      expectSecurityHeaders(t, kept!, '200')
    },
  },
  {
    name: 'requestContext: code after an await in the route still finds its request',
    requests: [{ path: '/public/context' }],
    compareBody: false,
    check(t, [res]) {
      t.equal(res!.status, 200)
      t.same(JSON.parse(res!.text), { same: true })
    },
  },
  {
    name: 'cors: a preflight from an allowed origin is answered 204 before auth; another origin is refused',
    requests: [
      {
        path: '/me',
        method: 'OPTIONS',
        headers: {
          origin: ORIGIN,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'Authorization, Content-Type',
        },
      },
      {
        path: '/me',
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
      },
    ],
    check(t, [allowed, refused]) {
      t.equal(allowed!.status, 204)
      t.equal(allowed!.headers['access-control-allow-origin'], ORIGIN)
      t.equal(allowed!.headers['access-control-allow-credentials'], 'true')
      t.equal(allowed!.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE')
      t.equal(allowed!.headers['access-control-allow-headers'], 'authorization, content-type')
      t.equal(allowed!.headers['access-control-max-age'], '600')
      t.equal(allowed!.headers['www-authenticate'], undefined, 'auth never saw the preflight')
      t.match(allowed!.headers.vary, /Origin.*Access-Control-Request-Method.*Access-Control-Request-Headers/)
      t.equal(allowed!.body.length, 0)
      expectRefusal(t, refused!, 403, 'cors_origin_not_allowed', false)
      t.equal(refused!.headers['access-control-allow-origin'], undefined)
    },
  },
  {
    name: 'cors: an actual request from an allowed origin gets credentials and exposed headers; another origin gets none',
    requests: [
      { path: '/public/id', headers: withOrigin },
      { path: '/public/id', headers: { origin: 'https://app.example.evil.test' } },
      { path: '/public/id' },
    ],
    compareBody: false,
    check(t, [allowed, other, none]) {
      t.equal(allowed!.status, 200)
      t.equal(allowed!.headers['access-control-allow-origin'], ORIGIN)
      t.equal(allowed!.headers['access-control-allow-credentials'], 'true')
      t.equal(allowed!.headers['access-control-expose-headers'], 'x-request-id')
      t.match(allowed!.headers.vary, /Origin/)
      t.equal(other!.status, 200, 'the request is served; the browser hides the answer')
      t.equal(other!.headers['access-control-allow-origin'], undefined)
      t.equal(other!.headers['access-control-allow-credentials'], undefined)
      t.match(none!.headers.vary, /Origin/, 'Vary: Origin also without an Origin (cacheable answers differ)')
    },
  },
  {
    name: 'compression: gzip and br round trips, identity without Accept-Encoding, Vary on all three',
    requests: [
      { path: '/public/big', headers: { 'accept-encoding': 'gzip' } },
      { path: '/public/big', headers: { 'accept-encoding': 'br;q=1, gzip;q=0.5' } },
      { path: '/public/big' },
    ],
    compareBody: false,
    check(t, [gzip, br, identity]) {
      t.equal(gzip!.headers['content-encoding'], 'gzip')
      t.same(JSON.parse(gunzipSync(gzip!.body).toString()), JSON.parse(bigJson))
      t.ok(gzip!.body.length < bigJson.length / 4, 'compressed')
      t.equal(br!.headers['content-encoding'], 'br')
      t.same(JSON.parse(brotliDecompressSync(br!.body).toString()), JSON.parse(bigJson))
      t.equal(identity!.headers['content-encoding'], undefined)
      t.same(JSON.parse(identity!.text), JSON.parse(bigJson))
      for (const r of [gzip, br, identity]) t.match(r!.headers.vary, /Accept-Encoding/)
      // A body handed over whole goes out with its compressed length; a streamed one without.
      t.equal(
        gzip!.headers['content-length'] ?? String(gzip!.body.length),
        String(gzip!.body.length),
        'no stale Content-Length on a compressed body',
      )
    },
  },
  {
    name: 'compression: a 2 MiB stream is compressed with backpressure honoured end to end',
    requests: [{ path: '/public/stream', headers: { 'accept-encoding': 'gzip' } }],
    compareBody: false,
    check(t, [streamed], platform, before) {
      t.equal(streamed!.status, 200)
      t.equal(streamed!.headers['content-encoding'], 'gzip')
      t.ok(gunzipSync(streamed!.body).equals(streamedBody()), 'every byte, in order')
      t.ok(platform.observed.drains > before.drains, "the response emitted 'drain' to the writer")
      // A route writing itself sees write() return false; a framework's pipe pauses on it.
      if (platform.streaming === 'writes')
        t.ok(platform.observed.fullWrites > before.fullWrites, 'write() returned false while the encoder was full')
    },
  },
  {
    name: 'rateLimit: the request over the limit gets 429 with Retry-After, RateLimit headers and CORS',
    requests: Array.from({ length: RATE_LIMIT + 1 }, () => ({ path: '/public/limited', headers: withOrigin })),
    check(t, results) {
      for (const [i, r] of results.slice(0, RATE_LIMIT).entries()) {
        t.equal(r.status, 200)
        t.equal(r.headers.ratelimit, `"default";r=${RATE_LIMIT - 1 - i};t=60`)
      }
      const limited = results[RATE_LIMIT]!
      expectRefusal(t, limited, 429, 'too_many_requests')
      t.equal(limited.headers['retry-after'], '60')
      t.equal(limited.headers['ratelimit-policy'], `"default";q=${RATE_LIMIT};w=60`)
      t.equal(limited.headers.ratelimit, '"default";r=0;t=60')
    },
  },
  {
    name: 'jwtAuth: 401 with a Bearer challenge and CORS headers; the claims of a valid token reach the route',
    requests: [
      { path: '/me', headers: withOrigin },
      { path: '/me', headers: { ...withOrigin, authorization: `Bearer ${expiredToken}` } },
      { path: '/me', headers: { ...withOrigin, authorization: `Bearer ${validToken}x` } },
      { path: '/me', headers: { ...withOrigin, authorization: `Bearer ${validToken}` } },
    ],
    check(t, [missing, expired, forged, valid]) {
      expectRefusal(t, missing!, 401, 'missing_token')
      t.equal(missing!.headers['www-authenticate'], 'Bearer')
      expectRefusal(t, expired!, 401, 'token_expired')
      t.match(
        expired!.headers['www-authenticate'],
        /^Bearer error="invalid_token", error_description="The access token expired"$/,
      )
      expectRefusal(t, forged!, 401, 'invalid_token')
      t.equal(valid!.status, 200)
      t.same(JSON.parse(valid!.text), { sub: 'alice' })
      t.equal(valid!.headers['access-control-allow-origin'], ORIGIN)
    },
  },
  {
    name: "bodyLimit: a body over the limit gets 413, declared or streamed, before the framework's parser takes it",
    requests: [
      {
        path: '/public/echo',
        method: 'POST',
        headers: { ...withOrigin, 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'a'.repeat(BODY_LIMIT - 100) }),
      },
      {
        path: '/public/echo',
        method: 'POST',
        headers: { ...withOrigin, 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'b'.repeat(BODY_LIMIT + 100) }),
      },
      {
        path: '/public/echo',
        method: 'POST',
        headers: { ...withOrigin, 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'c'.repeat(BODY_LIMIT * 2) }),
        streamed: true,
      },
    ],
    check(t, [within, declared, streamed], platform) {
      t.equal(within!.status, 200)
      t.same(JSON.parse(within!.text), { padLength: BODY_LIMIT - 100 }, 'the framework parsed the body')
      for (const [what, refused] of [
        ['declared', declared!],
        ['streamed', streamed!],
      ] as const) {
        t.equal(refused.status, 413, what)
        t.match(errorBody(refused), { code: 'content_too_large' }, what)
        t.equal(refused.headers['access-control-allow-origin'], ORIGIN, what)
        // RFC 9110 §15.5.14 on HTTP/1; Connection is forbidden in HTTP/2 (RFC 9113 §8.2.2).
        t.equal(refused.headers.connection, platform.http2 ? undefined : 'close', `${what}: Connection`)
      }
    },
  },
  {
    name: 'errorBoundary: a throwing route answers 500 in the library shape, without the message, with every header',
    requests: [{ path: '/public/throw', headers: withOrigin }],
    check(t, [failed], platform, before) {
      expectRefusal(t, failed!, 500, 'internal_server_error')
      t.equal(errorBody(failed!)?.message, 'Internal Server Error')
      t.notMatch(failed!.text, /10\.0\.0\.5|app_rw/, 'the error message stays on the server')
      // Matched by request id: a report of an earlier scenario's request may still be arriving.
      const reports = platform.observed.reports
        .slice(before.reports)
        .filter((r) => r.requestId === failed!.headers['x-request-id'])
      t.equal(reports.length, 1, 'reported once')
      t.match(reports[0], { status: 500, action: 'answered', error: { message: SECRET_FAILURE } })
    },
  },
  {
    name: 'timeout: a route that does not answer in time gets 503 with Retry-After, and its signal aborts',
    requests: [{ path: '/public/slow', headers: withOrigin }],
    check(t, [late], platform, before) {
      expectRefusal(t, late!, 503, 'timeout')
      t.equal(late!.headers['retry-after'], '7')
      t.equal(platform.observed.aborted, before.aborted + 1, 'the route was told to stop')
    },
  },
  {
    name: "securityHeaders: the framework's own 404 carries the security headers and the request id",
    requests: [{ path: '/public/missing', headers: withOrigin }],
    compareBody: false,
    // Express's final handler sets its own Content-Security-Policy on the pages it writes,
    // and securityHeaders() keeps a value the handler set (override: false, the default).
    differs: (p): Record<string, string> =>
      p.name.startsWith('Express')
        ? { 'content-security-policy': "Express's final handler sets default-src 'none'" }
        : {},
    check(t, [missing], platform) {
      t.equal(missing!.status, 404)
      t.match(missing!.headers['x-request-id'], UUID_V7)
      t.equal(missing!.headers['access-control-allow-origin'], ORIGIN)
      if (platform.name.startsWith('Express')) {
        expectSecurityHeaders(t, missing!, '404', ['content-security-policy'])
        t.equal(missing!.headers['content-security-policy'], "default-src 'none'", "finalhandler's policy is kept")
      } else {
        expectSecurityHeaders(t, missing!, '404')
      }
    },
  },
  {
    name: 'jwtAuth: detours through a public path never reach a protected route without a token',
    requests: PUBLIC_DETOURS.map((path) => ({ path, headers: withOrigin })),
    check(t, results) {
      for (const [i, r] of results.entries()) {
        const path = PUBLIC_DETOURS[i]!
        t.equal(r.status, 401, path)
        // Every detour is an ambiguous target: the when() filter in front runs apiKey for it
        // (fail closed), so the first refusal is the missing key, before jwtAuth's.
        t.equal(errorBody(r)?.code, 'missing_api_key', path)
      }
    },
  },
  {
    name: 'when(): every spelling of /admin gets the API key check; the key opens the canonical path',
    requests: [
      ...ADMIN_SPELLINGS.map((path) => ({ path, headers: withOrigin })),
      { path: '/admin', headers: { ...withOrigin, 'x-api-key': ADMIN_KEY } },
    ],
    check(t, results) {
      for (const [i, r] of results.slice(0, -1).entries()) {
        const path = ADMIN_SPELLINGS[i]!
        t.equal(r.status, 401, path)
        t.equal(errorBody(r)?.code, 'missing_api_key', path)
        t.equal(r.headers['www-authenticate'], 'ApiKey header="x-api-key"', path)
      }
      const opened = results.at(-1)!
      t.equal(opened.status, 200)
      t.same(JSON.parse(opened.text), { area: 'admin' })
    },
  },
]
