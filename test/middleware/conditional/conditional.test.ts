import { gunzipSync } from 'node:zlib'
import express from 'express'
import t, { type Test } from 'tap'
import { toExpress } from '../../../adapters/express.js'
import {
  checkPreconditions,
  compose,
  compression,
  conditional,
  type ConditionalOptions,
  type RawHandler,
} from '../../../lib/index.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { httpRequest, type HttpResult } from '../../helpers/http.js'
import { listen, serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, until } from '../../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

const ETAG = '"v1"'
const LAST_MODIFIED = 'Sun, 06 Nov 2022 08:49:37 GMT'
const BEFORE = 'Sat, 05 Nov 2022 08:49:37 GMT'
const AFTER = 'Mon, 07 Nov 2022 08:49:37 GMT'
const NOW = Date.parse('2023-01-01T00:00:00Z')
const FUTURE = 'Tue, 02 Jan 2024 00:00:00 GMT'
const BODY = JSON.stringify({ hello: 'world' })

/** The representation every table row is evaluated against. */
const representation: RawHandler = (_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.setHeader('etag', ETAG)
  res.setHeader('last-modified', LAST_MODIFIED)
  res.setHeader('cache-control', 'max-age=60')
  res.setHeader('vary', 'Accept')
  res.setHeader('expires', 'Sun, 01 Jan 2023 00:01:00 GMT')
  res.end(BODY)
}

const app = (handler: RawHandler, options: ConditionalOptions = {}) =>
  compose(conditional({ now: () => NOW, ...options }))(handler)

// RFC 9110 §13.2.2, row by row: request headers → expected status.
const PRECEDENCE: ReadonlyArray<readonly [string, Record<string, string | string[]>, number]> = [
  ['no precondition', {}, 200],
  ['If-Match names the strong tag', { 'if-match': ETAG }, 200],
  ['If-Match with the weak form never matches (strong comparison)', { 'if-match': 'W/"v1"' }, 412],
  ['If-Match names another tag', { 'if-match': '"v2"' }, 412],
  ['If-Match list containing the tag', { 'if-match': '"v2", "v1"' }, 200],
  ['If-Match list with empty members and no spaces', { 'if-match': ',"v2",,"v1"' }, 200],
  ['If-Match: *', { 'if-match': '*' }, 200],
  ['If-Match unquoted garbage fails safe', { 'if-match': 'v1' }, 412],
  ['If-Match with a garbage member before the tag', { 'if-match': '"v2"x, "v1"' }, 200],
  ['If-Match with an unterminated quote', { 'if-match': '"v1' }, 412],
  ['If-Unmodified-Since after Last-Modified', { 'if-unmodified-since': AFTER }, 200],
  ['If-Unmodified-Since equal to Last-Modified', { 'if-unmodified-since': LAST_MODIFIED }, 200],
  ['If-Unmodified-Since before Last-Modified', { 'if-unmodified-since': BEFORE }, 412],
  ['If-Unmodified-Since invalid is ignored', { 'if-unmodified-since': 'yesterday' }, 200],
  ['If-Unmodified-Since ignored when If-Match is present', { 'if-match': ETAG, 'if-unmodified-since': BEFORE }, 200],
  ['If-None-Match names the tag', { 'if-none-match': ETAG }, 304],
  ['If-None-Match with the weak form matches (weak comparison, hono#4170)', { 'if-none-match': 'W/"v1"' }, 304],
  ['If-None-Match names another tag', { 'if-none-match': '"v2"' }, 200],
  ['If-None-Match list containing the weak form', { 'if-none-match': '"v2", W/"v1"' }, 304],
  ['If-None-Match: * (hono#5083)', { 'if-none-match': '*' }, 304],
  ['If-None-Match garbage matches nothing', { 'if-none-match': 'v1' }, 200],
  ['If-None-Match tag with the quotes inside out', { 'if-none-match': 'W/v1"' }, 200],
  ['If-Modified-Since after Last-Modified', { 'if-modified-since': AFTER }, 304],
  ['If-Modified-Since equal to Last-Modified', { 'if-modified-since': LAST_MODIFIED }, 304],
  ['If-Modified-Since before Last-Modified', { 'if-modified-since': BEFORE }, 200],
  ['If-Modified-Since invalid is ignored', { 'if-modified-since': '2022-11-07' }, 200],
  ['If-Modified-Since impossible date is ignored', { 'if-modified-since': 'Thu, 31 Feb 2022 08:49:37 GMT' }, 200],
  ['If-Modified-Since in the future is ignored', { 'if-modified-since': FUTURE }, 200],
  ['If-Modified-Since in RFC 850 form', { 'if-modified-since': 'Monday, 07-Nov-22 08:49:37 GMT' }, 304],
  ['If-Modified-Since in asctime form', { 'if-modified-since': 'Mon Nov  7 08:49:37 2022' }, 304],
  ['If-Modified-Since sent twice is ignored', { 'if-modified-since': [AFTER, AFTER] }, 200],
  [
    'If-Modified-Since ignored when If-None-Match is present (jshttp/fresh#35)',
    { 'if-none-match': '"v2"', 'if-modified-since': AFTER },
    200,
  ],
  [
    'If-None-Match match wins over an old If-Modified-Since',
    { 'if-none-match': ETAG, 'if-modified-since': BEFORE },
    304,
  ],
  ['If-Match is evaluated before If-None-Match', { 'if-match': '"v2"', 'if-none-match': ETAG }, 412],
  [
    'If-Unmodified-Since is evaluated before If-None-Match',
    { 'if-unmodified-since': BEFORE, 'if-none-match': ETAG },
    412,
  ],
  ['If-Match holds, then If-None-Match matches', { 'if-match': ETAG, 'if-none-match': ETAG }, 304],
]

