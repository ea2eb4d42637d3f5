import { createGzip, gunzipSync } from 'node:zlib'
import t from 'tap'
import { HttpError, sendError } from '../../lib/index.js'
import { detachResponse, isDetached, onResponseEnd, transformBody, type ResponseEndInfo } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'
import { openSocket, parseRawResponse, rawExchange } from '../helpers/raw.js'

/** Collect everything the server sends on a keep-alive connection until `done` bytes appear twice. */
async function twoRequests(url: string): Promise<string> {
  const socket = await openSocket(url)
  let text = ''
  return new Promise((ok, fail) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 2 && text.endsWith('second')) {
        socket.end()
        ok(text)
      }
    })
    socket.on('error', fail)
    socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n')
    setTimeout(() => socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n'), 60)
  })
}

t.test('detachResponse(): later writes, header changes and ends go nowhere and raise nothing', async (t) => {
  const errors: unknown[] = []
  const callbacks: string[] = []
  let ended!: Promise<ResponseEndInfo>
  const url = await serve(t, (req, res) => {
    if (req.url === '/second') {
      res.end('second')
      return
    }
    ended = new Promise((ok) => onResponseEnd(res, ok))
    res.on('error', (err) => errors.push(err))
    sendError(req, res, new HttpError(503))
    detachResponse(res)
    t.ok(isDetached(res))
    setTimeout(() => {
      // Every one of these would throw or emit 'error' on an ended response.
      res.statusCode = 200
      res.statusMessage = 'Fine'
      res.setHeader('x-late', '1')
      res.appendHeader('x-late', '2')
      res.removeHeader('content-type')
      res.writeHead(201, { 'x-late': '3' })
      res.flushHeaders()
      t.equal(
        res.write('late', () => callbacks.push('write')),
        true,
      )
      res.end('late end', () => callbacks.push('end'))
      res.addTrailers({ 'x-trailer': '1' })
      res.writeContinue()
    }, 10)
  })
  const text = await twoRequests(url)
  t.equal((text.match(/late/g) ?? []).length, 0, 'no late byte reached the client')
  t.match(text, /^HTTP\/1\.1 503 /)
  t.match(text, /HTTP\/1\.1 200 OK[\s\S]*second$/)
  const info = await ended
  t.equal(info.status, 503, 'the status reported is the one sent')
  await new Promise((ok) => setTimeout(ok, 20))
  t.same(callbacks, ['write', 'end'])
  t.same(errors, [])
})

t.test(
  'detachResponse(): a transformed answer still completes through the methods transformBody captured',
  async (t) => {
    const url = await serve(t, (req, res) => {
      transformBody(res, (res, body) => {
        if (!body.hasBody) return null
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      })
      res.setHeader('content-type', 'text/plain')
      res.write('x'.repeat(5000))
      detachResponse(res)
      res.write('never')
      setTimeout(() => {
        res.end('never either')
      }, 5)
      void req
    })
    // The handler's end() is swallowed, so the body never ends: this checks only that
    // detaching keeps the transform's bytes in flight and drops the handler's later ones.
    const socket = await openSocket(url)
    let raw = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d])
    })
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    for (let i = 0; i < 1000 && !raw.includes('\r\n\r\n'); i++) await new Promise((ok) => setTimeout(ok, 2))
    await new Promise((ok) => setTimeout(ok, 30))
    socket.destroy()
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString()
    t.match(head, /content-encoding: gzip/i)
    t.notOk(raw.includes('never'))
  },
)

t.test('detachResponse(): is idempotent and keeps reading methods', async (t) => {
  const url = await serve(t, (req, res) => {
    res.setHeader('x-kept', 'yes')
    sendError(req, res, new HttpError(413))
    detachResponse(res)
    detachResponse(res)
    t.equal(res.getHeader('x-kept'), 'yes')
    t.equal(res.statusCode, 413)
    t.equal(res.writableEnded, true)
  })
  const res = parseRawResponse(await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  t.equal(res.status, 413)
  t.equal(res.headers['x-kept'], 'yes')
})

t.test('detachResponse(): a gzip answer sent through sendError arrives whole', async (t) => {
  const url = await serve(t, (req, res) => {
    transformBody(res, (res, body) => {
      if (!body.hasBody) return null
      res.setHeader('content-encoding', 'gzip')
      return createGzip()
    })
    sendError(req, res, new HttpError(503, 'x'.repeat(2000), { expose: true }))
    detachResponse(res)
    res.end('late')
  })
  const res = parseRawResponse(await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  t.equal(res.status, 503)
  t.match(JSON.parse(gunzipSync(res.body).toString()).message, /^x{2000}$/)
})
