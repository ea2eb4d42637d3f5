/**
 * Every middleware of lib/index.ts, once, over HTTP/2 cleartext (h2c) through node:http2's
 * compatibility API. Where HTTP/2 cannot do what HTTP/1 does (no Connection header, streams
 * sharing one socket), the test pins what the middleware does instead; docs/adapters.md lists
 * those cases. Requests of one test share a session where that matters: a layer that ends its
 * own exchange must reset its stream, never the connection other requests ride on.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import {
  accessLog,
  anyOf,
  apiKey,
  basicAuth,
  bodyCapture,
  bodyLimit,
  clientIdentity,
  clientIp,
  compose,
  compression,
  conditional,
  cors,
  csrf,
  currentRequest,
  errorBoundary,
  getCapturedBody,
  getJwtClaims,
  getRequestId,
  getRequestSignal,
  getSession,
  getTrace,
  getUserId,
  hooks,
  httpsRedirect,
  ipFilter,
  jwtAuth,
  loadShedding,
  metrics,
  mount,
  proxyHeaders,
  rateLimit,
  requestContext,
  requestDecompression,
  requestId,
  securityHeaders,
  session,
  timeout,
  timing,
  traceContext,
  trustedHost,
  unless,
  when,
  type AccessLogEntry,
  type ErrorReport,
  type Middleware,
  type RawHandler,
} from '../../lib/index.js'
import type { ResponseEndInfo } from '../../lib/core.js'
import { serveH2 } from '../helpers/h2.js'
import { silenceWarningOutput } from '../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

interface H2Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

/** One h2c session for several requests; closed when `t` ends. */
async function h2Session(t: Test, url: string) {
  const session: ClientHttp2Session = connect(url)
  session.on('error', () => undefined)
  t.teardown(() => {
    session.close()
  })
  await once(session, 'connect')
  return {
    session,
    /** One request; rejects with the stream's error when it is reset before its end. */
    request(headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<H2Answer> {
      return new Promise((ok, fail) => {
        const stream = session.request({ ':path': '/', ...headers })
        let status = 0
        let responseHeaders: IncomingHttpHeaders = {}
        const parts: Buffer[] = []
        stream.on('response', (h) => {
          status = Number(h[':status'])
          responseHeaders = h
        })
        stream.on('data', (d: Buffer) => parts.push(d))
        stream.on('end', () => {
          const data = Buffer.concat(parts)
          ok({ status, headers: responseHeaders, body: data, text: data.toString() })
        })
        // A reset stream emits 'error' and then 'close', where its code is known.
        stream.on('error', () => undefined)
        stream.on('close', () => {
          if (!stream.readableEnded)
            fail(
              Object.assign(new Error(`stream reset (${stream.rstCode})`), {
                rstCode: stream.rstCode,
                status,
                received: Buffer.concat(parts).toString(),
              }),
            )
        })
        stream.end(body)
      })
    },
  }
}

async function served(t: Test, handler: RawHandler) {
  return h2Session(t, await serveH2(t, handler))
}

const SECRET = 'h2-sweep-secret-0123456789abcdef0123'
const jsonOf = (a: H2Answer): Record<string, unknown> => JSON.parse(a.text) as Record<string, unknown>

t.test('HTTP/2 requestId(): mints an id, echoes a trusted one, and the route reads it', async (t) => {
  const h2 = await served(
    t,
    compose(requestId({ trustIncoming: true }))((req, res) => res.end(getRequestId(req))),
  )
  const minted = await h2.request()
  t.match(minted.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(minted.text, minted.headers['x-request-id'])
  const kept = await h2.request({ 'x-request-id': 'from-proxy-1' })
  t.equal(kept.headers['x-request-id'], 'from-proxy-1')
})

t.test('HTTP/2 timing(): Server-Timing and X-Response-Time at response start', async (t) => {
  const h2 = await served(
    t,
    compose(timing({ serverTiming: true, responseTime: true }))((_req, res) => res.end('timed')),
  )
  const res = await h2.request()
  t.match(res.headers['server-timing'], /^total;dur=\d+(\.\d)?$/)
  t.match(res.headers['x-response-time'], /^\d+(\.\d)?ms$/)
})

t.test(
  'HTTP/2 accessLog(): one line per stream with bytesIn, without bytesOut (streams share the socket)',
  async (t) => {
    const entries: AccessLogEntry[] = []
    let logged!: () => void
    const twoLines = new Promise<void>((ok) => {
      logged = ok
    })
    const sink = (_line: string, entry: AccessLogEntry) => {
      entries.push(entry)
      if (entries.length === 2) logged()
    }
    const h2 = await served(
      t,
      compose(
        requestId(),
        accessLog({ sink }),
      )(async (req, res) => {
        let n = 0
        for await (const chunk of req) n += (chunk as Buffer).length
        res.statusCode = req.url === '/created' ? 201 : 200
        res.end(`read ${n}`)
      }),
    )
    t.equal((await h2.request({ ':method': 'POST', ':path': '/created' }, 'x'.repeat(3000))).status, 201)
    await h2.request({ ':path': '/other?token=secret' })
    await twoLines
    t.match(entries[0], {
      method: 'POST',
      path: '/created',
      status: 201,
      outcome: 'finished',
      bytesIn: 3000,
      clientIp: '127.0.0.1',
    })
    t.equal(entries[0]!.bytesOut, undefined, 'no per-response byte count on HTTP/2')
    t.match(entries[1], { method: 'GET', path: '/other', status: 200 })
    t.equal(entries[0]!.requestId !== undefined && entries[0]!.requestId !== entries[1]!.requestId, true)
  },
)

t.test('HTTP/2 traceContext(): continues an incoming traceparent and echoes its own span', async (t) => {
  const h2 = await served(
    t,
    compose(traceContext({ echo: true }))((req, res) => res.end(getTrace(req).traceId)),
  )
  const res = await h2.request({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
  t.equal(res.text, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.match(res.headers.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
  t.notMatch(res.headers.traceparent, /00f067aa0ba902b7/, "its own span, not the caller's")
})

t.test('HTTP/2 requestContext(): the request is current across timers and awaits', async (t) => {
  const h2 = await served(
    t,
    compose(
      requestId(),
      requestContext(),
    )(async (req, res) => {
      await sleep(1)
      const later = await new Promise<string>((ok) => setTimeout(() => ok(getRequestId(currentRequest())), 1))
      res.end(later === getRequestId(req) ? 'same' : 'lost')
    }),
  )
  t.equal((await h2.request()).text, 'same')
})

t.test('HTTP/2 proxyHeaders(): a trusted loopback peer vouches for the client, per stream', async (t) => {
  const h2 = await served(
    t,
    compose(
      proxyHeaders({ trustedProxies: ['loopback'] }),
      securityHeaders(),
    )((req, res) => {
      res.end(`${clientIp(req)} ${clientIdentity(req).scheme}`)
    }),
  )
  const forwarded = await h2.request({ 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })
  t.equal(forwarded.text, '203.0.113.9 https')
  t.equal(
    forwarded.headers['strict-transport-security'],
    'max-age=31536000; includeSubDomains',
    'HSTS follows the forwarded scheme',
  )
  const direct = await h2.request()
  t.equal(direct.text, '127.0.0.1 http', 'the next stream on the same connection starts from the socket again')
  t.equal(direct.headers['strict-transport-security'], undefined)
})

t.test('HTTP/2 trustedHost(): judges :authority (HTTP/2 has no Host line)', async (t) => {
  const h2 = await served(
    t,
    compose(trustedHost({ allowedHosts: ['api.example.com'] }))((_req, res) => res.end('served')),
  )
  t.equal((await h2.request({ ':authority': 'api.example.com' })).text, 'served')
  const refused = await h2.request({ ':authority': 'evil.example' })
  t.equal(refused.status, 400)
  t.match(jsonOf(refused), { code: 'host_not_allowed' })
})

t.test('HTTP/2 httpsRedirect(): h2c requests go to https on the :authority host', async (t) => {
  const h2 = await served(
    t,
    compose(httpsRedirect({ exemptPaths: ['/health'] }))((_req, res) => res.end('plain')),
  )
  const redirected = await h2.request({ ':authority': 'api.example.com:8080', ':path': '/orders?id=7' })
  t.equal(redirected.status, 308)
  t.equal(redirected.headers.location, 'https://api.example.com/orders?id=7')
  t.equal((await h2.request({ ':path': '/health' })).text, 'plain')
})

t.test('HTTP/2 cors(): preflight answered 204, actual request gets the origin', async (t) => {
  const h2 = await served(
    t,
    compose(cors({ origins: ['https://app.example'], credentials: true }))((_req, res) => res.end('data')),
  )
  const pre = await h2.request({
    ':method': 'OPTIONS',
    origin: 'https://app.example',
    'access-control-request-method': 'PUT',
  })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], 'https://app.example')
  t.equal(pre.headers['access-control-allow-credentials'], 'true')
  const actual = await h2.request({ origin: 'https://app.example' })
  t.equal(actual.text, 'data')
  t.equal(actual.headers['access-control-allow-origin'], 'https://app.example')
  t.match(actual.headers.vary, /Origin/)
})

t.test('HTTP/2 securityHeaders(): the defaults on an answer the handler wrote with writeHead', async (t) => {
  const h2 = await served(
    t,
    compose(securityHeaders())((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('nope')
    }),
  )
  const res = await h2.request()
  t.equal(res.status, 404)
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.match(res.headers['content-security-policy'], /^default-src 'none'/)
  t.equal(res.headers['strict-transport-security'], undefined, 'h2c is not https')
})

t.test('HTTP/2 compression(): gzip above the threshold, exact Content-Length below it', async (t) => {
  const h2 = await served(
    t,
    compose(compression())((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ pad: req.url === '/big' ? 'z'.repeat(5000) : 'small' }))
    }),
  )
  const big = await h2.request({ ':path': '/big', 'accept-encoding': 'gzip' })
  t.equal(big.headers['content-encoding'], 'gzip')
  t.same(JSON.parse(gunzipSync(big.body).toString()), { pad: 'z'.repeat(5000) })
  const small = await h2.request({ 'accept-encoding': 'gzip' })
  t.equal(small.headers['content-encoding'], undefined)
  t.equal(small.headers['content-length'], String(small.body.length))
})

t.test('HTTP/2 conditional(): a computed ETag, then 304 and 412 on the same connection', async (t) => {
  const h2 = await served(
    t,
    compose(conditional({ etag: true }))((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ version: 1 }))
    }),
  )
  const first = await h2.request()
  t.equal(first.status, 200)
  t.match(first.headers.etag, /^"[A-Za-z0-9_-]{22}"$/)
  const tag = String(first.headers.etag)
  const revalidated = await h2.request({ 'if-none-match': `W/${tag}` })
  t.equal(revalidated.status, 304)
  t.equal(revalidated.body.length, 0)
  const refused = await h2.request({ 'if-match': '"stale"' })
  t.equal(refused.status, 412)
  t.equal(JSON.parse(refused.body.toString()).code, 'precondition_failed')
})