t.test('conditional(): RFC 9110 §13.2.2 precedence, row by row, GET', async (t) => {
  const url = await serve(t, app(representation))
  for (const [name, headers, status] of PRECEDENCE) {
    const res = await httpRequest(url, { headers })
    t.equal(res.status, status, name)
    if (status === 200) t.equal(res.text, BODY, `${name}: body`)
    if (status === 304) assertNotModified(t, res, name)
    if (status === 412) assertPreconditionFailed(t, res, name)
  }
})

t.test('conditional(): the same table for HEAD, never with a body', async (t) => {
  const url = await serve(t, app(representation))
  for (const [name, headers, status] of PRECEDENCE) {
    const res = await httpRequest(url, { method: 'HEAD', headers })
    t.equal(res.status, status, name)
    t.equal(res.body.length, 0, `${name}: no body`)
  }
})

t.test('conditional(): a 304 keeps the cache headers and drops the representation metadata', async (t) => {
  const url = await serve(t, app(representation))
  const res = await httpRequest(url, { headers: { 'if-none-match': ETAG } })
  t.equal(res.status, 304)
  t.equal(res.headers.etag, ETAG)
  t.equal(res.headers['cache-control'], 'max-age=60')
  t.equal(res.headers.vary, 'Accept')
  t.equal(res.headers.expires, 'Sun, 01 Jan 2023 00:01:00 GMT')
  t.equal(res.headers['last-modified'], LAST_MODIFIED)
  t.ok(res.headers.date)
  t.equal(res.headers['content-type'], undefined)
  t.equal(res.headers['content-length'], undefined)
  t.equal(res.headers['transfer-encoding'], undefined)
})

