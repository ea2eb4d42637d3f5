import { createServer } from 'node:http'
import t from 'tap'
import { answerClientErrors, type ClientErrorRecord, ConfigError } from '../../lib/index.js'
import { openSocket, parseRawResponse, rawExchange } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'

t.test('answerClientErrors(): a head too slow gets 408 in JSON; every log gets its record', async (t) => {
  const records: ClientErrorRecord[] = []
  const throwing = {
    logClientError: () => {
      throw new Error('log down')
    },
  }
  const server = createServer(
    { connectionsCheckingInterval: 20, headersTimeout: 100, requestTimeout: 150 },
    (_q, res) => res.end('ok'),
  )
  answerClientErrors(server, { log: [throwing, { logClientError: (r) => void records.push(r) }] })
  const { url } = await listen(t, server)
  const socket = await openSocket(url)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n') // and never the blank line
  await new Promise((ok) => socket.on('close', ok))
  const answer = parseRawResponse(Buffer.concat(chunks))
  t.equal(answer.status, 408)
  t.same(JSON.parse(answer.body.toString()), { status: 408, code: 'request_timeout', message: 'Request Timeout' })
  t.equal(records.length, 1, 'a log that throws does not keep the next from its record')
  t.match(records[0], {
    status: 408,
    code: 'request_timeout',
    answered: true,
    error: 'ERR_HTTP_REQUEST_TIMEOUT',
    clientIp: '127.0.0.1',
  })
  // The server goes on serving.
  t.equal(
    parseRawResponse(await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status,
    200,
  )
})

t.test(
  'answerClientErrors(): Content-Length with Transfer-Encoding (a smuggling shape) gets 400 in JSON',
  async (t) => {
    const records: ClientErrorRecord[] = []
    const server = createServer((_q, res) => res.end('ok'))
    answerClientErrors(server, { log: { logClientError: (r) => void records.push(r) } })
    const { url } = await listen(t, server)
    const answer = parseRawResponse(
      await rawExchange(
        url,
        'POST /x?key=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ),
    )
    t.equal(answer.status, 400)
    t.equal(answer.headers['x-content-type-options'], 'nosniff')
    t.equal(answer.headers['cache-control'], 'no-store')
    t.match(JSON.parse(answer.body.toString()), { code: 'bad_request' })
    t.match(records, [{ status: 400, method: 'POST', path: '/x?key=1', error: /^HPE_/ }])
  },
)

t.test('answerClientErrors(): config: refuses what is not a server or a log, naming the fix', async (t) => {
  t.throws(() => answerClientErrors(null as never), ConfigError)
  t.throws(() => answerClientErrors(createServer(), { log: {} as never }), {
    message: /^answerClientErrors\(\): option "log" must be an accessLog\(\) or an object with logClientError/,
  })
  t.throws(() => answerClientErrors(createServer(), { log: [{ logClientError: () => undefined }, 5 as never] }), {
    message: /option "log\[1\]"/,
  })
})
