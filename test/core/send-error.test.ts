import t from 'tap'
import { HttpError, sendError } from '../../lib/index.js'
import { onResponseStart, refusalState, requestIdState } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'
import { httpRequest } from '../helpers/http.js'

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