t.test('conditional(): a 412 has the common error shape and no validators', async (t) => {
  const url = await serve(t, app(representation))
  const res = await httpRequest(url, { headers: { 'if-match': '"v2"' } })
  t.equal(res.status, 412)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(res.text), {
    precondition: 'if-match',
    status: 412,
    code: 'precondition_failed',
    message: 'Precondition Failed',
  })
  t.equal(res.headers.etag, undefined)
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('conditional(): the keep-alive connection stays in step after 304 and 412', async (t) => {
  const url = await serve(t, app(representation))
  const a = await httpRequest(url, { headers: { 'if-none-match': ETAG }, close: false })
  const b = await httpRequest(url, { headers: { 'if-match': '"v2"' }, close: false })
  const c = await httpRequest(url, { close: false })
  t.same([a.status, b.status, c.status], [304, 412, 200])
  t.equal(c.text, BODY)
})

t.test('conditional(): non-2xx and non-200 answers are left alone (RFC 9110 §13.2.1)', async (t) => {
  for (const status of [404, 500, 201, 206]) {
    const url = await serve(
      t,
      app((_req, res) => {
        res.statusCode = status
        res.setHeader('etag', ETAG)
        res.setHeader('last-modified', LAST_MODIFIED)
        res.end('answer')
      }),
    )
    const rows: Record<string, string>[] = [
      { 'if-none-match': ETAG },
      { 'if-match': '"v2"' },
      { 'if-modified-since': AFTER },
    ]
    for (const headers of rows) {
      const res = await httpRequest(url, { headers })
      t.equal(res.status, status, `${status} with ${Object.keys(headers)[0]}`)
      t.equal(res.text, 'answer')
    }
  }
})

t.test("conditional(): a 204 and the handler's own 304 go out as written", async (t) => {
  const url = await serve(
    t,
    app((req, res) => {
      res.statusCode = req.url === '/own' ? 304 : 204
      res.setHeader('etag', ETAG)
      res.end()
    }),
  )
  const rows: Record<string, string>[] = [{ 'if-match': '"v2"' }, { 'if-none-match': ETAG }, {}]
  for (const headers of rows) {
    const none = await httpRequest(`${url}/none`, { headers })
    t.equal(none.status, 204)
    t.equal(none.headers.etag, ETAG)
    const own = await httpRequest(`${url}/own`, { headers })
    t.equal(own.status, 304)
    t.equal(own.body.length, 0)
  }
})

t.test('conditional(): a response without validators is never 304 nor 412 (except If-Match)', async (t) => {
  const url = await serve(
    t,
    app((_req, res) => res.end('plain')),
  )
  t.equal((await httpRequest(url, { headers: { 'if-none-match': '*' } })).status, 304, '* matches any representation')
  t.equal((await httpRequest(url, { headers: { 'if-none-match': ETAG } })).status, 200)
  t.equal((await httpRequest(url, { headers: { 'if-modified-since': AFTER } })).status, 200)
  t.equal((await httpRequest(url, { headers: { 'if-unmodified-since': BEFORE } })).status, 200)
  t.equal((await httpRequest(url, { headers: { 'if-match': '*' } })).status, 200)
  t.equal((await httpRequest(url, { headers: { 'if-match': ETAG } })).status, 412, 'no tag can match strongly')
})

t.test('conditional(): an unquoted ETag from the handler is no validator', async (t) => {
  const url = await serve(
    t,
    app((_req, res) => {
      res.setHeader('etag', 'v1')
      res.end('x')
    }),
  )
  t.equal((await httpRequest(url, { headers: { 'if-none-match': 'v1' } })).status, 200)
  t.equal((await httpRequest(url, { headers: { 'if-none-match': '"v1"' } })).status, 200)
})

t.test('conditional(): validators passed to writeHead are seen', async (t) => {
  const url = await serve(
    t,
    app((_req, res) => {
      res.writeHead(200, { etag: ETAG, 'content-type': 'text/plain', 'content-length': '2' }).end('ok')
    }),
  )
  const res = await httpRequest(url, { headers: { 'if-none-match': ETAG } })
  t.equal(res.status, 304)
  t.equal(res.headers['content-length'], undefined)
})

t.test('conditional(): an empty end() and a handler that throws', async (t) => {
  const url = await serve(
    t,
    app((req, res) => {
      if (req.url === '/throw') throw new Error('boom')
      res.setHeader('etag', ETAG)
      res.end()
    }),
  )
  const empty = await httpRequest(url, { headers: { 'if-none-match': ETAG } })
  t.equal(empty.status, 304)
  const plain = await httpRequest(url)
  t.equal(plain.status, 200)
  t.equal(plain.text, '')
  const thrown = await httpRequest(`${url}/throw`, { headers: { 'if-match': ETAG } })
  t.equal(thrown.status, 599, 'the error reaches the server unchanged')
})

t.test('conditional(): unsafe methods are not evaluated at response start', async (t) => {
  let acted = 0
  const url = await serve(
    t,
    app((_req, res) => {
      acted++
      res.setHeader('etag', ETAG)
      res.end('done')
    }),
  )
  const res = await httpRequest(url, { method: 'PUT', headers: { 'if-match': '"v2"', 'if-none-match': ETAG } })
  t.equal(res.status, 200, 'the handler acted; a 412 now would say it did not')
  t.equal(acted, 1)
})

t.test('conditional(): warns once when an unsafe request with preconditions succeeds unchecked', async (t) => {
  const warnings = captureWarnings(t)
  const url = await serve(
    t,
    app((req, res) => {
      if (req.url === '/checked' && !checkPreconditions(req, res, { etag: ETAG })) return
      if (req.url === '/refused') res.statusCode = 409
      res.end('done')
    }),
  )
  const put = (path: string, headers: Record<string, string>) => httpRequest(url + path, { method: 'PUT', headers })
  await put('/checked', { 'if-match': ETAG })
  await put('/refused', { 'if-match': ETAG })
  await put('/plain', {})
  t.same(warnings, [], 'checked, refused, or without preconditions: nothing to say')
  await put('/unchecked', { 'if-match': '"v0"' })
  await put('/unchecked', { 'if-none-match': '*' })
  await until(() => warnings.length > 0)
  const ours = warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'HTTP_ONION_UNCHECKED_PRECONDITION')
  t.equal(ours.length, 1, 'once per instance')
  t.equal(ours[0]!.name, 'SecurityWarning')
  t.match(ours[0]!.message, /PUT \/unchecked carried preconditions .* answered 200 without checkPreconditions\(\)/)
})

