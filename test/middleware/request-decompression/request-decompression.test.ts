/// <reference path="../../types/frameworks.d.ts" />
import { createHash, randomBytes } from 'node:crypto'
import { createServer, request, type IncomingMessage } from 'node:http'
import { promisify } from 'node:util'
import * as zlib from 'node:zlib'
import express from 'express'
import fc from 'fast-check'
import t from 'tap'
import {
  bodyCapture,
  bodyLimit,
  compose,
  errorBoundary,
  getCapturedBody,
  type RawHandler,
  requestDecompression,
  zstdDecodingSupported,
} from '../../../lib/index.js'
import { toExpress } from '../../../adapters/express.js'
import { collectGarbage } from '../../helpers/gc.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket, parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { listen, serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, tick, until } from '../../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

const gzip = promisify(zlib.gzip)
const deflate = promisify(zlib.deflate)
const deflateRaw = promisify(zlib.deflateRaw)
const brotli = promisify(zlib.brotliCompress)

type Coding = 'gzip' | 'x-gzip' | 'deflate' | 'deflate-raw' | 'br'
/** Encode `body` as `coding`, and the Content-Encoding to send it with. */
async function encode(body: Buffer, coding: Coding): Promise<[Buffer, string]> {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return [await gzip(body), coding]
    case 'deflate':
      return [await deflate(body), 'deflate']
    case 'deflate-raw':
      return [await deflateRaw(body), 'deflate']
    case 'br':
      return [await brotli(body), 'br']
  }
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')

/** Reads the whole body and answers with its length, hash and the representation headers it saw. */
const echo: RawHandler = async (req, res) => {
  const parts: Buffer[] = []
  for await (const chunk of req) parts.push(chunk as Buffer)
  const body = Buffer.concat(parts)
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      bytes: body.length,
      sha: sha(body),
      text: body.length < 200 ? body.toString() : '',
      encoding: req.headers['content-encoding'] ?? null,
      length: req.headers['content-length'] ?? null,
      transfer: req.headers['transfer-encoding'] ?? null,
      raw: req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()),
    }),
  )
}

/** POST `chunks` through node:http, chunked (each write awaited, so they tend to travel apart). */
function post(
  url: string,
  chunks: readonly Buffer[],
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString() }))
      res.on('error', fail)
    })
    req.on('error', fail)
    void (async () => {
      for (const chunk of chunks) await new Promise<void>((done) => req.write(chunk, () => done()))
      req.end()
    })()
  })
}

const text = Buffer.from('{"hello":"world","n":[1,2,3]}\n'.repeat(400))

for (const coding of ['gzip', 'x-gzip', 'deflate', 'deflate-raw', 'br'] as const) {
  t.test(
    `requestDecompression(): decodes ${coding}; the handler sees no Content-Encoding or Content-Length`,
    async (t) => {
      const url = await serve(t, requestDecompression()(echo))
      const [wire, header] = await encode(text, coding)
      const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': header }, body: wire })
      t.equal(res.status, 200)
      const seen = JSON.parse(res.text)
      t.equal(seen.bytes, text.length)
      t.equal(seen.sha, sha(text))
      t.equal(seen.encoding, null)
      t.equal(seen.length, null)
      t.equal(seen.transfer, 'chunked', 'the body is announced as of unknown length')
      t.notOk(seen.raw.includes('content-encoding') || seen.raw.includes('content-length'), 'rawHeaders agree')
    },
  )
}

t.test(
  'requestDecompression(): zstd where Node has it',
  { skip: zstdDecodingSupported ? false : `Node ${process.versions.node} has no zlib.createZstdDecompress` },
  async (t) => {
    const z = zlib as unknown as { zstdCompress: (b: Buffer, cb: (e: Error | null, r: Buffer) => void) => void }
    const wire = await promisify(z.zstdCompress)(text)
    const url = await serve(t, requestDecompression()(echo))
    const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'zstd' }, body: wire })
    t.equal(JSON.parse(res.text).sha, sha(text))
  },
)

