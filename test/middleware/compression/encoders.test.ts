import { Readable } from 'node:stream'
import { text as streamText, buffer as streamBuffer } from 'node:stream/consumers'
import * as zlib from 'node:zlib'
import t from 'tap'
import {
  encoderMakers,
  metadataBlocks,
  wholeEncoders,
  paddableEncodings,
  zstdSupported,
} from '../../../lib/middleware/compression/encoders.js'
import type { Duplex } from 'node:stream'

const body = Buffer.from('{"id":1,"name":"item","tags":["alpha","beta"]} '.repeat(3000))
const settings = { brotliQuality: 4, gzipLevel: 6, zstdLevel: 3, jitter: 0 }

const encode = (stream: Duplex, input: Buffer, pieces = 7): Promise<Buffer> => {
  const size = Math.ceil(input.length / pieces)
  const parts = Array.from({ length: pieces }, (_, i) => input.subarray(i * size, (i + 1) * size))
  Readable.from(parts).pipe(stream)
  return streamBuffer(stream)
}

t.test('encoderMakers(): every coding and length tier round-trips', async (t) => {
  const make = encoderMakers(settings)
  for (const length of [undefined, 10, 1000, 4000, 16000, 60000, 1e6]) {
    const input = body.subarray(0, length === undefined ? body.length : Math.min(length, body.length))
    for (const flush of [false, true]) {
      t.ok(
        zlib.brotliDecompressSync(await encode(make.br(length, flush), input)).equals(input),
        `br ${length} ${flush}`,
      )
      t.ok(zlib.gunzipSync(await encode(make.gzip(length, flush), input)).equals(input), `gzip ${length} ${flush}`)
      t.ok(
        zlib.inflateSync(await encode(make.deflate(length, flush), input)).equals(input),
        `deflate ${length} ${flush}`,
      )
    }
  }
  // A window cut to a known length that turns out wrong still decodes, only compresses less.
  t.ok(zlib.gunzipSync(await encode(make.gzip(100, false), body)).equals(body))
})

t.test('encoderMakers(): a small known length gets a small window', async (t) => {
  const make = encoderMakers(settings)
  // RFC 1950 §2.2: CINFO, the high nibble of the first byte, is log2(window) - 8.
  const header = (await encode(make.deflate(1000, false), body.subarray(0, 1000)))[0]!
  t.equal(header >> 4, 10 - 8)
  const unknown = (await encode(make.deflate(undefined, false), body.subarray(0, 1000)))[0]!
  t.equal(unknown >> 4, 15 - 8)
})

t.test('encoderMakers(): a brotli stream of unknown length does not size its encoder by its first write', async (t) => {
  // Without a size hint, brotli guesses the body's size from the first write, and at
  // quality 4 a first write of 1 MiB or more picks its large hasher (4 MiB more memory per
  // stream). With the hint the encoder is the same, so its output is too, however the
  // body is split. The lines never repeat, so the hasher's choice shows in the output.
  const lines = Buffer.from(
    Array.from({ length: 40_000 }, (_, i) => `{"id":${i},"user":"u${(i * 7919) % 100_003}"}\n`).join(''),
  )
  const write = async (first: number): Promise<Buffer> => {
    const stream = encoderMakers(settings).br(undefined, false)
    const out = streamBuffer(stream)
    stream.write(lines.subarray(0, first))
    for (let at = first; at < lines.length; at += 65536) stream.write(lines.subarray(at, at + 65536))
    stream.end()
    return out
  }
  const small = await write(65536)
  const large = await write(2 ** 20)
  t.ok(lines.length > 2 ** 20, 'the body is larger than the first write')
  t.ok(zlib.brotliDecompressSync(large).equals(lines))
  t.ok(small.equals(large), `same output whatever the first write (${small.length} vs ${large.length} bytes)`)
})

t.test('encoderMakers(): flushEveryWrite emits each write at once', async (t) => {
  const make = encoderMakers(settings)
  for (const [name, decoder] of [
    ['br', zlib.createBrotliDecompress],
    ['gzip', zlib.createGunzip],
    ['deflate', zlib.createInflate],
  ] as const) {
    const stream = make[name](undefined, true)
    const out = decoder()
    stream.pipe(out)
    stream.write('data: one\n\n')
    const first = await new Promise<string>((ok) => out.once('data', (d: Buffer) => ok(d.toString())))
    t.equal(first, 'data: one\n\n', name)
    stream.end()
    await streamText(out)
  }
})