t.test('HTTP/2 rateLimit(): streams of one connection share the client key; the one over gets 429', async (t) => {
  const h2 = await served(
    t,
    compose(rateLimit({ limit: 2, windowMs: 60_000 }))((_req, res) => res.end('ok')),
  )
  const answers = await Promise.all([h2.request(), h2.request(), h2.request()])
  t.same(answers.map((a) => a.status).sort(), [200, 200, 429])
  const limited = answers.find((a) => a.status === 429)!
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal(limited.headers['ratelimit-policy'], '"default";q=2;w=60')
})

t.test('HTTP/2 apiKey(): 401 with a challenge, the identity with a key', async (t) => {
  const auth = apiKey({ keys: [{ key: 'h2-sweep-key-0123456789', id: 'partner' }] })
  const h2 = await served(
    t,
    compose(auth)((req, res) => res.end(auth.get(req).id)),
  )
  const refused = await h2.request()
  t.equal(refused.status, 401)
  t.equal(refused.headers['www-authenticate'], 'ApiKey header="x-api-key"')
  t.equal((await h2.request({ 'x-api-key': 'h2-sweep-key-0123456789' })).text, 'partner')
})

t.test('HTTP/2 jwtAuth(): 401 without a token, the claims with one', async (t) => {
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('bob')
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))
  const h2 = await served(
    t,
    compose(jwtAuth({ secret: SECRET }))((req, res) => res.end(String(getJwtClaims(req).sub))),
  )
  const refused = await h2.request()
  t.equal(refused.status, 401)
  t.equal(refused.headers['www-authenticate'], 'Bearer')
  t.equal((await h2.request({ authorization: `Bearer ${token}` })).text, 'bob')
})