t.test('requestDecompression(): identity, no Content-Encoding and bodiless requests pass untouched', async (t) => {
  const url = await serve(t, requestDecompression()(echo))
  const plain = JSON.parse((await httpRequest(url, { method: 'POST', body: 'abc' })).text)
  t.same([plain.text, plain.length, plain.transfer], ['abc', '3', null])
  const identity = JSON.parse(
    (await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'Identity' }, body: 'abc' })).text,
  )
  t.same([identity.text, identity.encoding, identity.length], ['abc', 'Identity', '3'])
  const bodiless = JSON.parse((await httpRequest(url, { headers: { 'content-encoding': 'snappy' } })).text)
  t.same([bodiless.bytes, bodiless.encoding], [0, 'snappy'], 'no body, nothing to decode or refuse')
})

t.test('requestDecompression(): an unknown coding gets 415 with Accept-Encoding; the handler never runs', async (t) => {
  let calls = 0
  const url = await serve(
    t,
    requestDecompression()(async (req, res) => {
      calls++
      return echo(req, res)
    }),
  )
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'snappy' }, body: 'xyz' })
  t.equal(res.status, 415)
  t.equal(res.headers['accept-encoding'], 'gzip, deflate, br')
  t.equal(res.headers.connection, 'close')
  t.match(JSON.parse(res.text), { status: 415, code: 'unsupported_media_type', accepted: ['gzip', 'deflate', 'br'] })
  t.equal(calls, 0)

  const narrowed = await serve(t, requestDecompression({ encodings: ['gzip'] })(echo))
  const br = await httpRequest(narrowed, {
    method: 'POST',
    headers: { 'content-encoding': 'br' },
    body: await brotli(text),
  })
  t.equal(br.status, 415)
  t.equal(br.headers['accept-encoding'], 'gzip')
})

t.test('requestDecompression(): stacked codings are refused with 415, not decoded', async (t) => {
  const url = await serve(t, requestDecompression()(echo))
  const wire = await brotli(await gzip(text))
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip, br' }, body: wire })
  t.equal(res.status, 415)
  t.match(JSON.parse(res.text).message, /stacks codings/)
  const withIdentity = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-encoding': 'identity, gzip' },
    body: await gzip(text),
  })
  t.equal(JSON.parse(withIdentity.text).sha, sha(text), 'identity in the list is no coding')
})

t.test('requestDecompression(): corrupt and truncated bodies get 400, and the server goes on', async (t) => {
  const url = await serve(t, requestDecompression()(echo))
  const wire = await gzip(text)
  const corrupt = Buffer.from(wire)
  corrupt.fill(0xff, 20, 40)
  for (const [name, body] of [
    ['corrupt', corrupt],
    ['truncated', wire.subarray(0, wire.length - 10)],
    ['not gzip at all', Buffer.from('plain text, labelled gzip')],
  ] as const) {
    const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body })
    t.equal(res.status, 400, name)
    t.match(JSON.parse(res.text), {
      code: 'content_encoding_invalid',
      message: 'The request body is not valid gzip data',
    })
  }
  const chunked = await post(url, [wire.subarray(0, wire.length - 10)], { 'content-encoding': 'gzip' })
  t.equal(chunked.status, 400, 'truncated and chunked')
  const ok = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: wire })
  t.equal(JSON.parse(ok.text).sha, sha(text))
})

