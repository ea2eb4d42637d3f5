import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

t.test("docs client-errors example: Node's refusals answer in JSON and log one line each", async (t) => {
  const example = await runExample(t, 'client-errors.ts')
  const ok = parseRawResponse(
    await rawExchange(example.url, 'GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  )
  t.equal(ok.status, 200)

  // A 20 KB header block: over Node's 16 KiB maxHeaderSize.
  const huge = parseRawResponse(
    await rawExchange(example.url, `GET /big?token=secret HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`),
  )
  t.equal(huge.status, 431)
  t.match(huge.headers['content-type'], /^application\/json/)
  t.equal(huge.headers.connection, 'close')
  t.same(JSON.parse(huge.body.toString()), {
    status: 431,
    code: 'request_header_fields_too_large',
    message: 'Request Header Fields Too Large',
  })

  // A garbage request line.
  const garbage = parseRawResponse(await rawExchange(example.url, 'G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n'))
  t.equal(garbage.status, 400)
  t.same(JSON.parse(garbage.body.toString()), { status: 400, code: 'bad_request', message: 'Bad Request' })

  await example.waitForOutput(/"status":400[^\n]*\n/)
  const lines = example
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
  t.equal(lines.length, 3, 'one access-log line per exchange, refused ones included')
  t.match(lines[0], { method: 'GET', path: '/fine', status: 200 })
  t.match(lines[1], {
    method: 'GET',
    path: '/big',
    status: 431,
    outcome: 'finished',
    error: 'HPE_HEADER_OVERFLOW',
    clientIp: '127.0.0.1',
    level: 'warn',
  })
  t.notMatch(String(lines[1]!.path), /secret/, "the log's query policy applies (dropped by default)")
  t.ok((lines[1]!.bytesOut as number) > 0)
  t.match(lines[2], { status: 400, error: /^HPE_/, method: '', path: '' })
})
