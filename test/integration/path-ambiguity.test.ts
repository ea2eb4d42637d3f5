import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import express4 from 'express4'
import Fastify from 'fastify'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import {
  compose,
  jwtAuth,
  loadShedding,
  rateLimit,
  unless,
  when,
  type AmbiguousPaths,
  type Middleware,
  type RawHandler,
} from '../../lib/index.js'
import { normalizePath } from '../../lib/core.js'
import { toExpress } from '../../adapters/express.js'
import { toFastify } from '../../adapters/fastify.js'
import { rawRequest, type RawResponse } from '../helpers/raw.js'
import { listen, serve } from '../helpers/serve.js'
import { silenceWarningOutput } from '../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

// Issue #16: path-deciding layers against the routers they front. Express 4, Express 5 and
// Fastify route on the raw path: they keep `%2F` inside a segment and resolve no dot
// segment, so `/admin/..%2fhealth` is `/admin/:page` to them while its normal form is
// `/health`. Each raw target below reaches the protected area of a real router (or is at
// least no public resource to it); none may get there past an exemption, an `unless` or a
// `when` that skipped it: the guard applies (fail closed) or, with `ambiguousPaths:
// 'refuse'`, the target gets 400.

const SECRET = 'path-ambiguity-secret-0123456789abcdef'
const ADMIN_BODY = 'the admin area'
const token = await new SignJWT({ sub: 'ops' })
  .setProtectedHeader({ alg: 'HS256' })
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(SECRET))

/** The raw targets, by the trick they use. */
const TARGETS: Record<string, readonly string[]> = {
  '..%2f': ['/admin/..%2fhealth', '/admin/..%2f..%2fpublic%2fx', '/admin/..%2Fhealth'],
  '..%5c': ['/admin/..%5chealth', '/admin/..%5C..%5Cpublic%5Cx'],
  '%2e%2e': ['/admin/%2e%2e', '/admin/.%2E', '/admin/x/%2e%2e/%2e%2e/health'],
  '..': ['/admin/..', '/admin/x/../../health', '/admin/x/../../public/x'],
  '//': ['//health', '//public/x', '//admin/x'],
  ';': ['/public/..;/admin/x', '/health;/../admin/x', '/admin;/x'],
  '%00': ['/admin/x%00', '/health%00', '/public/x%00/../../admin/x'],
}
// The targets every router here serves from the protected area, given credentials: the
// bypasses normalisation alone would have opened.
const REACH_ADMIN = [
  '/admin/..%2fhealth',
  '/admin/..%2f..%2fpublic%2fx',
  '/admin/..%2Fhealth',
  '/admin/..%5chealth',
  '/admin/..%5C..%5Cpublic%5Cx',
  '/admin/%2e%2e',
  '/admin/.%2E',
  '/admin/x/%2e%2e/%2e%2e/health',
  '/admin/..',
  '/admin/x/../../health',
  '/admin/x/../../public/x',
  '/admin/x%00',
]

/** A guard: layers protecting /admin, the paths they exempt, and the status of a refusal. */
interface Guard {
  readonly layers: (ambiguousPaths: AmbiguousPaths) => Middleware[]
  /** The status of a request the guard applies to, without credentials. */
  readonly refused: number
  /** Headers that satisfy the guard, if it is an authentication. */
  readonly credentials?: ReadonlyArray<readonly [string, string]>
  /** A target the guard exempts, answered 200 without credentials. */
  readonly exempt: string
}

const guards: Record<string, Guard> = {
  'jwtAuth publicPaths': {
    layers: (ambiguousPaths) => [jwtAuth({ secret: SECRET, publicPaths: ['/public/*', '/health'], ambiguousPaths })],
    refused: 401,
    credentials: [['Authorization', `Bearer ${token}`]],
    exempt: '/public/x',
  },
  'when(/admin/*) around jwtAuth': {
    layers: (ambiguousPaths) => [when({ paths: ['/admin', '/admin/*'], ambiguousPaths }, jwtAuth({ secret: SECRET }))],
    refused: 401,
    credentials: [['Authorization', `Bearer ${token}`]],
    exempt: '/health',
  },
  'unless(/public/*, /health) around jwtAuth': {
    layers: (ambiguousPaths) => [
      unless({ paths: ['/public/*', '/health'], ambiguousPaths }, jwtAuth({ secret: SECRET })),
    ],
    refused: 401,
    credentials: [['Authorization', `Bearer ${token}`]],
    exempt: '/public/x',
  },
  'rateLimit exempt': {
    // A limit of 0: every request counted is refused, every exempt one passes.
    layers: (ambiguousPaths) => [rateLimit({ limit: 0, exempt: ['/public/*', '/health'], ambiguousPaths })],
    refused: 429,
    exempt: '/health',
  },
  'loadShedding exempt': {
    layers: (ambiguousPaths) => {
      // Always overloaded: a resident set over 1 byte. Every request not exempt is shed.
      const shedding = loadShedding({
        maxEventLoopDelayMs: 0,
        maxRssBytes: 1,
        exempt: ['/public/*', '/health'],
        ambiguousPaths,
      })
      shedding.sample()
      t.teardown(() => shedding.close())
      return [shedding]
    },
    refused: 503,
    exempt: '/health',
  },
}

