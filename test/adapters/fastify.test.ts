import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import {
  type AccessLogEntry,
  accessLog,
  compose,
  errorBoundary,
  isRequestId,
  type Middleware,
  rateLimit,
  requestId,
} from '../../lib/index.js'
import { fastifyRequestId, toFastify, toFastifyHook } from '../../adapters/fastify.js'
import { until } from '../helpers/wait.js'
import { httpRequest } from '../helpers/http.js'
import { gateKeeper, gzipAll, tagged } from '../helpers/probe-middleware.js'

async function app(t: Test, register: (f: ReturnType<typeof Fastify>) => Promise<void> | void) {
  const fastify = Fastify()
  await register(fastify)
  fastify.get('/', async () => ({ hello: 'fastify' }))
  fastify.get('/stream', (_req, reply) => {
    reply.type('text/plain').send(Readable.from(['x', 'y']))
  })
  fastify.get('/big', async () => ({ big: 'w'.repeat(500) }))
  fastify.get('/throw', async () => {
    throw Object.assign(new Error('route failed'), { statusCode: 409 })
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  const address = fastify.server.address() as { port: number }
  return `http://127.0.0.1:${address.port}`
}

t.test('toFastify(): a plugin whose headers reach reply.send payloads and streams', async (t) => {
  const url = await app(t, (f) => f.register(toFastify(tagged) as never))
  const json = await httpRequest(url)
  t.equal(json.headers['x-tagged'], '200')
  t.same(JSON.parse(json.text), { hello: 'fastify' })
  const stream = await httpRequest(`${url}/stream`)
  t.equal(stream.headers['x-tagged'], '200')
  t.equal(stream.text, 'xy')
  const failed = await httpRequest(`${url}/throw`)
  t.equal(failed.status, 409)
  t.equal(failed.headers['x-tagged'], '409')
})

t.test('toFastify(): a middleware that answers hijacks the reply, so Fastify does not answer again', async (t) => {
  const url = await app(t, (f) => {
    f.addHook('onRequest', toFastifyHook(gateKeeper) as never)
  })
  const refused = await httpRequest(url)
  t.equal(refused.status, 401)
  t.match(JSON.parse(refused.text), { code: 'unauthorized' })
  t.same(JSON.parse((await httpRequest(url, { headers: { 'x-key': 'open' } })).text), { hello: 'fastify' })
})

t.test("toFastify(): a boundary's format reaches the refusals of hooks registered after it", async (t) => {
  const url = await app(t, (f) => {
    f.addHook('onRequest', toFastifyHook(errorBoundary({ format: 'problem' })) as never)
    f.addHook('onRequest', toFastifyHook(rateLimit({ limit: 1 })) as never)
  })
  t.equal((await httpRequest(url)).status, 200)
  const refused = await httpRequest(url)
  t.equal(refused.status, 429)
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.ok(refused.headers['retry-after'])
  t.match(JSON.parse(refused.text), { type: 'about:blank', status: 429, code: 'too_many_requests', instance: '/' })
})

t.test("toFastify(): errors reach Fastify's error handler", async (t) => {
  const failing: Middleware = () => async () => {
    throw Object.assign(new Error('hook failed'), { statusCode: 418 })
  }
  const url = await app(t, (f) => {
    f.setErrorHandler((err: Error & { statusCode?: number }, _req: FastifyRequest, reply: FastifyReply) => {
      reply.status(err.statusCode ?? 500).send({ handledBy: 'fastify', message: err.message })
    })
    return f.register(toFastify(failing) as never)
  })
  const res = await httpRequest(url)
  t.equal(res.status, 418)
  t.same(JSON.parse(res.text), { handledBy: 'fastify', message: 'hook failed' })
})

t.test('toFastify(): a body transform applies to reply.send', async (t) => {
  const url = await app(t, (f) => f.register(toFastify(gzipAll) as never))
  const res = await httpRequest(`${url}/big`)
  t.equal(res.headers['content-encoding'], 'gzip')
  t.equal(res.headers['content-length'], undefined)
  t.same(JSON.parse(gunzipSync(res.body).toString()), { big: 'w'.repeat(500) })
})

/** Fastify's pino logger writing JSON lines into an array. */
function logLines() {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }
  return { lines, stream }
}

t.test('fastifyRequestId(): one id in Fastify’s log lines, the access log and the response header', async (t) => {
  const { lines, stream } = logLines()
  const access: AccessLogEntry[] = []
  const ids = requestId()
  const fastify = Fastify({ logger: { level: 'info', stream }, genReqId: fastifyRequestId(ids) })
  t.teardown(() => fastify.close())
  await fastify.register(toFastify(compose(ids, accessLog({ sink: (_line, entry) => void access.push(entry) }))))
  fastify.get('/orders', async (request) => {
    request.log.info('listing orders')
    return { id: request.id }
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`

  const res = await httpRequest(`${url}/orders`)
  const id = res.headers['x-request-id'] as string
  t.ok(isRequestId(id), 'a toolkit id, not Fastify’s req-1')
  t.notMatch(id, /^req-/)
  t.same(JSON.parse(res.text), { id }, 'request.id is the same id')
  await until(() => access.length === 1 && lines.some((l) => l.msg === 'request completed'))
  t.equal(access[0]?.requestId, id, 'the access log carries it')
  const reqIds = lines.filter((l) =>
    ['incoming request', 'listing orders', 'request completed'].includes(l.msg as string),
  )
  t.equal(reqIds.length, 3)
  t.same(
    reqIds.map((l) => l.reqId),
    [id, id, id],
    'every Fastify line carries it',
  )

  const second = await httpRequest(`${url}/orders`)
  t.not(second.headers['x-request-id'], id, 'a new id per request')
})

t.test('fastifyRequestId(): follows the layer’s trust rule for incoming ids', async (t) => {
  const { lines, stream } = logLines()
  const ids = requestId({ trustIncoming: true })
  const fastify = Fastify({ logger: { level: 'info', stream }, genReqId: fastifyRequestId(ids) })
  t.teardown(() => fastify.close())
  await fastify.register(toFastify(compose(ids)))
  fastify.get('/', async (request) => request.id)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`

  const kept = await httpRequest(url, { headers: { 'x-request-id': 'trace-1234' } })
  t.equal(kept.text, 'trace-1234')
  t.equal(kept.headers['x-request-id'], 'trace-1234')
  const replaced = await httpRequest(url, { headers: { 'x-request-id': 'no spaces allowed' } })
  t.ok(isRequestId(replaced.text), 'an invalid incoming id is replaced')
  t.equal(replaced.headers['x-request-id'], replaced.text)
  await until(() => lines.filter((l) => l.msg === 'request completed').length === 2)
  t.same(
    lines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId),
    ['trace-1234', replaced.text],
  )
})

t.test('fastifyRequestId(): refuses a layer that is not requestId(), saying what to pass', async (t) => {
  t.throws(() => fastifyRequestId(compose(requestId())), {
    name: 'TypeError',
    message:
      /^fastifyRequestId\(\): expected the requestId\(\) layer the stack mounts; received the layer .*const ids = requestId\(\)/,
  })
  t.throws(() => fastifyRequestId('x' as never), { message: /received string\./ })
})
