import { createServer } from 'node:http'
import express, { type NextFunction, type Request, type Response } from 'express'
import express4 from 'express4'
import t from 'tap'
import { toExpress, toExpressErrorHandler } from '../../adapters/express.js'
import { compose, errorBoundary, HttpError, requestId, securityHeaders } from '../../lib/index.js'
import { httpRequest } from '../helpers/http.js'
import { rawExchange } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'

for (const [version, make] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  t.test(`toExpressErrorHandler() on ${version}: route and body-parser errors in the toolkit's shape`, async (t) => {
    const reports: Array<{ status: number }> = []
    const app = make()
    app.use(toExpress(compose(requestId(), securityHeaders())))
    app.use(express.json({ limit: '1kb' }))
    app.post('/orders', (req: Request, res: Response) => {
      res.status(201).json({ got: req.body })
    })
    app.get('/throws', () => {
      throw new Error('SELECT failed on 10.0.0.5')
    })
    app.get('/next-error', (_req: Request, _res: Response, next: NextFunction) => {
      next(new HttpError(409, 'That order was already placed', { code: 'duplicate_order' }))
    })
    app.get('/half', (_req: Request, res: Response, next: NextFunction) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' })
      res.write('partial ')
      setImmediate(() => next(new Error('failed mid-body')))
    })
    app.use(toExpressErrorHandler(errorBoundary({ onError: (report) => void reports.push(report) })))
    const { url } = await listen(t, createServer(app))

    const created = await httpRequest(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"item":"tea"}',
    })
    t.equal(created.status, 201, 'a good request is untouched')

    const malformed = await httpRequest(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"item":',
    })
    t.equal(malformed.status, 400)
    t.match(malformed.headers['content-type'], /^application\/json/)
    const malformedBody = JSON.parse(malformed.text)
    t.match(malformedBody, { status: 400, code: 'bad_request', requestId: malformed.headers['x-request-id'] })
    t.notMatch(malformed.text, /<html|at .*\.js:\d+/i, "no HTML page, no stack trace: not Express's default handler")
    t.equal(malformed.headers['x-content-type-options'], 'nosniff', 'the headers of the stack are on the answer')

    const large = await httpRequest(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(4000) }),
    })
    t.equal(large.status, 413)
    t.match(JSON.parse(large.text), { status: 413, code: 'content_too_large' })

    const thrown = await httpRequest(`${url}/throws`)
    t.equal(thrown.status, 500)
    t.same(JSON.parse(thrown.text), {
      status: 500,
      code: 'internal_server_error',
      message: 'Internal Server Error',
      requestId: thrown.headers['x-request-id'],
    })
    t.notMatch(thrown.text, /10\.0\.0\.5/, 'the 500 leaks no message')

    const conflict = await httpRequest(`${url}/next-error`)
    t.equal(conflict.status, 409)
    t.match(JSON.parse(conflict.text), { code: 'duplicate_order', message: 'That order was already placed' })

    // After the headers went out, the boundary cuts the connection: the client never takes a
    // truncated body for a whole one.
    const half = await rawExchange(url, 'GET /half HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    t.match(half.toString(), /^HTTP\/1\.1 200/)
    t.ok(half.length < half.indexOf('\r\n\r\n') + 4 + 100, 'the connection ended before the promised 100 bytes')

    t.same(
      reports.map((r) => r.status),
      [400, 413, 500, 409, 500],
      'the boundary saw each failure once',
    )
  })
}

t.test('toExpressErrorHandler(): refuses what is not a middleware', async (t) => {
  t.throws(() => toExpressErrorHandler(undefined as never), {
    message: /^toExpressErrorHandler\(\): expected a middleware such as errorBoundary\(\); received undefined\.$/,
  })
})
