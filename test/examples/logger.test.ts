import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test("docs logger example: reports and access-log lines land in Fastify's pino logger", async (t) => {
  const example = await runExample(t, 'logger.ts')
  const ok = await httpRequest(`${example.url}/orders`)
  t.equal(ok.text, 'ok')
  const failed = await httpRequest(`${example.url}/fail`)
  t.equal(failed.status, 500)
  const id = failed.headers['x-request-id'] as string
  await example.waitForOutput(/the orders table is locked.*\n/)
  await example.waitForOutput(/"status":500[^\n]*\n/)
  const lines = example
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
  const report = lines.find((line) => line.level === 50)!
  t.ok(report, 'one error line')
  t.match(report.msg, /^errorBoundary\(\): GET \/fail failed \(500, answered, request /)
  t.match(report.err, { type: 'Error', message: 'the orders table is locked' }, "pino's serializer kept the error")
  t.equal(report.requestId, id)
  const exchanges = lines.filter((line) => line.msg === 'exchange') as Array<{
    access: { path: string; status: number; requestId: string }
  }>
  const failedExchange = exchanges.find((line) => line.access.path === '/fail')
  t.equal(failedExchange?.access.requestId, id, 'the access log carries the response header id')
  const routeLines = lines.filter((line) => line.msg === 'handing over to the stack')
  t.equal(routeLines.length, 2)
  t.ok(
    routeLines.some((line) => line.reqId === id),
    "Fastify's own line (request.log) carries the same id, through fastifyRequestId()",
  )
  t.ok(
    routeLines.every((line) => line.reqId !== 'req-1' && line.reqId !== 'req-2'),
    "not Fastify's counter",
  )
  t.same(
    exchanges.map((line) => [line.access.path, line.access.status]).sort(),
    [
      ['/fail', 500],
      ['/orders', 200],
    ],
    'one access-log object per exchange, through log.info',
  )
  t.notOk(
    lines.some((line) => line.msg === 'incoming request'),
    "Fastify's own request lines are off",
  )
})