t.test('HTTP/2 errorBoundary(): a 500 before headers; after headers only that stream is reset', async (t) => {
  const reports: ErrorReport[] = []
  const h2 = await served(
    t,
    compose(
      errorBoundary({
        onError: (r) => {
          reports.push(r)
        },
      }),
    )(async (req, res) => {
      if (req.url === '/late') {
        res.write('partial')
        await sleep(1)
        throw new Error('late failure')
      }
      if (req.url === '/early') throw new Error('early failure')
      res.end('fine')
    }),
  )
  const early = await h2.request({ ':path': '/early' })
  t.equal(early.status, 500)
  t.match(jsonOf(early), { code: 'internal_server_error', message: 'Internal Server Error' })
  const late = await h2.request({ ':path': '/late' }).then(
    () => undefined,
    (err: Error & { rstCode?: number; received?: string }) => err,
  )
  t.equal(late?.received, 'partial', 'the client sees a broken response, not a complete one')
  t.equal(late?.rstCode, 2, 'RST_STREAM INTERNAL_ERROR')
  t.equal((await h2.request()).text, 'fine', 'the connection and its other streams go on')
  t.same(
    reports.map((r) => r.action),
    ['answered', 'destroyed'],
  )
})

t.test('HTTP/2 timeout(): 503 at the deadline; past maxDurationMs only the stream is reset', async (t) => {
  let aborted = 0
  const h2 = await served(
    t,
    compose(
      timeout({
        ms: 10_000,
        perPath: [
          { paths: ['/slow'], ms: 1 },
          { paths: ['/stream'], ms: 1, maxDurationMs: 20 },
        ],
      }),
    )((req, res) => {
      getRequestSignal(req).addEventListener('abort', () => {
        aborted++
      })
      if (req.url === '/stream') res.write('streaming forever')
      else if (req.url !== '/slow') res.end('fast')
    }),
  )
  const slow = await h2.request({ ':path': '/slow' })
  t.equal(slow.status, 503)
  t.match(jsonOf(slow), { code: 'timeout' })
  const cut = await h2.request({ ':path': '/stream' }).then(
    () => undefined,
    (err: Error & { rstCode?: number; status?: number; received?: string }) => err,
  )
  t.equal(cut?.status, 200, 'headers were out in time')
  t.equal(cut?.received, 'streaming forever')
  t.equal(cut?.rstCode, 2, 'the stream was reset (RST_STREAM INTERNAL_ERROR) at the maximum duration')
  t.equal((await h2.request()).text, 'fast', 'the connection survives')
  t.equal(aborted, 2)
})