t.test('checkPreconditions(): refuses an unsafe request before the handler acts', async (t) => {
  let stored: { etag: string; body: string } | null = { etag: '"r1"', body: 'first' }
  let writes = 0
  const url = await serve(
    t,
    app(async (req, res) => {
      if (!checkPreconditions(req, res, stored === null ? null : { etag: stored.etag })) return
      if (req.method === 'PUT') {
        writes++
        stored = { etag: `"r${writes + 1}"`, body: 'next' }
        res.setHeader('etag', stored.etag)
      }
      if (req.method === 'DELETE') stored = null
      res.end(stored?.body ?? 'gone')
    }),
  )
  const stale = await httpRequest(url, { method: 'PUT', headers: { 'if-match': '"r0"' } })
  t.equal(stale.status, 412, 'lost update prevented')
  t.same(JSON.parse(stale.text), {
    precondition: 'if-match',
    status: 412,
    code: 'precondition_failed',
    message: 'Precondition Failed',
  })
  t.equal(writes, 0)
  const fresh = await httpRequest(url, { method: 'PUT', headers: { 'if-match': '"r1"' } })
  t.equal(fresh.status, 200)
  t.equal(fresh.headers.etag, '"r2"')
  t.equal(writes, 1)
  const create = await httpRequest(url, { method: 'PUT', headers: { 'if-none-match': '*' } })
  t.equal(create.status, 412, 'If-None-Match: * on an unsafe method refuses an existing resource')
  t.same(JSON.parse(create.text).precondition, 'if-none-match')
  t.equal((await httpRequest(url, { method: 'DELETE', headers: { 'if-match': '*' } })).status, 200)
  const created = await httpRequest(url, { method: 'PUT', headers: { 'if-none-match': '*' } })
  t.equal(created.status, 200, 'If-None-Match: * lets a create through when nothing exists')
  const gone = await httpRequest(url, { method: 'PUT', headers: { 'if-match': '*' } })
  t.equal(gone.status, 200, 'the resource exists again')
})

t.test('checkPreconditions(): a GET answers 304 before doing the work', async (t) => {
  let rendered = 0
  const url = await serve(t, async (req, res) => {
    const lastModified = new Date(Date.parse(LAST_MODIFIED) + 400)
    if (!checkPreconditions(req, res, { etag: 'W/"cheap"', lastModified })) return
    rendered++
    res.setHeader('etag', 'W/"cheap"')
    res.end('expensive')
  })
  const res = await httpRequest(url, { headers: { 'if-none-match': 'W/"cheap"' } })
  t.equal(res.status, 304)
  t.equal(res.headers.etag, 'W/"cheap"')
  t.equal(rendered, 0)
  t.equal((await httpRequest(url, { headers: { 'if-modified-since': LAST_MODIFIED } })).status, 304, 'ms dropped')
  t.equal((await httpRequest(url, { headers: { 'if-modified-since': BEFORE } })).status, 200)
  t.equal(rendered, 1)
})

