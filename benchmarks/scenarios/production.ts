/**
 * The headline comparisons: http-onion's production stack against the peers' equivalent
 * stacks (benchmarks/peers/*.mjs) and against the two physical limits that bound any stack
 * on these routes: bare node:http writing the same headers in one writeHead, and bare
 * node:http gzipping each body itself.
 *
 * The onion stack has exactly the features of the peer stacks: proxyHeaders, errorBoundary,
 * requestId, timing, accessLog to a file, trustedHost, cors, securityHeaders, rateLimit on
 * the memory store, compression (gzip 6, threshold 1 KiB) and jwtAuth on /protected.
 * `onion-full` is the documented production stack (docs/examples/production-stack.ts), which
 * adds traceContext, loadShedding, bodyLimit and timeout.
 */
import { createWriteStream } from 'node:fs'
import type { RequestListener, ServerResponse } from 'node:http'
import { createGzip, gzip } from 'node:zlib'
import { SignJWT } from 'jose'
import {
  accessLog,
  compose,
  compression,
  cors,
  errorBoundary,
  jwtAuth,
  memoryStore,
  mount,
  proxyHeaders,
  rateLimit,
  requestId,
  securityHeaders,
  timing,
  trustedHost,
  type Middleware,
  type RawHandler,
} from '../../lib/index.js'
import { productionApp } from '../../docs/examples/production-stack.js'
import {
  benchSettings as S,
  largeJson,
  listen,
  routes,
  smallJson,
  textStream,
  type Comparison,
  type Scenario,
} from '../common.js'
import { logFile } from '../log-file.js'

/**
 * The layers of the `onion` stack, outermost first, each built fresh with its bench settings:
 * the stack itself, and the per-layer cost table (`npm run bench -- --layers`), which
 * measures each alone and the stack without each.
 */
export function onionLayers(logName = 'onion'): Array<{ name: string; layer: () => Middleware }> {
  return [
    { name: 'errorBoundary', layer: () => errorBoundary() },
    { name: 'proxyHeaders', layer: () => proxyHeaders({ trustedProxies: ['loopback'] }) },
    { name: 'requestId', layer: () => requestId() },
    // To every client, as the peers' timing middleware do: the same work is measured.
    { name: 'timing', layer: () => timing({ serverTiming: true }) },
    { name: 'accessLog', layer: () => accessLog({ sink: createWriteStream(logFile(logName)) }) },
    { name: 'securityHeaders', layer: () => securityHeaders() },
    { name: 'trustedHost', layer: () => trustedHost({ allowedHosts: ['127.0.0.1', 'localhost'] }) },
    { name: 'cors', layer: () => cors({ origins: [S.allowedOrigin], credentials: true, maxAge: 600 }) },
    {
      name: 'rateLimit',
      layer: () => rateLimit({ limit: S.rateLimit, windowMs: S.windowMs, store: memoryStore() }),
    },
    {
      name: 'compression',
      layer: () => compression({ encodings: ['gzip'], gzipLevel: S.gzipLevel, threshold: S.threshold }),
    },
    {
      name: 'mount(jwtAuth)',
      layer: () => mount('/protected', compose(jwtAuth({ secret: S.jwtSecret, algorithms: ['HS256'] }))(routes)),
    },
  ]
}

function onionStack(): RawHandler {
  return compose(...onionLayers().map(({ layer }) => layer()))(routes)
}

function onionFull(): RawHandler {
  return productionApp(
    {
      jwtSecret: S.jwtSecret,
      allowedOrigins: [S.allowedOrigin],
      allowedHosts: ['127.0.0.1', 'localhost'],
      logSink: createWriteStream(logFile('onion-full')),
      requestsPerMinute: S.rateLimit,
    },
    { site: routes, api: routes },
  ).handler
}

/**
 * The header set the production stack sends on the 1 KB route (request id, timing, CORS,
 * security headers, rate limit), written by bare node:http in one writeHead: what header
 * work alone costs. Values are the same lengths as the stack's.
 */
const sameHeaders: Record<string, string> = {
  'x-request-id': '01a20752-b3c2-77e3-96d3-f2e8375c1755',
  'server-timing': 'total;dur=0.312',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'access-control-allow-origin': S.allowedOrigin,
  'access-control-allow-credentials': 'true',
  vary: 'Origin',
  'ratelimit-policy': '"default";q=1000000000;w=60',
  ratelimit: '"default";r=999999999;t=60',
  'content-type': 'application/json',
}

const sameHeadersLimit: RawHandler = (req, res) => {
  if (req.url !== '/json') return routes(req, res)
  res.writeHead(200, { ...sameHeaders, 'content-length': Buffer.byteLength(smallJson) })
  res.end(smallJson)
}

/** Each 64 KB body gzipped by the handler itself with zlib.gzip (async, level 6): the compression limit. */
const gzipLimit: RawHandler = (req, res) => {
  if (req.url !== '/json64') return routes(req, res)
  gzip(largeJson, { level: S.gzipLevel }, (err, body) => {
    if (err) {
      res.destroy(err)
      return
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      vary: 'Accept-Encoding',
      'content-length': body.length,
    })
    res.end(body)
  })
}

/** The 100 MiB stream piped by hand through zlib.createGzip(): the streaming reference. */
const handPipedStream: RawHandler = (req, res: ServerResponse) => {
  if (!req.url?.startsWith('/stream')) return routes(req, res)
  res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-encoding': 'gzip',
    vary: 'Accept-Encoding',
  })
  textStream(Number(/mb=(\d+)/.exec(req.url)?.[1] ?? 100))
    .pipe(createGzip({ level: S.gzipLevel }))
    .pipe(res)
}

