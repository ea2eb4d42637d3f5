/**
 * The limit of the production stack (issue #20): the same work written by hand in one
 * handler, with nothing generic. Per request it answers only for its host names (as
 * trustedHost does), takes the client's address from a trusted proxy's X-Forwarded-For (as
 * proxyHeaders does), validates a trusted incoming request id or
 * mints a UUID v7, times the response for Server-Timing, answers CORS for a listed origin
 * with credentials, adds the security header set, counts the client in a fixed window kept in
 * a `Map`, writes one JSON access-log line per request through a `WriteStream` when its
 * exchange is over (the fields of the stack's line, the lines of one event-loop turn in one
 * write, as the stack's accessLog does), and
 * gzips bodies of 1 KiB or more with one asynchronous `zlib.gzip` call at level 6; every header
 * goes out in one `writeHead`. A stack that reaches it does no work beyond its features.
 */
import { createWriteStream } from 'node:fs'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { gzip } from 'node:zlib'
import { benchSettings as S, largeJson, listen, routes, smallJson, type Scenario } from '../common.js'
import { logFile } from '../log-file.js'
import { pooledUuidv7 } from '../../lib/middleware/request-id/uuid-v7.js'
import { integerText } from '../../lib/core/integer-text.js'
import { SHORT_STRING } from '../../lib/core/transform-body.js'
import { isoTime, jsonNumber, round } from '../../lib/middleware/access-log/format.js'

const ID = /^[A-Za-z0-9._:=-]{1,128}$/
// The stack's trustedHost() and proxyHeaders() settings (production.ts), by hand.
const allowedHosts = new Set(['127.0.0.1', 'localhost'])
const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])

/** The name part of a Host header: `name[:port]` or `[v6]:port`. */
function hostName(host: string): string {
  const colon = host.lastIndexOf(':')
  return colon < 0 || host.endsWith(']') ? host : host.slice(0, colon)
}

/** The client behind one trusted proxy: the last address it appended to X-Forwarded-For. */
function lastForwarded(header: string): string {
  return header.slice(header.lastIndexOf(',') + 1).trim()
}
const origins = new Set<string>([S.allowedOrigin])
const windowSeconds = S.windowMs / 1000
const policy = `"default";q=${S.rateLimit};w=${windowSeconds}`
// The bodies as the stack's handler gives them (`routes` ends with the JSON string), so the
// limit pays for turning text into bytes as the stack does; a Buffer made once at start-up
// would leave that work out of the comparison. For the same reason their length is measured
// per request, as any handler handing over text must (Node's own end() measures a string
// body): a short body is measured as text, a long one converted once and measured by its
// bytes, as the stack's compression holds them.

/** One client's fixed window. */
class Window {
  count = 0
  resetAt = 0
}

/** What the log line of one exchange needs from the request path. */
class Exchange {
  readonly arrivedAt = Date.now()
  readonly start = performance.now()
  headersAt = 0
  bytesIn = 0
  readonly bytesAtStart: number
  ip = ''
  id = ''
  readonly req: IncomingMessage

  constructor(req: IncomingMessage) {
    this.req = req
    this.bytesAtStart = req.socket.bytesWritten
  }
}