t.test('requestDecompression(): a corrupt body after the answer started fails the request stream', async (t) => {
  let failure: unknown
  const url = await serve(
    t,
    requestDecompression()(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('reading\n')
      try {
        for await (const chunk of req) res.write(chunk as Buffer)
        res.end()
      } catch (error) {
        failure = error
      }
    }),
  )
  const wire = await gzip(text)
  const broken = Buffer.concat([wire.subarray(0, 200), Buffer.alloc(200, 0xff)])
  const raw = await rawExchange(
    url,
    Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${broken.length}\r\n\r\n`),
      broken,
    ]),
  )
  t.match(raw.toString('latin1'), /^HTTP\/1\.1 200/)
  t.notOk(raw.toString('latin1').endsWith('0\r\n\r\n'), 'the response is visibly cut')
  await until(() => failure !== undefined)
  t.match(failure, { status: 400, code: 'content_encoding_invalid' })
})

t.test('requestDecompression(): the decoded size is limited (413), the encoded size too', async (t) => {
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      requestDecompression({ maxDecodedSize: 65_536, maxEncodedSize: 4096 }),
    )(echo),
  )
  const bomb = await gzip(Buffer.alloc(200 * 1024))
  t.ok(bomb.length < 4096, `200 KiB of zeros gzip to ${bomb.length} bytes`)
  const decoded = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: bomb })
  t.equal(decoded.status, 413)
  t.equal(decoded.headers.connection, 'close')
  t.match(JSON.parse(decoded.text), {
    code: 'content_too_large',
    limit: 65_536,
    message: 'The decoded request body exceeds the limit of 65536 bytes',
  })
  const exact = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-encoding': 'gzip' },
    body: await gzip(Buffer.alloc(65_536)),
  })
  t.equal(JSON.parse(exact.text).bytes, 65_536, 'exactly the limit passes')

  const random = await gzip(randomBytes(8000))
  const declared = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: random })
  t.equal(declared.status, 413)
  t.match(JSON.parse(declared.text), { message: 'The request body exceeds the limit of 4096 bytes', limit: 4096 })
  const counted = await post(url, [random.subarray(0, 3000), random.subarray(3000)], { 'content-encoding': 'gzip' })
  t.equal(counted.status, 413, 'chunked, counted as it arrives')
})

// Garbage (zlib's output buffers) is collected when V8 pleases: measure live memory, not that.
const rssAfterGc = (): number => {
  collectGarbage()
  return process.memoryUsage().rss
}

/** 1 GiB of zeros as gzip: one member for 1 MiB of zeros, repeated (gunzip reads concatenated members). */
async function gigabyteBomb(): Promise<Buffer> {
  const member = await gzip(Buffer.alloc(1 << 20), { level: 9 })
  return Buffer.concat(Array.from({ length: 1024 }, () => member))
}

/** POST `body` in 64 KiB chunks on a raw chunked request; resolves with the parsed answer. */
async function sendChunked(url: string, body: Buffer, headers: string): Promise<ReturnType<typeof parseRawResponse>> {
  const socket = await openSocket(url)
  const parts: Buffer[] = []
  const closed = new Promise<void>((ok) => socket.on('close', () => ok()))
  socket.on('data', (d: Buffer) => parts.push(d))
  socket.on('error', () => undefined) // the server may reset a client still sending
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n${headers}\r\n`)
  for (let at = 0; at < body.length && !socket.destroyed; at += 65_536) {
    const piece = body.subarray(at, at + 65_536)
    if (!socket.write(`${piece.length.toString(16)}\r\n`)) await new Promise((ok) => socket.once('drain', ok))
    socket.write(piece)
    if (!socket.write('\r\n')) await Promise.race([new Promise((ok) => socket.once('drain', ok)), closed])
  }
  if (!socket.destroyed) socket.write('0\r\n\r\n')
  await closed
  return parseRawResponse(Buffer.concat(parts))
}

/** A handler that reads the decoded body to its end, counting its bytes and the peak RSS while reading. */
class BodyReader {
  read = 0
  peak = 0
  readonly handler: RawHandler = async (req, res) => {
    try {
      for await (const chunk of req) {
        this.read += (chunk as Buffer).length
        this.peak = Math.max(this.peak, process.memoryUsage().rss)
      }
    } catch {}
    res.end()
  }
}

t.test('requestDecompression(): a gzip that inflates to 1 GiB is cut at the limit with RSS flat', async (t) => {
  const bomb = await gigabyteBomb()
  t.ok(bomb.length < 1.1 * 2 ** 20, `1 GiB of zeros sent as ${bomb.length} bytes`)
  const reader = new BodyReader()
  const url = await serve(
    t,
    requestDecompression({ maxDecodedSize: 8 * 2 ** 20, maxEncodedSize: 2 ** 21 })(reader.handler),
  )
  const before = process.memoryUsage().rss
  const res = await sendChunked(url, bomb, 'Content-Encoding: gzip\r\n')
  t.equal(res.status, 413)
  t.ok(reader.read <= 8 * 2 ** 20, `the handler read ${reader.read} bytes, no more than the limit`)
  t.ok(reader.peak - before < 64 * 2 ** 20, `RSS grew by ${((reader.peak - before) / 2 ** 20).toFixed(1)} MiB`)
})