t.test(
  'HTTP/2 bodyLimit(): 413 without a Connection header; the stream is closed, the connection is not',
  async (t) => {
    const h2 = await served(
      t,
      compose(
        errorBoundary({ onError: () => undefined }),
        bodyLimit({ limit: 1024 }),
      )(async (req, res) => {
        let n = 0
        for await (const chunk of req) n += (chunk as Buffer).length
        res.end(`read ${n}`)
      }),
    )
    const declared = await h2
      .request({ ':method': 'POST', 'content-length': '2048' }, 'x'.repeat(2048))
      .catch((err: Error & { status?: number }) => err)
    t.equal((declared as { status: number }).status, 413)
    const streamed = await h2
      .request({ ':method': 'POST' }, 'y'.repeat(4096))
      .catch((err: Error & { status?: number }) => err)
    t.equal((streamed as { status: number }).status, 413)
    if (!(streamed instanceof Error))
      t.equal(streamed.headers.connection, undefined, 'Connection is forbidden in HTTP/2 (RFC 9113 §8.2.2)')
    t.equal(
      (await h2.request({ ':method': 'POST' }, 'z'.repeat(1024))).text,
      'read 1024',
      'the connection still serves',
    )
  },
)

t.test('HTTP/2 requestDecompression(): the handler reads the decoded body; an unknown coding gets 415', async (t) => {
  const h2 = await served(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      requestDecompression(),
    )(async (req, res) => {
      let text = ''
      for await (const chunk of req) text += String(chunk)
      res.end(`${req.headers['content-encoding'] ?? 'none'}|${text}`)
    }),
  )
  const body = 'hello over h2c '.repeat(100)
  const decoded = await h2.request({ ':method': 'POST', 'content-encoding': 'gzip' }, gzipSync(body))
  t.equal(decoded.status, 200)
  t.equal(decoded.text, `none|${body}`, 'Content-Encoding is gone and the bytes are decoded')
  const unknown = await h2
    .request({ ':method': 'POST', 'content-encoding': 'compress' }, 'x')
    .catch((err: Error & { status?: number }) => err)
  t.equal((unknown as { status: number }).status, 415)
  t.equal((await h2.request({ ':method': 'POST' }, 'plain')).text, 'none|plain', 'the connection still serves')
})

