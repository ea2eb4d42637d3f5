import t, { type Test } from 'tap'
import {
  compose,
  type ErrorFormat,
  type ErrorResponseInfo,
  errorBoundary,
  HttpError,
  type RawHandler,
  sendError,
} from '../../lib/index.js'
import { onResponseStart, refusalState, requestIdState } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'
import { httpRequest } from '../helpers/http.js'
import { captureWarnings, until } from '../helpers/wait.js'

t.test('sendError(): the one JSON shape, with the request id and details', async (t) => {
  const url = await serve(t, (req, res) => {
    requestIdState.set(req, 'req-1')
    sendError(
      req,
      res,
      new HttpError(429, 'Slow down', {
        headers: { 'retry-after': '3' },
        details: { retryAfterSeconds: 3, status: 200 },
      }),
    )
  })
  const res = await httpRequest(url)
  t.equal(res.status, 429)
  t.same(JSON.parse(res.text), {
    retryAfterSeconds: 3,
    status: 429,
    code: 'too_many_requests',
    message: 'Slow down',
    requestId: 'req-1',
  })
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(res.headers['content-length'], String(res.body.length))
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['retry-after'], '3')
})

t.test('sendError(): a 5xx that is not exposed hides its message', async (t) => {
  const url = await serve(t, (req, res) => {
    sendError(req, res, new HttpError(500, 'password=hunter2 in SQL'))
  })
  const body = JSON.parse((await httpRequest(url)).text) as { message: string }
  t.equal(body.message, 'Internal Server Error')
})

t.test('sendError(): plain text for a client that prefers it, JSON for */* and browsers', async (t) => {
  const url = await serve(t, (req, res) => {
    requestIdState.set(req, 'r9')
    sendError(req, res, new HttpError(404))
  })
  const text = await httpRequest(url, { headers: { accept: 'text/plain' } })
  t.equal(text.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(text.text, '404 not_found: Not Found (request r9)\n')
  for (const accept of ['*/*', 'text/html,application/xhtml+xml,*/*;q=0.8', 'application/json']) {
    t.equal(
      (await httpRequest(url, { headers: { accept } })).headers['content-type'],
      'application/json; charset=utf-8',
      accept,
    )
  }
})

t.test(
  'sendError(): drops the representation the handler had begun, keeps other headers, runs start listeners',
  async (t) => {
    const url = await serve(t, (req, res) => {
      onResponseStart(res, (res) => res.setHeader('x-from-listener', 'yes'))
      res.setHeader('content-encoding', 'gzip')
      res.setHeader('etag', '"abc"')
      res.setHeader('access-control-allow-origin', 'https://a.example')
      sendError(req, res, new HttpError(503))
    })
    const res = await httpRequest(url)
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers.etag, undefined)
    t.equal(res.headers['access-control-allow-origin'], 'https://a.example')
    t.equal(res.headers['x-from-listener'], 'yes')
  },
)

t.test('sendError(): returns false and sends nothing once headers are sent', async (t) => {
  let result: boolean | undefined
  const url = await serve(t, (req, res) => {
    res.writeHead(200)
    result = sendError(req, res, new HttpError(500))
    res.end('ok')
  })
  t.equal((await httpRequest(url)).text, 'ok')
  t.equal(result, false)
})

t.test('sendError(): HEAD gets the headers and no body', async (t) => {
  const url = await serve(t, (req, res) => {
    sendError(req, res, new HttpError(401))
  })
  const res = await httpRequest(url, { method: 'HEAD' })
  t.equal(res.status, 401)
  t.equal(res.body.length, 0)
  t.ok(Number(res.headers['content-length']) > 0)
})

t.test('sendError(): records the error it answers with in refusalState, for layers that count refusals', async (t) => {
  const error = new HttpError(503, 'Busy', { code: 'overloaded' })
  let seen: HttpError | undefined
  const url = await serve(t, (req, res) => {
    t.equal(refusalState.tryGet(req), undefined, 'nothing before')
    res.on('finish', () => {
      seen = refusalState.tryGet(req)
    })
    sendError(req, res, error)
  })
  t.equal((await httpRequest(url)).status, 503)
  t.equal(seen, error)
})

/** Serve `handler` inside an errorBoundary with `format`, as a stack would. */
const inFormat = (t: Test, format: ErrorFormat, handler: RawHandler) =>
  serve(t, compose(errorBoundary({ format, onError: () => undefined }))(handler))

const refuse429: RawHandler = (req, res) => {
  requestIdState.set(req, 'req-1')
  res.setHeader('ratelimit', '"default";r=0;t=3')
  sendError(
    req,
    res,
    new HttpError(429, 'Slow down', { headers: { 'retry-after': '3' }, details: { retryAfterSeconds: 3 } }),
  )
}