function handWritten(): RequestListener {
  const log = createWriteStream(logFile('hand-written'))
  // Ids minted as the stack's requestId mints them, from a pool of random bytes: calling
  // uuid's v7() asks the system for 16 bytes per id, ~3 µs/req more than the stack pays,
  // which made the limit slower than a careful hand-writer would be.
  const mintId = pooledUuidv7()
  const windows = new Map<string, Window>()
  let lastHost: string | undefined
  // Lines of one event-loop turn go out in one write, as the stack's accessLog does.
  let lines = ''
  const flush = () => {
    log.write(lines)
    lines = ''
  }

  // The line the stack writes for the same exchange, field for field: written when the
  // exchange is over, so that a client gone first is logged as 499 aborted, with the bytes
  // that went on the wire and the time to the headers. Its numbers and time are formatted
  // with the stack's own helpers, the cheapest way known.
  function logLine(exchange: Exchange, res: ServerResponse): void {
    const finished = res.writableFinished
    const status = finished ? res.statusCode : 499
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info'
    const durationMs = round(performance.now() - exchange.start)
    const ttfb = exchange.headersAt === 0 ? '' : `,"ttfbMs":${jsonNumber(round(exchange.headersAt - exchange.start))}`
    const bytesOut = exchange.req.socket.bytesWritten - exchange.bytesAtStart
    if (lines === '') setImmediate(flush)
    lines +=
      `{"time":"${isoTime(exchange.arrivedAt)}","level":"${level}","method":"${exchange.req.method}","path":${JSON.stringify(exchange.req.url)}` +
      `,"status":${status},"outcome":"${finished ? 'finished' : 'aborted'}","durationMs":${jsonNumber(durationMs)}${ttfb}` +
      `,"bytesOut":${bytesOut},"bytesIn":${exchange.bytesIn},"clientIp":"${exchange.ip}","requestId":"${exchange.id}"}\n`
  }

  return function handWrittenHandler(req, res) {
    const url = req.url
    if (url !== '/json' && url !== '/json64') {
      routes(req, res)
      return
    }
    const exchange = new Exchange(req)
    const start = exchange.start
    res.on('close', () => logLine(exchange, res))
    // A declared body is counted as it arrives (these routes use none).
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
      req.on('data', (chunk: Buffer) => {
        exchange.bytesIn += chunk.length
      })
    // trustedHost(): only this server's names; the last Host that passed is remembered, as
    // trustedHost() remembers it, since nearly every request names the same one.
    const host = req.headers.host
    if (host !== lastHost) {
      if (host === undefined || !allowedHosts.has(hostName(host).toLowerCase())) {
        res.writeHead(400, { 'content-length': 0 })
        res.end()
        return
      }
      lastHost = host
    }
    // proxyHeaders(): the client is the peer, or, behind a trusted proxy (loopback), the
    // address that proxy forwarded.
    const peer = req.socket.remoteAddress ?? ''
    const forwarded = req.headers['x-forwarded-for']
    const trustedPeer = loopback.has(peer)
    const ip = typeof forwarded === 'string' && trustedPeer ? lastForwarded(forwarded) : peer
    // The request id: a valid one sent through a trusted proxy is kept.
    const sent = req.headers['x-request-id']
    const id = trustedPeer && typeof sent === 'string' && ID.test(sent) ? sent : mintId()
    exchange.ip = ip
    exchange.id = id
    // A fixed window per client address.
    const now = Date.now()
    let window = windows.get(ip)
    if (window === undefined) {
      window = new Window()
      windows.set(ip, window)
    }
    if (now >= window.resetAt) {
      window.count = 0
      window.resetAt = now + S.windowMs
    }
    window.count++
    if (window.count > S.rateLimit) {
      res.writeHead(429, { 'x-request-id': id, 'content-length': 0 })
      res.end()
      return
    }
    // The count left differs per request: formatted as the stack does, outside V8's number
    // cache, whose strings would otherwise be promoted (lib/core/integer-text.ts).
    const ratelimit = `"default";r=${integerText(S.rateLimit - window.count)};t=${Math.ceil((window.resetAt - now) / 1000)}`
    const origin = req.headers.origin
    const cors = origin !== undefined && origins.has(origin)
    const text = url === '/json' ? smallJson : largeJson
    const body = text.length <= SHORT_STRING ? text : Buffer.from(text)
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length
    const gzipIt = bodyLength >= S.threshold && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')

    const send = (payload: Buffer | string, length: number, encoded: boolean) => {
      const headers = [
        'content-type',
        'application/json',
        'content-length',
        String(length),
        'x-request-id',
        id,
        'server-timing',
        `total;dur=${(performance.now() - start).toFixed(1)}`,
        'content-security-policy',
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'cross-origin-opener-policy',
        'same-origin',
        'cross-origin-resource-policy',
        'same-origin',
        'origin-agent-cluster',
        '?1',
        'referrer-policy',
        'no-referrer',
        'x-content-type-options',
        'nosniff',
        'x-dns-prefetch-control',
        'off',
        'x-frame-options',
        'DENY',
        'x-permitted-cross-domain-policies',
        'none',
        'x-xss-protection',
        '0',
        'ratelimit-policy',
        policy,
        'ratelimit',
        ratelimit,
        // Compressible, so negotiated at any size (RFC 9110 §12.5.5), as the stack says.
        'vary',
        'Accept-Encoding, Origin',
      ]
      if (cors)
        headers.push('access-control-allow-origin', origin as string, 'access-control-allow-credentials', 'true')
      if (encoded) headers.push('content-encoding', 'gzip')
      exchange.headersAt = performance.now()
      res.writeHead(200, headers)
      res.end(payload)
    }
    if (!gzipIt) {
      send(body, bodyLength, false)
      return
    }
    gzip(body, { level: S.gzipLevel }, (err, zipped) => {
      if (err) res.destroy(err)
      else send(zipped, zipped.length, true)
    })
  }
}

export const scenarios: Record<string, Scenario> = {
  'hand-written': {
    description:
      'the limit: node:http doing the production stack’s work by hand in one handler (request id, Server-Timing, CORS with credentials, security headers, a fixed-window counter in a Map, a JSON access-log line per request to a WriteStream, async zlib.gzip level 6 from 1 KiB, one writeHead)',
    // The process first loads what the stack's process loads (the library, jose, the documented
    // stack: production.ts), so that both start from the same heap. Below ~10 MB of old
    // generation V8 decides differently when to mark: 3 MB more code alone put the limit into
    // incremental marking every 50-100 ms on the 64 KB route, as the stack's process was (see
    // docs/performance.md, "On the 64 KB route, the heap the process starts from").
    start: async () => {
      await import('./production.js')
      return listen(handWritten())
    },
  },
}