t.test('encoderMakers(): zstd is detected exactly where Node has it', async (t) => {
  t.equal(zstdSupported, typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function')
})

t.test(
  'encoderMakers(): zstd round trip',
  {
    skip: zstdSupported
      ? false
      : `Node ${process.versions.node} has no zlib.createZstdCompress (Node 22.15 and 23.8 do)`,
  },
  async (t) => {
    const make = encoderMakers(settings)
    const decompress = (zlib as unknown as { zstdDecompressSync: (b: Buffer) => Buffer }).zstdDecompressSync
    t.ok(decompress(await encode(make.zstd(undefined, false), body)).equals(body))
  },
)

t.test('encoderMakers(): jitter pads gzip in the header comment and br in a metadata block', async (t) => {
  t.same(paddableEncodings, ['br', 'gzip'])
  const plain = encoderMakers(settings)
  const padded = encoderMakers({ ...settings, jitter: 200 })
  const gz = await encode(plain.gzip(undefined, false), body)
  const br = await encode(plain.br(undefined, false), body)
  const extraGzip = new Set<number>()
  const extraBr = new Set<number>()
  for (let i = 0; i < 60; i++) {
    const pg = await encode(padded.gzip(undefined, i % 2 === 0), body)
    t.equal(pg[3]! & 0x10, 0x10, 'FCOMMENT set')
    if (!zlib.gunzipSync(pg).equals(body)) t.fail('padded gzip does not decode')
    const pb = await encode(padded.br(undefined, i % 2 === 0), body)
    if (!zlib.brotliDecompressSync(pb).equals(body)) t.fail('padded br does not decode')
    if (i % 2 === 1) {
      extraGzip.add(pg.length - gz.length)
      extraBr.add(pb.length - br.length)
    }
  }
  const all = [...extraGzip, ...extraBr]
  t.ok(Math.min(...all) >= 1, `at least 1 byte of padding (${Math.min(...all)})`)
  t.ok(Math.max(...extraGzip) <= 200, `gzip padding ≤ 200 (${Math.max(...extraGzip)})`)
  t.ok(Math.max(...extraBr) <= 200 + 4, `br padding ≤ 200 plus the flush (${Math.max(...extraBr)})`)
  t.ok(extraGzip.size > 10 && extraBr.size > 10, `${extraGzip.size} and ${extraBr.size} distinct lengths`)
})

t.test('metadataBlocks(): every size from 1 to 258 is valid brotli metadata of exactly that size', async (t) => {
  const plain = zlib.brotliCompressSync(body)
  // An empty stream (header, then an ISLAST empty block) with metadata spliced after an
  // initial flush, the way PaddedBrotli does it, must decode for every size.
  for (let size = 1; size <= 258; size++) {
    const blocks = metadataBlocks(size)
    if (blocks.length !== size) t.fail(`size ${size}: ${blocks.length} bytes`)
    const encoder = zlib.createBrotliCompress()
    const chunks: Buffer[] = []
    encoder.on('data', (d: Buffer) => chunks.push(d))
    await new Promise<void>((ok) => encoder.flush(zlib.constants.BROTLI_OPERATION_FLUSH, () => ok()))
    const head = Buffer.concat(chunks.splice(0))
    encoder.end(body)
    await new Promise((ok) => encoder.on('end', ok))
    const stream = Buffer.concat([head, blocks, ...chunks])
    if (!zlib.brotliDecompressSync(stream).equals(body)) t.fail(`size ${size} does not decode`)
  }
  t.ok(plain.length > 0)
  t.pass('all sizes decode')
})

const sampleJson = (length: number) =>
  Buffer.from(
    JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `project ${i}`, open: i % 3 > 0 }))).slice(
      0,
      length,
    ),
  )

t.test('wholeEncoders(): the small tiers (memLevel 4 and 6) compress as well as memLevel 8', async (t) => {
  const whole = wholeEncoders({ brotliQuality: 4, gzipLevel: 6, zstdLevel: 3, jitter: 0 })
  const samples = [
    sampleJson(600),
    sampleJson(1000),
    sampleJson(2400),
    sampleJson(4000),
    Buffer.from(
      Array.from({ length: 60 }, (_, i) => `<li class="c${i % 5}"><a href="/p/${i}">Page ${i}</a></li>\n`)
        .join('')
        .slice(0, 3000),
    ),
  ]
  for (const sample of samples) {
    const bits = sample.length <= 1024 ? 10 : 12
    for (const [coding, decode, reference] of [
      ['gzip', zlib.gunzipSync, zlib.gzipSync],
      ['deflate', zlib.inflateSync, zlib.deflateSync],
    ] as const) {
      const out = await new Promise<Buffer>((ok, fail) =>
        whole[coding]!(sample, (err, result) => (err ? fail(err) : ok(result))),
      )
      t.ok(decode(out).equals(sample), `${coding} ${sample.length}`)
      // The reference is computed here, in the test; the library never calls a *Sync coder.
      const full = reference(sample, { level: 6, windowBits: bits, memLevel: 8 })
      t.equal(out.length, full.length, `${coding} ${sample.length}: as small as with memLevel 8`)
    }
  }
})