t.test('HTTP/2 bodyCapture(): copies the start of a JSON body the handler reads', async (t) => {
  const h2 = await served(
    t,
    compose(bodyCapture({ maxBytes: 16 }))(async (req, res) => {
      for await (const _ of req) {
        /* drain */
      }
      const captured = getCapturedBody(req)
      res.end(`${captured.text()}|${captured.seenBytes}|${captured.truncated}`)
    }),
  )
  const res = await h2.request(
    { ':method': 'POST', 'content-type': 'application/json' },
    '{"user":"carol","note":"long enough"}',
  )
  t.equal(res.text, '{"user":"carol",|37|true')
})

t.test('HTTP/2 loadShedding(): concurrent streams past maxInFlight are shed with 503', async (t) => {
  const shedding = loadShedding({ maxInFlight: 1, maxEventLoopDelayMs: 0 })
  t.teardown(() => shedding.close())
  let release!: () => void
  const held = new Promise<void>((ok) => {
    release = ok
  })
  let entered!: () => void
  const inside = new Promise<void>((ok) => {
    entered = ok
  })
  const h2 = await served(
    t,
    compose(shedding)(async (req, res) => {
      if (req.url === '/hold') {
        entered()
        await held
      }
      res.end('served')
    }),
  )
  const first = h2.request({ ':path': '/hold' })
  await inside
  const shed = await h2.request()
  t.equal(shed.status, 503)
  t.match(jsonOf(shed), { status: 503 })
  release()
  t.equal((await first).text, 'served')
  t.equal((await h2.request()).text, 'served', 'the slot is free again')
})