const serve = (handler: () => RawHandler) => () => listen(handler() as RequestListener)

export const scenarios: Record<string, Scenario> = {
  onion: {
    description:
      "http-onion: the peers' feature set (proxyHeaders, errorBoundary, requestId, timing, accessLog to a file, securityHeaders, trustedHost, cors, rateLimit memory, compression gzip 6, jwtAuth on /protected)",
    start: serve(onionStack),
  },
  'onion-full': {
    description:
      'http-onion: the documented production stack (the above plus traceContext, loadShedding, bodyLimit, timeout)',
    start: serve(onionFull),
  },
  'same-headers-limit': {
    description: "node:http writing the production stack's 17 headers in one writeHead",
    start: serve(() => sameHeadersLimit),
  },
  'gzip-limit': {
    description: `node:http gzipping each 64 KB body itself (zlib.gzip, level ${S.gzipLevel})`,
    start: serve(() => gzipLimit),
  },
  'hand-gzip-stream': {
    description: `node:http piping the stream by hand through zlib.createGzip({ level: ${S.gzipLevel} })`,
    start: serve(() => handPipedStream),
  },
}

const token = await new SignJWT({ sub: 'bench-user' })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuedAt()
  .setExpirationTime('2h')
  .sign(new TextEncoder().encode(S.jwtSecret))

const browserHeaders = { origin: S.allowedOrigin, 'accept-encoding': 'gzip' }
const peers = ['express', 'fastify', 'hono']
// Features every stack must show on one request before it is timed (limits and bare excepted).
const features = ['x-request-id', 'access-control-allow-origin', 'x-content-type-options']
const limits = ['bare', 'same-headers-limit', 'gzip-limit', 'hand-gzip-stream', 'noop-1']
// @fastify/compress answers a payload of at most its `syncThreshold` with zlib's *Sync call. The
// default comes from os.availableParallelism(): 64 KiB on one core (a pinned server), 8 KiB on
// two, 4 KiB from three cores up. This library never deflates synchronously: a sync call
// blocks every other request on the loop for its whole duration.
const fastifySyncNote = `@fastify/compress compresses a payload of at most its syncThreshold with gzipSync, a default derived from os.availableParallelism(): 64 KiB on one core (a pinned server), 8 KiB on two, 4 KiB from three up. This route's body is ${Buffer.byteLength(largeJson)} bytes, just over 64 KiB, so Fastify streams it here too; a body of 64 KiB or less on a pinned server would be deflated synchronously. http-onion never calls a *Sync deflate, by design: it blocks every other request on the event loop while it runs. The unpinned run of this route lets zlib's threadpool use another core.`

export const comparisons: Comparison[] = [
  {
    name: 'stacks: 1 KB JSON (below the compression threshold)',
    route: '/json',
    baseline: 'bare',
    headers: browserHeaders,
    // The stack right after its limit: rounds rotate this list, so the two run one after the
    // other in all rounds but one, and their ratio is taken round by round (#20).
    scenarios: [
      'bare',
      'same-headers-limit',
      'noop-1',
      'hand-written',
      'onion',
      'onion-full',
      ...peers,
      'hono-nocompress',
    ],
    expect: { status: 200, headers: features },
    unchecked: limits,
    limit: 'hand-written',
    freshProcesses: true,
  },
  {
    name: 'stacks: 64 KB JSON, gzip 6',
    route: '/json64',
    baseline: 'bare',
    headers: browserHeaders,
    scenarios: ['bare', 'gzip-limit', 'hand-written', 'onion', ...peers],
    expect: { status: 200, headers: [...features, 'content-encoding'] },
    unchecked: ['bare', 'gzip-limit'],
    limit: 'hand-written',
    note: fastifySyncNote,
    freshProcesses: true,
  },
  {
    name: 'stacks: unpinned 64 KB JSON, gzip 6',
    route: '/json64',
    baseline: 'bare',
    headers: browserHeaders,
    scenarios: ['bare', 'hand-written', 'onion', 'fastify'],
    expect: { status: 200, headers: [...features, 'content-encoding'] },
    unchecked: ['bare'],
    limit: 'hand-written',
    note: fastifySyncNote,
    unpinned: true,
    freshProcesses: true,
  },
  {
    name: 'stacks: CORS preflight',
    route: '/json',
    method: 'OPTIONS',
    baseline: 'express',
    headers: {
      origin: S.allowedOrigin,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'content-type',
    },
    scenarios: ['onion', ...peers],
    expect: { status: 204, headers: ['access-control-allow-origin', 'access-control-allow-methods'] },
  },
  {
    name: 'stacks: JWT-protected 1 KB JSON (HS256)',
    route: '/protected',
    baseline: 'express',
    headers: { ...browserHeaders, authorization: `Bearer ${token}` },
    scenarios: ['onion', ...peers],
    expect: { status: 200, headers: features },
  },
  {
    name: 'stacks: 100 MiB streamed text, gzip 6',
    route: '/stream?mb=100',
    baseline: 'hand-gzip-stream',
    headers: browserHeaders,
    scenarios: ['hand-gzip-stream', 'onion', ...peers],
    amount: 4,
    connections: 1,
    stream: true,
    expect: { status: 200, headers: ['content-encoding'] },
    unchecked: ['hand-gzip-stream'],
  },
]