/**
 * 1 GiB of zeros as one brotli stream, under a kilobyte: brotli (window 16 MiB) reaches a
 * ratio deflate cannot (~1032:1 at most). Compressed as it is generated, 1 MiB at a time, on
 * the async API: about 2 s at quality 5, once per run.
 */
let brotliBombMade: Promise<Buffer> | undefined
function brotliGigabyteBomb(): Promise<Buffer> {
  brotliBombMade ??= new Promise((ok, fail) => {
    const { BROTLI_PARAM_QUALITY, BROTLI_PARAM_LGWIN } = zlib.constants
    const encoder = zlib.createBrotliCompress({ params: { [BROTLI_PARAM_QUALITY]: 5, [BROTLI_PARAM_LGWIN]: 24 } })
    const out: Buffer[] = []
    encoder.on('data', (d: Buffer) => out.push(d))
    encoder.on('end', () => ok(Buffer.concat(out)))
    encoder.on('error', fail)
    const zeros = Buffer.alloc(2 ** 20)
    let written = 0
    const pump = (): void => {
      while (written < 1024) {
        written++
        if (!encoder.write(zeros)) {
          encoder.once('drain', pump)
          return
        }
      }
      encoder.end()
    }
    pump()
  })
  return brotliBombMade
}

/** Decode `bomb` whole with Node's brotli, counting bytes: its size and the CPU it takes. */
async function decodeWhole(bomb: Buffer): Promise<{ bytes: number; cpuMs: number }> {
  const started = process.cpuUsage()
  let bytes = 0
  for await (const chunk of zlib.createBrotliDecompress().end(bomb)) bytes += (chunk as Buffer).length
  const cpu = process.cpuUsage(started)
  return { bytes, cpuMs: (cpu.user + cpu.system) / 1000 }
}

t.test('requestDecompression(): a brotli body under 10 KB that inflates to 1 GiB is cut at the limit', async (t) => {
  const bomb = await brotliGigabyteBomb()
  t.ok(bomb.length < 10_000, `1 GiB of zeros as ${bomb.length} bytes of brotli`)
  const whole = await decodeWhole(bomb)
  t.equal(whole.bytes, 2 ** 30, 'it really inflates to 1 GiB')
  const limit = 2 ** 20
  const reader = new BodyReader()
  const url = await serve(t, requestDecompression({ maxDecodedSize: limit })(reader.handler))
  for (const framing of ['content-length', 'chunked'] as const) {
    reader.read = 0
    const before = rssAfterGc()
    reader.peak = before
    const cpu = process.cpuUsage()
    const res =
      framing === 'chunked'
        ? await sendChunked(url, bomb, 'Content-Encoding: br\r\n')
        : parseRawResponse(
            await rawExchange(
              url,
              Buffer.concat([
                Buffer.from(
                  `POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: ${bomb.length}\r\n` +
                    'Connection: close\r\n\r\n',
                ),
                bomb,
              ]),
            ),
          )
    const used = process.cpuUsage(cpu)
    const usedMs = (used.user + used.system) / 1000
    t.equal(res.status, 413, `${framing}: 413`)
    t.match(JSON.parse(res.body.toString()), {
      code: 'content_too_large',
      limit,
      message: `The decoded request body exceeds the limit of ${limit} bytes`,
    })
    t.ok(reader.read <= limit, `${framing}: the handler read ${reader.read} bytes, no more than the limit`)
    // Decoding on past the limit into nowhere would cost about what decoding it whole does.
    t.ok(
      usedMs < whole.cpuMs / 2,
      `${framing}: the decoder stopped at the limit (${usedMs.toFixed(0)} ms of CPU for the exchange, ` +
        `${whole.cpuMs.toFixed(0)} ms to decode it whole)`,
    )
    // Holding the 1 GiB (or even 64 MiB of it) would show here.
    t.ok(
      reader.peak - before < 48 * 2 ** 20,
      `${framing}: RSS grew by ${((reader.peak - before) / 2 ** 20).toFixed(1)} MiB`,
    )
  }
  const after = await httpRequest(url, { method: 'POST', body: Buffer.from('still serving') })
  t.equal(after.status, 200, 'the server goes on')
})