t.test('HTTP/2 hooks(): before, after and teardown; teardown has no byte count', async (t) => {
  let ended!: (info: ResponseEndInfo) => void
  const teardown = new Promise<ResponseEndInfo>((ok) => {
    ended = ok
  })
  const h2 = await served(
    t,
    compose(
      hooks({
        before: (req) => {
          req.headers['x-before'] = 'ran'
        },
        after: (_req, res) => {
          res.setHeader('x-after', String(res.statusCode))
        },
        teardown: (_req, _res, info) => {
          ended(info)
        },
      }),
    )((req, res) => {
      res.statusCode = 202
      res.end(String(req.headers['x-before']))
    }),
  )
  const res = await h2.request()
  t.equal(res.text, 'ran')
  t.equal(res.headers['x-after'], '202')
  const info = await teardown
  t.match(info, { outcome: 'finished', status: 202, bytesWritten: undefined })
})

t.test('HTTP/2 when() and unless(): path filters on the matchable form of :path', async (t) => {
  const mark =
    (name: string): Middleware =>
    (next) =>
    (req, res) => {
      res.setHeader(`x-${name}`, 'ran')
      return next(req, res)
    }
  const h2 = await served(
    t,
    compose(
      when({ paths: ['/admin/*'] }, mark('guard')),
      unless({ paths: ['/health'] }, mark('log')),
    )((_req, res) => res.end()),
  )
  for (const path of ['/admin/x', '/%61dmin/x', '//ADMIN/x', '/public/../admin/x']) {
    t.equal((await h2.request({ ':path': path })).headers['x-guard'], 'ran', path)
  }
  t.equal((await h2.request({ ':path': '/public' })).headers['x-guard'], undefined)
  t.equal((await h2.request({ ':path': '/health' })).headers['x-log'], undefined)
  t.equal(
    (await h2.request({ ':path': '/HEALTH/' })).headers['x-log'],
    undefined,
    'case and a trailing slash are the same path',
  )
  t.equal(
    (await h2.request({ ':path': '/%68ealth' })).headers['x-log'],
    'ran',
    'an escaped unreserved character is ambiguous: no exemption',
  )
  t.equal(
    (await h2.request({ ':path': '/admin/..%2fhealth' })).headers['x-guard'],
    'ran',
    'nor a detour through an escaped separator',
  )
})

t.test('HTTP/2 mount(): the sub-stack sees the path after the prefix', async (t) => {
  const h2 = await served(
    t,
    compose(mount('/admin', (req, res) => res.end(`admin ${req.url}`)))((req, res) => res.end(`outer ${req.url}`)),
  )
  t.equal((await h2.request({ ':path': '/admin/users?page=2' })).text, 'admin /users?page=2')
  t.equal((await h2.request({ ':path': '/%61dmin/users' })).text, 'admin /users')
  t.equal((await h2.request({ ':path': '/administrator' })).text, 'outer /administrator')
})

t.test(
  'HTTP/2 session(): the cookie round trip, with the Cookie header split into crumbs (RFC 9113 §8.2.3)',
  async (t) => {
    const sessions = session<{ visits: number }>({ secrets: ['h2-sweep-session-secret-0123456789ab'] })
    const h2 = await served(
      t,
      compose(sessions)((req, res) => {
        const s = getSession<{ visits: number }>(req)
        s.set('visits', (s.get('visits') ?? 0) + 1)
        res.end(String(s.get('visits')))
      }),
    )
    const first = await h2.request()
    t.equal(first.text, '1')
    const setCookie = first.headers['set-cookie']
    const cookie = (Array.isArray(setCookie) ? setCookie[0]! : String(setCookie)).split(';', 1)[0]!
    t.match(cookie, /^session=/)
    const second = await h2.request({ cookie: ['theme=dark', cookie, 'lang=en'] })
    t.equal(second.text, '2', 'the session cookie is found among the crumbs')
  },
)

