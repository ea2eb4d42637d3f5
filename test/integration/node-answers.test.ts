/**
 * The answers Node's HTTP server writes itself, before any handler runs (docs/errors.md,
 * "Answers Node writes itself"): no layer of the stack sees them, so they carry none of its
 * headers and get no log line. Pinned here so the page stays true.
 */
import { createServer } from 'node:http'
import t, { type Test } from 'tap'
import { accessLog, compose, errorBoundary, requestId, securityHeaders, type AccessLogEntry } from '../../lib/index.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'

/** The stack under test, counting handler runs and log lines. */
async function stack(t: Test) {
  const entries: AccessLogEntry[] = []
  let handled = 0
  const app = compose(
    errorBoundary(),
    requestId(),
    securityHeaders(),
    accessLog({
      sink: (_line, entry) => {
        entries.push(entry)
      },
    }),
  )((_req, res) => {
    handled++
    res.end('handled')
  })
  const { url } = await listen(t, createServer(app))
  return { url, entries, handled: () => handled }
}

t.test('Node answers an HTTP/1.1 request without Host with its own 400, before the stack', async (t) => {
  const { url, entries, handled } = await stack(t)
  const res = parseRawResponse(await rawExchange(url, 'GET / HTTP/1.1\r\n\r\n'))
  t.equal(res.status, 400)
  t.equal(res.headers.connection, 'close')
  t.equal(res.headers['x-request-id'], undefined, 'no layer ran')
  t.equal(res.headers['content-security-policy'], undefined)
  t.equal(res.body.length, 0)
  // Node answered synchronously, without emitting 'request': nothing can run later.
  t.equal(handled(), 0)
  t.equal(entries.length, 0, 'no log line')
})

t.test('Node answers an unknown Expect with its own 417, before the stack; 100-continue reaches it', async (t) => {
  const { url, entries, handled } = await stack(t)
  const refused = parseRawResponse(
    await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nConnection: close\r\n\r\n'),
  )
  t.equal(refused.status, 417)
  t.equal(refused.headers['x-request-id'], undefined, 'no layer ran')
  t.equal(refused.body.length, 0)
  t.equal(handled(), 0)
  t.equal(entries.length, 0, 'no log line')

  const raw = (
    await rawExchange(
      url,
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata',
    )
  ).toString('latin1')
  t.match(
    raw,
    /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/,
    'Node writes the 100 Continue, the stack the answer',
  )
  t.match(raw, /x-request-id: /i)
  t.equal(handled(), 1)
})