t.test('requestDecompression(): streams 1 GiB decoded with RSS growth no more than a hand-piped gunzip', async (t) => {
  const bomb = await gigabyteBomb()
  /** Stream the bomb through `handler`'s source, read it all; the peak RSS growth meanwhile. */
  const growth = async (layer: boolean): Promise<number> => {
    let read = 0
    let peak = 0
    const count: RawHandler = async (req, res) => {
      const source = layer ? req : req.pipe(zlib.createGunzip())
      for await (const chunk of source) {
        read += (chunk as Buffer).length
        if ((read & 0x3ffffff) < (chunk as Buffer).length) peak = Math.max(peak, rssAfterGc())
      }
      res.end(String(read))
    }
    const decompress = requestDecompression({ maxDecodedSize: 2 ** 31, maxEncodedSize: 2 ** 21 })
    const url = await serve(t, layer ? decompress(count) : count)
    const before = rssAfterGc()
    const res = await sendChunked(url, bomb, 'Content-Encoding: gzip\r\n')
    t.equal(res.body.toString(), String(2 ** 30), layer ? 'the layer decoded 1 GiB' : 'the hand pipe decoded 1 GiB')
    return (peak - before) / 2 ** 20
  }
  const hand = await growth(false)
  const layer = await growth(true)
  t.ok(
    layer < 64 && layer <= Math.max(hand, 0) + 16,
    `RSS growth: layer ${layer.toFixed(1)} MiB, hand pipe ${hand.toFixed(1)} MiB`,
  )
})

t.test('requestDecompression(): pipelined uploads on one connection are each decoded', async (t) => {
  const url = await serve(t, requestDecompression()(echo))
  const one = await gzip(Buffer.from('first body'))
  const two = await brotli(Buffer.from('second body'))
  const raw = await rawExchange(
    url,
    Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${one.length}\r\n\r\n`),
      one,
      Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n`),
      Buffer.from(`${two.length.toString(16)}\r\n`),
      two,
      Buffer.from('\r\n0\r\n\r\n'),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]),
  ).then((b) => b.toString('latin1'))
  t.match(raw, /"text":"first body"/)
  t.match(raw, /"text":"second body"/)
  t.equal(raw.match(/HTTP\/1\.1 200/g)?.length, 3)
})

t.test('requestDecompression(): a body buffered before it ran (an outer layer awaited) is decoded', async (t) => {
  const waitFor =
    (condition: (req: IncomingMessage) => boolean) =>
    (next: RawHandler): RawHandler =>
    async (req, res) => {
      await until(() => condition(req))
      return next(req, res)
    }
  const wire = await gzip(text)
  // Whole: the stream has ended before the layer runs.
  const whole = await serve(
    t,
    compose(
      waitFor((req) => req.complete),
      requestDecompression(),
    )(echo),
  )
  const a = await httpRequest(whole, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: wire })
  t.equal(JSON.parse(a.text).sha, sha(text))
  const bomb = await serve(
    t,
    compose(
      waitFor((req) => req.complete),
      requestDecompression({ maxDecodedSize: 1000 }),
    )(echo),
  )
  t.equal(
    (await httpRequest(bomb, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: wire })).status,
    413,
    'whole and over the decoded limit',
  )
  // Partly: the first half is in the stream, the rest arrives after.
  let release!: () => void
  const released = new Promise<void>((ok) => {
    release = ok
  })
  const partly = await serve(
    t,
    compose(
      waitFor((req) => req.readableLength > 0),
      (next: RawHandler): RawHandler =>
        (req, res) => {
          release()
          return next(req, res)
        },
      requestDecompression(),
    )(echo),
  )
  const half = wire.length >> 1
  const socket = await openSocket(partly)
  const parts: Buffer[] = []
  socket.on('data', (d: Buffer) => parts.push(d))
  const closed = new Promise((ok) => socket.on('close', ok))
  socket.write(
    `POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${half.toString(16)}\r\n`,
  )
  socket.write(Buffer.concat([wire.subarray(0, half), Buffer.from('\r\n')]))
  await released
  socket.write(`${(wire.length - half).toString(16)}\r\n`)
  socket.write(Buffer.concat([wire.subarray(half), Buffer.from('\r\n0\r\n\r\n')]))
  await closed
  t.equal(JSON.parse(parseRawResponse(Buffer.concat(parts)).body.toString()).sha, sha(text))
})