t.test('HTTP/2 metrics(): one series per route template, counted per stream', async (t) => {
  const m = metrics({ route: (req) => (req.url?.startsWith('/users/') ? '/users/:id' : undefined) })
  const h2 = await served(
    t,
    compose(m, mount('/metrics', m.registry.handler))((_req, res) => res.end('ok')),
  )
  for (const path of ['/users/1', '/users/2', '/users/3']) t.equal((await h2.request({ ':path': path })).text, 'ok')
  const scrape = (await h2.request({ ':path': '/metrics' })).text
  t.match(scrape, /http_requests_total\{method="GET",route="\/users\/:id",status="2xx"\} 3\n/)
  t.notMatch(scrape, /\/users\/1/, 'no raw path in a label')
})

t.test('HTTP/2 csrf(): a cross-site POST is refused, a same-origin one passes, on :authority', async (t) => {
  const h2 = await served(
    t,
    compose(csrf())((_req, res) => res.end('posted')),
  )
  const cross = await h2.request({ ':method': 'POST', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })
  t.equal(cross.status, 403)
  t.match(JSON.parse(cross.text), { code: 'csrf_cross_origin' })
  const same = await h2.request({ ':method': 'POST', 'sec-fetch-site': 'same-origin' })
  t.equal(same.text, 'posted')
})

t.test('HTTP/2 ipFilter(): judges the peer of the session, per stream', async (t) => {
  const allowed = await served(
    t,
    compose(ipFilter({ allow: ['loopback'] }))((_req, res) => res.end('in')),
  )
  t.equal((await allowed.request()).text, 'in')
  const denied = await served(
    t,
    compose(ipFilter({ deny: ['loopback'] }))((_req, res) => res.end('in')),
  )
  const refused = await denied.request()
  t.equal(refused.status, 403)
  t.match(JSON.parse(refused.text), { code: 'ip_forbidden' })
  t.equal((await denied.request()).status, 403, 'the session stays usable after a refusal')
})

t.test('HTTP/2 basicAuth() and anyOf(): one 401 listing both schemes, either credential admits', async (t) => {
  const basic = basicAuth({ users: [{ user: 'ops', password: 'h2 sweep password' }], realm: 'h2' })
  const key = apiKey({ keys: [{ key: 'h2-sweep-key-0123456789', id: 'partner' }] })
  const h2 = await served(
    t,
    compose(anyOf(key, basic))((req, res) => res.end(getUserId(req))),
  )
  const refused = await h2.request()
  t.equal(refused.status, 401)
  t.match(refused.headers['www-authenticate'], /ApiKey/)
  t.match(refused.headers['www-authenticate'], /Basic realm="h2"/)
  const authorization = `Basic ${Buffer.from('ops:h2 sweep password').toString('base64')}`
  t.equal((await h2.request({ authorization })).text, 'ops')
  t.equal((await h2.request({ 'x-api-key': 'h2-sweep-key-0123456789' })).text, 'partner')
  const alone = await served(
    t,
    compose(basic)((req, res) => res.end(getUserId(req))),
  )
  t.equal((await alone.request()).status, 401)
  t.equal((await alone.request({ authorization })).text, 'ops')
})

t.test('HTTP/2 sweep: every middleware module exported by lib/index.ts has its test here', async (t) => {
  const index = readFileSync('lib/index.ts', 'utf8')
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8')
  const modules = [...index.matchAll(/from '\.\/middleware\/([\w-]+)\/[\w-]+\.js'/g)].map((m) => m[1]!)
  // A module's factory is its name in camelCase (cors-origin.ts and the like export helpers only).
  const factories = [...new Set(modules)]
    .map((file) => file.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()))
    .filter((name) => new RegExp(`\\b${name}\\b`).test(index))
  factories.push('unless')
  t.ok(factories.length >= 23, `found ${factories.length} factories`)
  for (const name of factories)
    t.ok(self.includes(`'HTTP/2 ${name}()`) || self.includes(`and ${name}()`), `${name}() is exercised over HTTP/2`)
})