t.test('sendError(): problem format: RFC 9457 members, the rest as extension members', async (t) => {
  const url = await inFormat(t, 'problem', refuse429)
  const res = await httpRequest(`${url}/orders?token=secret`)
  t.equal(res.status, 429)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(res.headers['content-length'], String(res.body.length))
  t.equal(res.headers['retry-after'], '3')
  t.equal(res.headers.ratelimit, '"default";r=0;t=3')
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(JSON.parse(res.text), {
    type: 'about:blank',
    title: 'Too Many Requests',
    status: 429,
    detail: 'Slow down',
    instance: '/orders',
    code: 'too_many_requests',
    requestId: 'req-1',
    details: { retryAfterSeconds: 3 },
  })
  const text = await httpRequest(url, { headers: { accept: 'text/plain' } })
  t.equal(text.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(text.text, '429 too_many_requests: Slow down (request req-1)\n')
  const problem = await httpRequest(url, { headers: { accept: 'application/problem+json, text/plain;q=0.5' } })
  t.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8')
})

t.test('sendError(): problem format: a hidden 5xx message stays hidden; no details, no member', async (t) => {
  const url = await inFormat(t, 'problem', (req, res) => {
    sendError(req, res, new HttpError(500, 'password=hunter2 in SQL'))
  })
  const body = JSON.parse((await httpRequest(url)).text) as Record<string, unknown>
  t.same(body, {
    type: 'about:blank',
    title: 'Internal Server Error',
    status: 500,
    detail: 'Internal Server Error',
    instance: '/',
    code: 'internal_server_error',
  })
})

t.test('sendError(): a custom format gets the error and writes the body itself', async (t) => {
  let seen: ErrorResponseInfo | undefined
  const url = await inFormat(
    t,
    (info) => {
      seen = info
      info.res.setHeader('content-type', 'application/xml')
      info.res.end(`<error code="${info.code}" status="${info.status}"/>`)
    },
    refuse429,
  )
  const res = await httpRequest(url)
  t.equal(res.status, 429)
  t.equal(res.headers['content-type'], 'application/xml')
  t.equal(res.text, '<error code="too_many_requests" status="429"/>')
  t.equal(res.headers['retry-after'], '3', 'the refusal headers are set before the format runs')
  t.equal(res.headers.ratelimit, '"default";r=0;t=3')
  t.match(seen, {
    status: 429,
    code: 'too_many_requests',
    message: 'Slow down',
    details: { retryAfterSeconds: 3 },
    requestId: 'req-1',
    error: HttpError,
  })
  t.ok(seen?.req && seen.res)
})

t.test('sendError(): a custom format may return the body: a string as text, an object as JSON', async (t) => {
  const text = await inFormat(t, ({ message }) => `Sorry: ${message}`, refuse429)
  const a = await httpRequest(text)
  t.equal(a.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(a.headers['content-length'], String(a.body.length))
  t.equal(a.text, 'Sorry: Slow down')
  const json = await inFormat(t, ({ code, requestId }) => ({ error: { code, requestId } }), refuse429)
  const b = await httpRequest(json)
  t.equal(b.headers['content-type'], 'application/json; charset=utf-8')
  t.same(JSON.parse(b.text), { error: { code: 'too_many_requests', requestId: 'req-1' } })
  const head = await httpRequest(json, { method: 'HEAD' })
  t.equal(head.status, 429)
  t.equal(head.body.length, 0)
})

t.test('sendError(): a custom format that fails: the default JSON answers, and the mistake is reported', async (t) => {
  const seen = captureWarnings(t)
  const cases: Record<string, ErrorFormat> = {
    throws: (info) => {
      info.res.setHeader('content-type', 'application/xml')
      throw new Error('format bug')
    },
    'writes nothing': () => undefined,
    'returns a promise': async () => ({ late: true }),
    'returns a function': () => () => 1,
    'returns a cycle': () => {
      const o: Record<string, unknown> = {}
      o.self = o
      return o
    },
  }
  for (const [name, format] of Object.entries(cases)) {
    const res = await httpRequest(await inFormat(t, format, refuse429))
    t.equal(res.status, 429, name)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8', name)
    t.equal(res.headers['retry-after'], '3', name)
    t.match(JSON.parse(res.text), { status: 429, code: 'too_many_requests', requestId: 'req-1' }, name)
  }
  await until(() => seen.length >= 5)
  t.ok(seen.some((w) => /the error format threw: format bug/.test(w.message)))
  t.ok(seen.some((w) => /neither ended the response nor returned a body/.test(w.message)))
  t.ok(seen.some((w) => /returned a promise; it must be synchronous/.test(w.message)))
  t.ok(seen.some((w) => /returned function, not a body/.test(w.message)))
  t.ok(seen.some((w) => /body the error format returned is not JSON/.test(w.message)))
})

t.test(
  'sendError(): a custom format that fails after sending headers: the body is ended or cut, never hangs',
  async (t) => {
    const seen = captureWarnings(t)
    const started = await inFormat(
      t,
      ({ res }) => {
        res.write('partial')
      },
      refuse429,
    )
    const ended = await httpRequest(started)
    t.equal(ended.status, 429)
    t.equal(ended.text, 'partial')
    const cut = await inFormat(
      t,
      ({ res }) => {
        res.write('partial')
        throw new Error('late bug')
      },
      refuse429,
    )
    await t.rejects(httpRequest(cut), 'the connection is cut: a half body is not passed off as complete')
    await until(() => seen.length >= 2)
    t.ok(seen.some((w) => /the error format threw: late bug/.test(w.message)))
  },
)