t.test('requestDecompression(): composes with bodyLimit outside and bodyCapture inside', async (t) => {
  let captured = ''
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      bodyLimit({ limit: 2000 }),
      requestDecompression({ maxDecodedSize: 100_000 }),
      bodyCapture({ maxBytes: 64 }),
    )(async (req, res) => {
      await echo(req, res)
      captured = getCapturedBody(req).text()
    }),
  )
  const wire = await gzip(text)
  t.ok(wire.length < 2000 && text.length > 2000, 'small on the wire, large decoded')
  const res = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    body: wire,
  })
  t.equal(JSON.parse(res.text).sha, sha(text), 'bodyLimit counted the bytes as sent')
  t.equal(captured, text.subarray(0, 64).toString(), 'bodyCapture copied decoded bytes')
  const big = await gzip(randomBytes(5000))
  const chunked = await post(url, [big.subarray(0, 1500), big.subarray(1500)], { 'content-encoding': 'gzip' })
  t.equal(chunked.status, 413)
  t.match(JSON.parse(chunked.text).message, /request body exceeds the limit of 2000 bytes/, "bodyLimit's wire limit")
})

t.test('requestDecompression(): a body left unread is dropped, not decoded, and the connection reused', async (t) => {
  const url = await serve(
    t,
    requestDecompression({ maxDecodedSize: 1000 })((_req, res) => res.end('not reading')),
  )
  const wire = await gzip(text) // over the decoded limit: decoding it would refuse
  const raw = await rawExchange(
    url,
    Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${wire.length}\r\n\r\n`),
      wire,
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]),
  ).then((b) => b.toString('latin1'))
  t.equal(raw.match(/HTTP\/1\.1 200 OK/g)?.length, 2)
  t.notMatch(raw, /413/)
})

t.test('requestDecompression(): a client abort mid-body leaves no error and the server serving', async (t) => {
  let failure: unknown
  let closed = false
  let read = 0
  const url = await serve(
    t,
    requestDecompression()(async (req, res) => {
      req.on('close', () => {
        closed = true
      })
      try {
        for await (const chunk of req) read += (chunk as Buffer).length
      } catch (error) {
        failure = error
      }
      res.end(String(read))
    }),
  )
  const wire = await gzip(randomBytes(200_000))
  const socket = await openSocket(url)
  socket.write(
    Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${wire.length}\r\n\r\n`),
      wire.subarray(0, 20_000),
    ]),
  )
  await tick(20)
  socket.destroy()
  await until(() => closed && failure !== undefined)
  t.ok(closed)
  t.match(failure, { code: 'ECONNRESET' })
  failure = undefined
  read = 0
  const res = await httpRequest(url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: wire })
  t.equal(res.text, '200000', 'the next request is decoded whole')
  t.equal(failure, undefined)
})

t.test('requestDecompression(): a handler not reading yet holds back the decoder and the socket', async (t) => {
  const body = randomBytes(3 * 2 ** 20)
  let held = -1
  const url = await serve(
    t,
    requestDecompression({ maxDecodedSize: 2 ** 23, maxEncodedSize: 2 ** 23 })(async (req, res) => {
      await until(() => req.readableLength >= req.readableHighWaterMark)
      await tick(50)
      held = req.readableLength
      const parts: Buffer[] = []
      for await (const chunk of req) parts.push(chunk as Buffer)
      res.end(sha(Buffer.concat(parts)))
    }),
  )
  const wire = await gzip(body)
  const res = await post(url, [wire.subarray(0, wire.length >> 1), wire.subarray(wire.length >> 1)], {
    'content-encoding': 'gzip',
  })
  t.equal(res.text, sha(body), 'every byte, in order')
  t.ok(held > 0 && held <= 128 * 1024, `${held} decoded bytes waited in the request stream, not megabytes`)
})

