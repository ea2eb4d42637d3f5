import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { loggerReporter } from '../../lib/core/report.js'
import {
  accessLog,
  compose,
  ConfigError,
  errorBoundary,
  hooks,
  type Logger,
  requestId,
  type RawHandler,
} from '../../lib/index.js'
import { serve } from '../helpers/serve.js'
import { captureWarnings, until } from '../helpers/wait.js'

/** A logger that records every call, in the shape pino and console share. */
function recordingLogger() {
  const calls: Array<{ level: 'error' | 'warn'; fields: Record<string, unknown>; message: string | undefined }> = []
  const logger: Logger = {
    error: (fields, message) => calls.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => calls.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
  }
  return { logger, calls }
}

const fail: RawHandler = () => {
  throw new Error('database down')
}

t.test('compose({ logger }): the error boundary reports a 500 to the logger, with the request id', async (t) => {
  const warnings = captureWarnings(t)
  const { logger, calls } = recordingLogger()
  const url = await serve(t, compose({ logger }, errorBoundary(), requestId())(fail))
  const res = await fetch(`${url}/orders?page=2`, { headers: { 'x-request-id': 'ignored-untrusted' } })
  t.equal(res.status, 500)
  const id = res.headers.get('x-request-id')!
  await until(() => calls.length > 0)
  t.equal(calls.length, 1)
  const [call] = calls
  t.equal(call!.level, 'error')
  t.match(call!.message, /^errorBoundary\(\): GET \/orders failed \(500, answered, request .+\): database down$/)
  t.equal((call!.fields.err as Error).message, 'database down', 'the error itself, stack and all, for the serializer')
  t.equal(call!.fields.requestId, id)
  t.equal(call!.fields.method, 'GET')
  t.equal(call!.fields.url, '/orders?page=2')
  await new Promise((ok) => setImmediate(ok))
  t.same(
    warnings.filter((w) => (w as { code?: string }).code === 'HTTP_ONION_REPORTED'),
    [],
    'no process warning as well',
  )
})

t.test('compose({ logger }): a failing access-log sink and a failing teardown hook reach the logger', async (t) => {
  const { logger, calls } = recordingLogger()
  const stack = compose(
    { logger },
    accessLog({
      sink: () => {
        throw new Error('disk full')
      },
    }),
    hooks({
      teardown: () => {
        throw new Error('rollback failed')
      },
    }),
  )
  const url = await serve(
    t,
    stack((_req, res) => res.end('ok')),
  )
  t.equal(await (await fetch(url)).text(), 'ok')
  await until(() => calls.length >= 2)
  const messages = calls.map((c) => c.message).sort()
  t.same(messages, ['accessLog() sink: disk full', 'hooks(): teardown threw: rollback failed'])
})

t.test('without a logger, reports stay process warnings', async (t) => {
  const warnings = captureWarnings(t)
  const url = await serve(t, compose(errorBoundary())(fail))
  t.equal((await fetch(url)).status, 500)
  await until(() => warnings.some((w) => /database down/.test(w.message)))
  t.match(
    warnings.find((w) => /database down/.test(w.message)),
    { code: 'HTTP_ONION_REPORTED' },
  )
})

t.test("Fastify's own pino logger (app.log) takes the reports, as JSON lines with the error", async (t) => {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const app = Fastify({ logger: { level: 'warn', stream } })
  t.teardown(() => app.close())
  // The raw stack behind a Fastify route, reporting through the app's own logger.
  const failing = compose({ logger: app.log }, errorBoundary(), requestId())(fail)
  app.get('/raw', (request, reply) => {
    reply.hijack()
    return failing(request.raw, reply.raw)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const res = await fetch(`http://127.0.0.1:${port}/raw`)
  t.equal(res.status, 500)
  await until(() => lines.some((line) => line.includes('database down')))
  const entry = JSON.parse(lines.find((line) => line.includes('database down'))!)
  t.equal(entry.level, 50, "pino's error level")
  t.match(entry.msg, /^errorBoundary\(\): GET \/raw failed \(500/)
  t.equal(entry.err.message, 'database down', "pino's err serializer kept the error")
  t.match(entry.err.stack, /database down/)
  t.equal(entry.requestId, res.headers.get('x-request-id'))
})

t.test('the rate limit holds per logger: past the limit, one summary through warn()', async (t) => {
  const { logger, calls } = recordingLogger()
  let clock = 0
  const scheduled: Array<() => void> = []
  const report = loggerReporter(logger, {
    limit: 3,
    windowMs: 1000,
    now: () => clock,
    schedule: (callback) => {
      scheduled.push(callback)
    },
  })
  for (let i = 0; i < 8; i++) report('sink', new Error(`e${i}`))
  t.same(
    calls.map((c) => c.message),
    ['sink: e0', 'sink: e1', 'sink: e2'],
  )
  t.equal(scheduled.length, 1)
  clock = 1000
  scheduled[0]!()
  t.match(calls[3], {
    level: 'warn',
    fields: { code: 'HTTP_ONION_SUPPRESSED', suppressed: 5 },
    message: 'suppressed 5 reports: at most 3 are reported per 1000 ms',
  })
})

t.test('a logger that throws: the report becomes a process warning, never a crash', async (t) => {
  const warnings = captureWarnings(t)
  const broken: Logger = {
    error: () => {
      throw new Error('transport closed')
    },
    warn: () => {
      throw new Error('transport closed')
    },
  }
  const url = await serve(t, compose({ logger: broken }, errorBoundary())(fail))
  t.equal((await fetch(url)).status, 500)
  await until(() => warnings.some((w) => /database down/.test(w.message)))
  t.match(
    warnings.find((w) => /database down/.test(w.message))!.message,
    /errorBoundary\(\): GET \/ failed .*\(the logger threw: transport closed\): database down/,
  )
})

t.test('compose({ logger }): config: refuses what is not a logger, naming the fix', async (t) => {
  for (const logger of [{}, { error: () => undefined }, 'pino', null]) {
    t.throws(() => compose({ logger } as never, errorBoundary()), ConfigError)
  }
  t.throws(() => compose({ logger: { error: () => undefined } } as never), {
    message:
      /^compose\(\): option "logger" must be an object with error\(fields, message\) and warn\(fields, message\) methods; .*Pass a pino logger, Fastify's app.log or console/,
  })
  t.doesNotThrow(() => compose({ logger: console }, errorBoundary()))
})