/** One platform: the guard's layers in front of a router with a protected and a public area. */
type Platform = (t: Test, layers: Middleware[]) => Promise<string>

const rawRouter: RawHandler = (req, res) => {
  // Routes on the raw path, as Express and Fastify do: no decoding of separators, no dot segments.
  const path = (req.url ?? '/').split('?', 1)[0]!
  if (/^\/admin\/.+/.test(path)) return res.end(ADMIN_BODY)
  if (/^\/public\/.+/.test(path)) return res.end('public')
  if (path === '/health') return res.end('ok')
  res.statusCode = 404
  res.end('not found')
}

function expressPlatform(make: typeof express4 | typeof express, wildcard: string): Platform {
  return async (t, layers) => {
    const app = make()
    app.use(toExpress(compose(...layers)))
    app.get('/admin/:page', (_req, res) => {
      res.send(ADMIN_BODY)
    })
    app.get(`/admin/${wildcard}`, (_req, res) => {
      res.send(ADMIN_BODY)
    })
    app.get(`/public/${wildcard}`, (_req, res) => {
      res.send('public')
    })
    app.get('/health', (_req, res) => {
      res.send('ok')
    })
    return (await listen(t, createServer(app))).url
  }
}

const platforms: Record<string, Platform> = {
  'node:http': (t, layers) => serve(t, compose(...layers)(rawRouter)),
  'Express 4': expressPlatform(express4, '*'),
  'Express 5': expressPlatform(express, '*rest'),
  'Fastify 5': async (t, layers) => {
    const app = Fastify()
    await app.register(toFastify(compose(...layers)) as never)
    app.get('/admin/:page', async () => ADMIN_BODY)
    app.get('/admin/*', async () => ADMIN_BODY)
    app.get('/public/*', async () => 'public')
    app.get('/health', async () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  },
}

const allTargets = Object.entries(TARGETS).flatMap(([kind, targets]) => targets.map((target) => ({ kind, target })))
const send = (
  url: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
): Promise<RawResponse> => rawRequest(url, 'GET', target, headers)

t.test(
  'the targets: normalisation alone reads each outside /admin or as a public path, or cannot read it',
  async (t) => {
    for (const { target } of allTargets) {
      const normal = normalizePath(target)
      t.ok(
        normal === undefined || !/^\/admin(\/|$)/.test(normal) || target.startsWith('//') || target.includes(';'),
        `${target} → ${normal}`,
      )
    }
  },
)

for (const [platformName, platform] of Object.entries(platforms)) {
  t.test(`${platformName}: with credentials, the router serves the admin area for the bypass targets`, async (t) => {
    const url = await platform(t, guards['jwtAuth publicPaths']!.layers('fail-closed'))
    for (const target of REACH_ADMIN) {
      const res = await send(url, target, guards['jwtAuth publicPaths']!.credentials)
      t.equal(res.status, 200, target)
      t.equal(res.body.toString(), ADMIN_BODY, target)
    }
  })

  for (const [guardName, guard] of Object.entries(guards)) {
    for (const ambiguousPaths of ['fail-closed', 'refuse'] as const) {
      t.test(
        `${platformName}, ${guardName}, ambiguousPaths ${ambiguousPaths}: no ambiguous target gets past the guard`,
        async (t) => {
          const url = await platform(t, guard.layers(ambiguousPaths))
          const expected = ambiguousPaths === 'refuse' ? 400 : guard.refused
          for (const { kind, target } of allTargets) {
            const res = await send(url, target)
            t.equal(res.status, expected, `${kind}: ${target}`)
            t.notMatch(res.body.toString(), ADMIN_BODY, `${kind}: ${target}`)
            if (ambiguousPaths === 'refuse') t.match(res.body.toString(), /"code":"ambiguous_path"/, target)
          }
          // The guard still works as configured: its exemption, its protection, its credentials.
          t.equal((await send(url, guard.exempt)).status, 200, `exempt ${guard.exempt}`)
          t.equal((await send(url, '/admin/x')).status, guard.refused, '/admin/x without credentials')
          if (guard.credentials)
            t.equal((await send(url, '/admin/x', guard.credentials)).body.toString(), ADMIN_BODY, 'with credentials')
        },
      )
    }
  }
}