t.test('conditional({ etag: true }): a strong ETag from a body handed over whole', async (t) => {
  const url = await serve(
    t,
    app(
      (req, res) => {
        if (req.url === '/two') {
          res.write('{"hello":')
          res.end('"world"}')
          return
        }
        res.setHeader('content-type', 'application/json')
        res.end(BODY)
      },
      { etag: true },
    ),
  )
  const first = await httpRequest(url)
  t.equal(first.status, 200)
  t.equal(first.text, BODY)
  t.match(first.headers.etag, /^"[A-Za-z0-9_-]{22}"$/)
  t.equal(first.headers['content-length'], String(BODY.length))
  const again = await httpRequest(url, { headers: { 'if-none-match': first.headers.etag! } })
  t.equal(again.status, 304)
  t.equal(again.headers.etag, first.headers.etag)
  t.equal(again.headers['content-length'], undefined)
  t.equal(again.body.length, 0)
  const head = await httpRequest(url, { method: 'HEAD' })
  t.equal(head.headers.etag, first.headers.etag, 'HEAD of the same body, same tag')
  t.equal((await httpRequest(url, { headers: { 'if-match': first.headers.etag! } })).status, 200, 'strong')
  // Written as two chunks, then ended: still whole at response start (the second chunk
  // comes with end) only when held; a write() before end starts the response.
  const two = await httpRequest(`${url}/two`)
  t.equal(two.text, BODY)
  t.equal(two.headers.etag, undefined, 'a write before end() streams: not hashed')
})

t.test('conditional({ etag: true }): keeps the handler ETag, skips non-200 and empty HEAD', async (t) => {
  const url = await serve(
    t,
    app(
      (req, res) => {
        if (req.url === '/own') res.setHeader('etag', '"mine"')
        if (req.url === '/missing') res.statusCode = 404
        res.end(req.method === 'HEAD' ? undefined : 'body')
      },
      { etag: true },
    ),
  )
  t.equal((await httpRequest(`${url}/own`)).headers.etag, '"mine"')
  t.equal((await httpRequest(`${url}/missing`)).headers.etag, undefined)
  t.equal((await httpRequest(url, { method: 'HEAD' })).headers.etag, undefined, 'no bytes, no tag')
  t.equal((await httpRequest(url, { method: 'POST' })).headers.etag, undefined, 'unsafe methods are not tagged')
})

t.test('conditional({ etag: true }): a streamed body without validator passes untouched, unbuffered', async (t) => {
  let received = 0
  let handlerDone = false
  let fullWrites = 0
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const url = await serve(
    t,
    app(
      async (_req, res) => {
        res.setHeader('content-type', 'application/octet-stream')
        res.write(chunk)
        // Nothing more is written until the client has the first chunk: a layer that held
        // the body would deadlock here.
        await until(() => received > 0)
        fullWrites = await writeWithBackpressure(res, repeated(chunk, 512)) // 32 MB
        handlerDone = true
        res.end()
      },
      { etag: true },
    ),
  )
  const res = await new Promise<{ status: number; etag: unknown; length: number }>((ok, fail) => {
    import('node:http').then(({ get }) =>
      get(url, { agent: false }, (r) => {
        let length = 0
        r.on('data', (d: Buffer) => {
          received += d.length
          length += d.length
        })
        r.on('end', () => ok({ status: r.statusCode!, etag: r.headers.etag, length }))
        r.on('error', fail)
      }),
    )
  })
  t.equal(res.status, 200)
  t.equal(res.etag, undefined)
  t.equal(res.length, 64 * 1024 * 513)
  t.ok(handlerDone)
  t.ok(fullWrites > 0, 'backpressure reached the handler')
})

t.test('conditional(): a large stream answered 304 or 412 is dropped as it comes, never held', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'b')
  let finished = 0
  const rssBefore = process.memoryUsage().rss
  let rssPeak = rssBefore
  const url = await serve(
    t,
    app(async (_req, res) => {
      res.setHeader('etag', ETAG)
      res.setHeader('content-type', 'application/octet-stream')
      await writeWithBackpressure(res, {
        *[Symbol.iterator]() {
          for (let i = 0; i < 1024; i++) {
            if (i % 64 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
            yield chunk
          }
        },
      }) // 64 MB
      res.end(() => finished++)
    }),
  )
  const notModified = await httpRequest(url, { headers: { 'if-none-match': ETAG } })
  t.equal(notModified.status, 304)
  t.equal(notModified.body.length, 0)
  const failed = await httpRequest(url, { headers: { 'if-match': '"v2"' } })
  t.equal(failed.status, 412)
  t.equal(JSON.parse(failed.text).code, 'precondition_failed')
  await until(() => finished === 2)
  t.ok(rssPeak - rssBefore < 48 * 1024 * 1024, `memory stayed flat: +${((rssPeak - rssBefore) / 1048576) | 0} MB`)
})

