import Fastify from 'fastify'
import t from 'tap'
import { toFastify, toFastifyErrorHandler } from '../../adapters/fastify.js'
import { compose, errorBoundary, HttpError, requestId } from '../../lib/index.js'
import { httpRequest } from '../helpers/http.js'

t.test("toFastifyErrorHandler(): route and body-parser errors in the toolkit's shape", async (t) => {
  const reports: number[] = []
  const app = Fastify({ bodyLimit: 1024 })
  t.teardown(() => app.close())
  await app.register(toFastify(compose(requestId())))
  app.setErrorHandler(toFastifyErrorHandler(errorBoundary({ onError: (report) => void reports.push(report.status) })))
  app.post('/orders', async (request) => ({ got: request.body }))
  app.get('/throws', async () => {
    throw new Error('SELECT failed on 10.0.0.5')
  })
  app.get('/conflict', async () => {
    throw new HttpError(409, 'That order was already placed', { code: 'duplicate_order' })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const json = { 'content-type': 'application/json' }

  t.same(JSON.parse((await httpRequest(`${url}/orders`, { method: 'POST', headers: json, body: '{"a":1}' })).text), {
    got: { a: 1 },
  })
  const malformed = await httpRequest(`${url}/orders`, { method: 'POST', headers: json, body: '{"a":' })
  t.equal(malformed.status, 400)
  t.match(JSON.parse(malformed.text), { status: 400, requestId: malformed.headers['x-request-id'] })
  const large = await httpRequest(`${url}/orders`, { method: 'POST', headers: json, body: `"${'x'.repeat(4000)}"` })
  t.equal(large.status, 413)
  t.match(JSON.parse(large.text), { status: 413 })
  const thrown = await httpRequest(`${url}/throws`)
  t.equal(thrown.status, 500)
  t.same(JSON.parse(thrown.text), {
    status: 500,
    code: 'internal_server_error',
    message: 'Internal Server Error',
    requestId: thrown.headers['x-request-id'],
  })
  t.notMatch(thrown.text, /10\.0\.0\.5/, "unlike Fastify's default handler, no message of a 500")
  const conflict = await httpRequest(`${url}/conflict`)
  t.equal(conflict.status, 409)
  t.match(JSON.parse(conflict.text), { code: 'duplicate_order', message: 'That order was already placed' })
  t.same(reports, [400, 413, 500, 409], 'the boundary saw each failure once')
})

t.test('toFastifyErrorHandler(): refuses what is not a middleware', async (t) => {
  t.throws(() => toFastifyErrorHandler('boundary' as never), {
    message: /^toFastifyErrorHandler\(\): expected a middleware such as errorBoundary\(\); received string\.$/,
  })
})
