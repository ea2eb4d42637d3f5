import { createRequire } from 'node:module'
import t from 'tap'
import { bufferedBody, onRequestBody, redirectRequestBody } from '../../lib/core.js'
import { until } from '../helpers/wait.js'
import { serve } from '../helpers/serve.js'
import { openSocket, parseRawResponse, rawExchange } from '../helpers/raw.js'
import { httpRequest } from '../helpers/http.js'

t.test('onRequestBody(): sees every chunk before the reader, in registration order', async (t) => {
  const order: string[] = []
  let seen = 0
  const url = await serve(t, async (req, res) => {
    onRequestBody(req, (chunk) => {
      order.push('outer')
      seen += chunk.length
    })
    onRequestBody(req, () => {
      order.push('inner')
    })
    let read = 0
    for await (const chunk of req) {
      order.push('reader')
      read += (chunk as Buffer).length
    }
    res.end(String(read))
  })
  const res = await httpRequest(url, { method: 'POST', body: 'x'.repeat(100_000) })
  t.equal(res.text, '100000')
  t.equal(seen, 100_000)
  t.same(order.slice(0, 3), ['outer', 'inner', 'reader'])
})

t.test('onRequestBody(): registering reads nothing: an unread body stays unread', async (t) => {
  let seen = 0
  let reqRef: import('node:http').IncomingMessage | undefined
  const url = await serve(t, (req) => {
    reqRef = req
    onRequestBody(req, (chunk) => {
      seen += chunk.length
    })
    // Never reads: the stream buffers up to its high-water mark and the socket stops.
  })
  const socket = await openSocket(url)
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
  const chunk = `4000\r\n${'y'.repeat(0x4000)}\r\n`
  for (let i = 0; i < 64; i++) socket.write(chunk)
  for (let i = 0; i < 1000 && seen === 0; i++) await new Promise((ok) => setTimeout(ok, 2))
  await new Promise((ok) => setTimeout(ok, 100))
  socket.destroy()
  t.ok(seen > 0, 'some bytes entered the stream')
  t.ok(seen <= 128 * 1024, `the parser stopped near the high-water mark (saw ${seen})`)
  t.equal(reqRef!.readableFlowing, null, 'the stream was not switched to flowing mode')
})

t.test('onRequestBody(): a refused chunk never reaches the reader and the socket stops being read', async (t) => {
  let delivered = 0
  let refused = 0
  const url = await serve(t, (req, res) => {
    onRequestBody(req, (chunk) => {
      if (delivered + chunk.length > 1000) {
        refused++
        return false
      }
      return true
    })
    req.on('data', (d: Buffer) => {
      delivered += d.length
    })
    setTimeout(() => res.end(String(delivered)), 50)
  })
  const res = await rawExchange(
    url,
    `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `1f4\r\n${'a'.repeat(500)}\r\n1f4\r\n${'b'.repeat(500)}\r\n1f4\r\n${'c'.repeat(500)}\r\n0\r\n\r\n`,
  )
  t.equal(parseRawResponse(res).body.toString(), '1000')
  t.ok(refused >= 1)
})

// onRequestBody relies on Node's HTTP/1 parser handing body chunks to `stream.push`, and
// stopping the socket when it returns false. If Node changes that, this fails.
t.test('onRequestBody(): pins the parser behaviour it relies on', async (t) => {
  const require = createRequire(import.meta.url)
  // biome-ignore lint/style/useNodejsImportProtocol: an internal module, which has no node: form
  const common = require('_http_common') as {
    parsers: { alloc(): Record<number, () => void> }
    HTTPParser: { kOnBody: number }
  }
  const parser = common.parsers.alloc()
  const onBody = parser[common.HTTPParser.kOnBody]!.toString()
  t.match(onBody, /stream\.push\(b\)/)
  t.match(onBody, /if \(!ret\)\s*readStop\(this\.socket\)/)
})

t.test('bufferedBody(): the bytes Node buffered before anyone read, without reading them', async (t) => {
  let peeked: readonly Buffer[] | undefined
  let empty: readonly Buffer[] | undefined
  let read = ''
  const url = await serve(t, async (req, res) => {
    empty = bufferedBody(req)
    await until(() => req.readableLength >= 11)
    peeked = bufferedBody(req)
    t.equal(req.readableLength, 11, 'looking read nothing')
    for await (const chunk of req) read += String(chunk)
    res.end()
  })
  await rawExchange(url, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world')
  t.same(empty, [], 'nothing buffered yet: an empty list')
  // Pins the readable state layout it reads (an array from bufferIndex, or a list from head).
  t.equal(Buffer.concat(peeked ?? []).toString(), 'hello world')
  t.equal(read, 'hello world', 'the reader still gets every byte')
})

t.test('bufferedBody(): text from setEncoding is not given back as bytes', async (t) => {
  let peeked: readonly Buffer[] | undefined = []
  const url = await serve(t, async (req, res) => {
    req.setEncoding('utf8')
    await until(() => req.readableLength >= 5)
    peeked = bufferedBody(req)
    for await (const _ of req) void _
    res.end()
  })
  await rawExchange(url, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
  t.equal(peeked, undefined)
})

t.test(
  'redirectRequestBody(): listeners before see the wire, listeners after and the reader see what the sink pushes',
  async (t) => {
    const before: string[] = []
    const after: string[] = []
    const url = await serve(t, async (req, res) => {
      onRequestBody(req, (chunk) => {
        before.push(chunk.toString())
      })
      // A sink that upper-cases: what it pushes back is what everyone inside sees.
      const outlet = redirectRequestBody(
        req,
        (chunk) => outlet.push(chunk === null ? null : Buffer.from(chunk.toString().toUpperCase())),
        () => undefined,
      )
      onRequestBody(req, (chunk) => {
        after.push(chunk.toString())
      })
      let read = ''
      for await (const chunk of req) read += (chunk as Buffer).toString()
      res.end(read)
    })
    const res = await httpRequest(url, { method: 'POST', body: 'hello body' })
    t.equal(res.text, 'HELLO BODY')
    t.equal(before.join(''), 'hello body')
    t.equal(after.join(''), 'HELLO BODY')
  },
)

t.test('redirectRequestBody(): onWant runs when a reader wants more; a full stream waits for it', async (t) => {
  let wants = 0
  let held: Buffer[] = []
  const url = await serve(t, async (req, res) => {
    const outlet = redirectRequestBody(
      req,
      (chunk) => {
        if (chunk === null) {
          for (const b of held) outlet.push(b)
          held = []
          return outlet.push(null)
        }
        held.push(chunk)
        return true
      },
      () => {
        wants++
      },
    )
    let read = 0
    for await (const chunk of req) read += (chunk as Buffer).length
    res.end(String(read))
  })
  const res = await httpRequest(url, { method: 'POST', body: 'x'.repeat(50_000) })
  t.equal(res.text, '50000')
  t.ok(wants > 0, `onWant ran ${wants} times`)
})