t.test('requestDecompression(): property: any body, any chunking, any coding reads back exactly', async (t) => {
  const url = await serve(t, requestDecompression({ maxDecodedSize: 2 ** 22 })(echo))
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 40_000 }),
        fc.tuple(fc.string({ maxLength: 50 }), fc.nat(2000)).map(([s, n]) => new TextEncoder().encode(s.repeat(n))),
      ),
      fc.constantFrom<Coding>('gzip', 'x-gzip', 'deflate', 'deflate-raw', 'br'),
      fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 12 }),
      async (bytes, coding, cuts) => {
        const body = Buffer.from(bytes)
        const [wire, header] = await encode(body, coding)
        const chunks: Buffer[] = []
        let at = 0
        for (let i = 0; at < wire.length; i++) {
          const size = cuts[i % cuts.length]!
          chunks.push(wire.subarray(at, at + size))
          at += size
        }
        const res = await post(url, chunks, { 'content-encoding': header })
        const seen = JSON.parse(res.text)
        return seen.bytes === body.length && seen.sha === sha(body)
      },
    ),
    { numRuns: 60 },
  )
  t.pass('every run read back the original bytes')
})

t.test('requestDecompression(): express.json() reads a gzipped JSON body through toExpress()', async (t) => {
  const app = express()
  app.use(toExpress(requestDecompression()))
  app.use(express.json())
  app.post('/', (req, res) => {
    res.json({ got: req.body })
  })
  const { url } = await listen(t, createServer(app))
  const json = { items: Array.from({ length: 50 }, (_, i) => ({ i, name: `item ${i}` })) }
  const res = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: await gzip(Buffer.from(JSON.stringify(json))),
  })
  t.equal(res.status, 200)
  t.same(JSON.parse(res.text), { got: json })
})

t.test('requestDecompression(): declares its place among the built-in layers', async (t) => {
  const explained = compose(errorBoundary(), bodyLimit(), requestDecompression(), bodyCapture()).explain()
  t.match(explained, /ok\s+errorBoundary wraps requestDecompression/)
  t.match(explained, /ok\s+bodyLimit wraps requestDecompression/)
  t.match(explained, /ok\s+requestDecompression wraps bodyCapture/)
  captureWarnings(t)
  const wrong = compose({ strict: false }, bodyCapture(), requestDecompression(), bodyLimit()).explain()
  t.match(wrong, /BROKEN\s+bodyLimit wraps requestDecompression/)
  t.match(wrong, /BROKEN\s+requestDecompression wraps bodyCapture/)
})

t.test('requestDecompression(): config: rejects bad options', async (t) => {
  t.throws(() => requestDecompression({ encodings: [] }), {
    name: 'ConfigError',
    message: /option "encodings" must be a non-empty array/,
  })
  t.throws(() => requestDecompression({ encodings: ['lzma' as 'gzip'] }), {
    name: 'ConfigError',
    message: /option "encodings" must be an array of gzip, deflate, br, zstd; received "lzma"/,
  })
  if (!zstdDecodingSupported) {
    t.throws(() => requestDecompression({ encodings: ['zstd'] }), {
      name: 'ConfigError',
      message: /has no zlib\.createZstdDecompress/,
    })
  }
  t.throws(() => requestDecompression({ maxDecodedSize: -1 }), { name: 'ConfigError', message: /"maxDecodedSize"/ })
  t.throws(() => requestDecompression({ maxEncodedSize: 1.5 }), { name: 'ConfigError', message: /"maxEncodedSize"/ })
  t.throws(() => requestDecompression({ maxDecodedsize: 1 } as never), {
    name: 'ConfigError',
    message: /did you mean "maxDecodedSize"/,
  })
})