t.test('conditional() inside compression(): gzip weakens the ETag, revalidation still matches', async (t) => {
  const big = JSON.stringify({ items: Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}` })) })
  const stack = (options: ConditionalOptions) =>
    compose(
      compression(),
      conditional({ now: () => NOW, ...options }),
    )((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/tagged') res.setHeader('etag', ETAG)
      res.end(big)
    })
  for (const [label, options, path] of [
    ['handler ETag', {}, '/tagged'],
    ['computed ETag', { etag: true }, '/'],
  ] as const) {
    const url = await serve(t, stack(options))
    const gz = { 'accept-encoding': 'gzip' }
    const first = await httpRequest(url + path, { headers: gz })
    t.equal(first.headers['content-encoding'], 'gzip', label)
    t.equal(gunzipSync(first.body).toString(), big)
    const weak = String(first.headers.etag)
    t.match(weak, /^W\/"/, `${label}: compression marked it weak`)
    const identity = await httpRequest(url + path, { headers: { 'accept-encoding': 'identity' } })
    t.equal(weak, `W/${identity.headers.etag}`, `${label}: same tag, weak and strong`)
    const revalidated = await httpRequest(url + path, { headers: { ...gz, 'if-none-match': weak } })
    t.equal(revalidated.status, 304, `${label}: If-None-Match compares weakly`)
    t.equal(revalidated.body.length, 0)
    t.equal(revalidated.headers['content-encoding'], undefined)
    t.match(revalidated.headers.vary, /Accept-Encoding/)
    const update = await httpRequest(url + path, { headers: { ...gz, 'if-match': weak } })
    t.equal(update.status, 412, `${label}: If-Match compares strongly, a weak tag never matches`)
    const strongMatch = await httpRequest(url + path, { headers: { ...gz, 'if-match': identity.headers.etag! } })
    t.equal(strongMatch.status, 200)
    t.equal(gunzipSync(strongMatch.body).toString(), big)
  }
})

t.test('conditional(): through the Express adapter', async (t) => {
  const web = express()
  web.set('etag', false) // Express's own ETag off: the tag comes from conditional()
  web.use(toExpress(conditional({ etag: true })))
  web.get('/doc', (_req, res) => {
    res.type('text/plain').send('express body')
  })
  web.get('/tagged', (_req, res) => {
    res.set('ETag', ETAG).type('text/plain').send('tagged')
  })
  const { url } = await listen(t, (await import('node:http')).createServer(web))
  const first = await httpRequest(`${url}/doc`)
  t.equal(first.text, 'express body')
  t.match(first.headers.etag, /^"/)
  t.equal((await httpRequest(`${url}/doc`, { headers: { 'if-none-match': first.headers.etag! } })).status, 304)
  // Express answers If-None-Match itself (req.fresh) but knows nothing of If-Match.
  const refused = await httpRequest(`${url}/tagged`, { headers: { 'if-match': '"v2"' } })
  t.equal(refused.status, 412)
  t.equal(JSON.parse(refused.text).code, 'precondition_failed')
})

t.test('conditional(): config: etag must be a boolean', async (t) => {
  t.throws(() => conditional({ etag: 'strong' as unknown as boolean }), {
    name: 'ConfigError',
    message: /conditional\(\): option "etag" must be true or false; received "strong" \(string\)/,
  })
})

t.test('conditional(): config: now must be a function', async (t) => {
  t.throws(() => conditional({ now: 5 as unknown as () => number }), {
    name: 'ConfigError',
    message: /option "now" must be a function/,
  })
})

t.test('conditional(): config: unknown options are refused', async (t) => {
  t.throws(() => conditional({ weak: true } as unknown as ConditionalOptions), { name: 'ConfigError' })
})

function assertNotModified(t: Test, res: HttpResult, name: string): void {
  t.equal(res.body.length, 0, `${name}: no body`)
  t.equal(res.headers.etag, ETAG, `${name}: the validator`)
  t.equal(res.headers['content-type'], undefined, `${name}: no Content-Type`)
}

function assertPreconditionFailed(t: Test, res: HttpResult, name: string): void {
  const body = JSON.parse(res.text)
  t.equal(body.code, 'precondition_failed', name)
}
