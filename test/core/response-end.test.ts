import { pipeline, Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { onResponseEnd, type RawHandler, type ResponseEndInfo } from '../../lib/index.js'
import { serve } from '../helpers/serve.js'
import { openSocket, rawExchange } from '../helpers/raw.js'

/** Serve `respond`, recording every end info; resolves `ended` on the first. */
async function track(t: Test, respond: RawHandler) {
  const infos: ResponseEndInfo[] = []
  let resolve!: (info: ResponseEndInfo) => void
  const ended = new Promise<ResponseEndInfo>((ok) => { resolve = ok })
  const url = await serve(t, (req, res) => {
    onResponseEnd(res, (info) => { infos.push(info); resolve(info) })
    return respond(req, res)
  })
  return { url, infos, ended }
}

t.test('onResponseEnd(): a normal finish, with the exact bytes put on the wire', async (t) => {
  const { url, infos, ended } = await track(t, (_q, res) => {
    res.statusCode = 201
    res.write('hello ')
    setImmediate(() => res.end('world'))
  })
  const received = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const info = await ended
  t.equal(info.outcome, 'finished')
  t.equal(info.status, 201)
  t.equal(info.error, undefined)
  t.equal(info.headersSent, true)
  t.equal(info.bytesWritten, received.length)
  t.ok(info.headersMs! >= 0 && info.headersMs! <= info.durationMs)
  await new Promise((ok) => setImmediate(ok))
  t.equal(infos.length, 1)
})

t.test('onResponseEnd(): counts bytes per response on a keep-alive connection with pipelined requests', async (t) => {
  const { url, infos } = await track(t, (req, res) => {
    const size = req.url === '/big' ? 5000 : 10
    // The first answer comes late, so the second is queued behind it, fully written.
    const delay = req.url === '/big' ? 20 : 0
    setTimeout(() => res.end('x'.repeat(size)), delay)
  })
  const received = await rawExchange(url,
    'GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await new Promise((ok) => setTimeout(ok, 20))
  t.equal(infos.length, 2)
  t.equal(infos.reduce((sum, info) => sum + info.bytesWritten!, 0), received.length)
  t.ok(infos.every((info) => info.outcome === 'finished'))
})

t.test('onResponseEnd(): a client that closes the socket mid-stream gives outcome aborted', async (t) => {
  let stop = false
  const { url, ended } = await track(t, (_q, res) => {
    const tick = () => {
      if (stop || res.destroyed) return
      res.write('x'.repeat(1024))
      setTimeout(tick, 1)
    }
    tick()
  })
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => socket.once('data', ok))
  socket.destroy()
  const info = await ended
  stop = true
  t.equal(info.outcome, 'aborted')
  t.equal(info.status, 200)
  t.equal(info.headersSent, true)
  t.ok(info.bytesWritten! > 0)
})

t.test('onResponseEnd(): a client gone before headers gives aborted with headersSent false', async (t) => {
  const { url, ended } = await track(t, () => undefined)
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => setTimeout(ok, 20))
  socket.destroy()
  const info = await ended
  t.equal(info.outcome, 'aborted')
  t.equal(info.headersSent, false)
  t.equal(info.headersMs, undefined)
})

t.test('onResponseEnd(): a source stream that errors gives outcome error, with the error', async (t) => {
  const { url, ended } = await track(t, (_q, res) => {
    let sent = 0
    const source = new Readable({
      read() {
        if (sent++ < 3) this.push('chunk ')
        else this.destroy(new Error('disk on fire'))
      },
    })
    pipeline(source, res, () => undefined)
  })
  await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  const info = await ended
  t.equal(info.outcome, 'error')
  t.match(info.error, { message: 'disk on fire' })
})

t.test('onResponseEnd(): listeners run once each, innermost first, with their context', async (t) => {
  const order: string[] = []
  let done!: () => void
  const all = new Promise<void>((ok) => { done = ok })
  const url = await serve(t, (_q, res) => {
    for (const name of ['outer', 'inner']) {
      onResponseEnd(res, (_info, _res, who) => { order.push(who); if (who === 'outer') done() }, name)
    }
    res.end()
  })
  await (await fetch(url)).text()
  await all
  t.same(order, ['inner', 'outer'])
})

t.test('onResponseEnd(): a throwing listener is reported as a warning and the others still run', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => { if (w.name === 'HttpOnionError') warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  let otherRan!: () => void
  const ran = new Promise<void>((ok) => { otherRan = ok })
  const url = await serve(t, (_q, res) => {
    onResponseEnd(res, () => otherRan())
    onResponseEnd(res, () => { throw new Error('logger broke') })
    res.end()
  })
  await (await fetch(url)).text()
  await ran
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 1)
  t.match(warnings[0]!.message, /onResponseEnd listener: logger broke/)
})

t.test('onResponseEnd(): registered after the exchange is over, it still runs once', async (t) => {
  let late!: (info: ResponseEndInfo) => void
  const got = new Promise<ResponseEndInfo>((ok) => { late = ok })
  let calls = 0
  const url = await serve(t, (_q, res) => {
    res.end('done')
    res.once('close', () => onResponseEnd(res, (info) => { calls++; late(info) }))
  })
  await (await fetch(url)).text()
  const info = await got
  await new Promise((ok) => setTimeout(ok, 5))
  t.equal(calls, 1)
  t.equal(info.outcome, 'finished')
})
