import { spawn } from 'node:child_process'
import { createHook } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { compose, compression, parallelGzipDefaults, type RawHandler } from '../../../lib/index.js'
import {
  crc32,
  defaultConcurrency,
  ParallelGzip,
  parallelGzipPlan,
  tableCrc32,
  type ParallelGzipSettings,
} from '../../../lib/middleware/compression/parallel-gzip.js'
import { writeWithBackpressure } from '../../helpers/backpressure.js'
import { launchBrowser } from '../../helpers/browser.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket } from '../../helpers/raw.js'
import { requireProgram } from '../../helpers/requirements.js'
import { serve } from '../../helpers/serve.js'
import { until } from '../../helpers/wait.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Distinct NDJSON lines, as an export streams them: `size` bytes, the same for a given seed. */
function ndjson(size: number, seed = 42): Buffer {
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0)
  const lines: string[] = []
  let length = 0
  for (let i = 0; length < size; i++) {
    const line = `{"id":${i},"user":"u${next() % 100000}","path":"/api/${next() % 5000}","ms":${next() % 9000},"ok":${next() % 10 > 0}}\n`
    lines.push(line)
    length += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, size)
}

/** Everything `stream` outputs for `chunks` written in order (with `flush()` where a chunk is null). */
async function encode(stream: ParallelGzip, chunks: Iterable<Buffer | null>): Promise<Buffer> {
  const out: Buffer[] = []
  stream.on('data', (d: Buffer) => out.push(d))
  const ended = new Promise<void>((ok, fail) => {
    stream.once('end', ok)
    stream.once('error', fail)
  })
  await writeWithBackpressure(
    {
      write: (c) => {
        if (c.length > 0) return stream.write(c)
        stream.flush()
        return true
      },
      once: (e, l) => stream.once(e, l),
    },
    Array.from(chunks, (c) => c ?? Buffer.alloc(0)),
  )
  stream.end()
  await ended
  return Buffer.concat(out)
}

/** The parts of one gzip member, checked: a bare 10-byte header, one deflate stream, and an 8-byte trailer. */
function singleMember(gz: Buffer): { body: Buffer; crc: number; isize: number } {
  if (gz[0] !== 0x1f || gz[1] !== 0x8b || gz[2] !== 8) throw new Error('not a gzip header')
  const start = 10 + (gz[3]! & 0x10 ? gz.indexOf(0, 10) + 1 - 10 : 0)
  const { buffer, engine } = zlib.inflateRawSync(gz.subarray(start), { info: true }) as unknown as {
    buffer: Buffer
    engine: { bytesWritten: number }
  }
  const trailer = gz.subarray(start + engine.bytesWritten)
  if (trailer.length !== 8) throw new Error(`${trailer.length} bytes after the deflate stream, not one trailer`)
  return { body: buffer, crc: trailer.readUInt32LE(0), isize: trailer.readUInt32LE(4) }
}

/** zlib streams made and closed while `t` runs: every one made must be closed (native memory freed). */
function countZlibHandles(t: Test) {
  const zlibBase = Object.getPrototypeOf(Object.getPrototypeOf(zlib.Gzip.prototype)) as {
    _destroy: (...a: unknown[]) => unknown
  }
  const destroy = zlibBase._destroy
  const counts = { created: 0, closed: 0 }
  zlibBase._destroy = function countedDestroy(this: { _handle: unknown }, ...args: unknown[]) {
    if (this._handle) counts.closed++
    return destroy.apply(this, args)
  }
  const hook = createHook({
    init(_id, type) {
      if (type === 'ZLIB') counts.created++
    },
  }).enable()
  t.teardown(() => {
    zlibBase._destroy = destroy
    hook.disable()
  })
  return counts
}

const settings = (over: Partial<ParallelGzipSettings> = {}): ParallelGzipSettings => ({
  level: 6,
  blockSize: 32 * KiB,
  concurrency: 3,
  ...over,
})

t.test(
  'ParallelGzip: random bodies, chunkings and flushes come out as one gzip member of the input (property)',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200_000 }),
          // Compressible: long matches that reach back across block boundaries.
          fc.tuple(fc.string({ maxLength: 300 }), fc.integer({ min: 1, max: 2000 })).map(([s, n]) => {
            return new Uint8Array(Buffer.from(s.repeat(n)).subarray(0, 300_000))
          }),
        ),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 70_000 }), fc.boolean()), { maxLength: 30 }),
        fc.record({
          level: fc.integer({ min: 1, max: 9 }),
          blockSize: fc.constantFrom(32 * KiB, 40 * KiB, 64 * KiB, 128 * KiB),
          // Below blockSize means one size; above it the blocks grow within the body.
          maxBlockSize: fc.constantFrom(32 * KiB, 72 * KiB, 256 * KiB),
          concurrency: fc.integer({ min: 2, max: 4 }),
        }),
        async (body, cuts, options) => {
          const input = Buffer.from(body)
          const chunks: Array<Buffer | null> = []
          let at = 0
          for (const [size, flush] of cuts) {
            if (at >= input.length) break
            chunks.push(input.subarray(at, at + size))
            at += size
            if (flush) chunks.push(null)
          }
          if (at < input.length) chunks.push(input.subarray(at))
          const gz = await encode(new ParallelGzip(options), chunks)
          if (!zlib.gunzipSync(gz).equals(input)) throw new Error('gunzip differs from the input')
          const member = singleMember(gz)
          if (!member.body.equals(input)) throw new Error('the deflate stream differs from the input')
          if (member.crc !== zlib.crc32(input) || member.isize !== input.length) throw new Error('trailer wrong')
        },
      ),
      { numRuns: 80 },
    )
    t.pass('every body decoded to its input, as one member with the right trailer')
  },
)

t.test('ParallelGzip: an empty body is a valid gzip member', async (t) => {
  const gz = await encode(new ParallelGzip(settings()), [])
  t.equal(zlib.gunzipSync(gz).length, 0)
  t.same(singleMember(gz), { body: Buffer.alloc(0), crc: 0, isize: 0 })
})

t.test('ParallelGzip: output within 1% of one createGzip stream at the same level (NDJSON export)', async (t) => {
  const body = ndjson(8 * MiB)
  const chunks = Array.from({ length: body.length / (64 * KiB) }, (_, i) =>
    body.subarray(i * 64 * KiB, (i + 1) * 64 * KiB),
  )
  for (const level of [1, 6, 9]) {
    const parallel = await encode(new ParallelGzip({ level, blockSize: 128 * KiB, concurrency: 2 }), chunks)
    const single = await new Promise<Buffer>((ok, fail) =>
      zlib.gzip(body, { level }, (err, out) => (err ? fail(err) : ok(out))),
    )
    const ratio = parallel.length / single.length
    t.ok(
      ratio < 1.01,
      `level ${level}: ${parallel.length} bytes against ${single.length} (${((ratio - 1) * 100).toFixed(2)}%)`,
    )
    t.ok(zlib.gunzipSync(parallel).equals(body), `level ${level} decodes`)
  }
})

t.test('ParallelGzip: without the dictionary the ratio would suffer (the priming is what keeps it)', async (t) => {
  // The same blocks deflated without a dictionary: each starts cold. Shows the 1% above is earned.
  const body = ndjson(2 * MiB)
  const cold: Buffer[] = []
  for (let i = 0; i < body.length; i += 32 * KiB)
    cold.push(
      zlib.deflateRawSync(body.subarray(i, i + 32 * KiB), { level: 6, finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    )
  const primed = await encode(new ParallelGzip(settings({ blockSize: 32 * KiB })), [body])
  const coldSize = cold.reduce((n, b) => n + b.length, 0) + 18
  t.ok(primed.length < coldSize, `primed ${primed.length} < cold ${coldSize}`)
})

t.test('ParallelGzip: flush() ends the current block, so what was written decodes before the end', async (t) => {
  const gz = new ParallelGzip(settings({ blockSize: 128 * KiB }))
  const out: Buffer[] = []
  gz.on('data', (d: Buffer) => out.push(d))
  gz.write('first event\n')
  gz.flush()
  await until(() => out.length > 0 && Buffer.concat(out).length > 10)
  const sofar = Buffer.concat(out)
  const text = zlib.inflateRawSync(sofar.subarray(10), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString()
  t.equal(text, 'first event\n', 'the flushed block decodes on its own')
  gz.write('second\n')
  gz.flush()
  gz.flush() // nothing pending: no empty block
  gz.end('last\n')
  await new Promise((ok) => gz.once('end', ok))
  t.equal(zlib.gunzipSync(Buffer.concat(out)).toString(), 'first event\nsecond\nlast\n')
  let called = false
  gz.flush(() => {
    called = true
  })
  await until(() => called)
  t.pass('flush after the end calls back')
})

t.test(
  'ParallelGzip: at most `concurrency` blocks in flight; write() returns false and the writer waits',
  async (t) => {
    const gz = new ParallelGzip(settings({ blockSize: 32 * KiB, concurrency: 2 }))
    let most = 0
    const probe = setInterval(() => {
      most = Math.max(most, gz.blocksInFlight)
    }, 1)
    t.teardown(() => clearInterval(probe))
    const body = ndjson(4 * MiB, 7)
    const chunks = Array.from({ length: body.length / (16 * KiB) }, (_, i) =>
      body.subarray(i * 16 * KiB, (i + 1) * 16 * KiB),
    )
    const out: Buffer[] = []
    gz.on('data', (d: Buffer) => {
      most = Math.max(most, gz.blocksInFlight)
      out.push(d)
    })
    const falses = await writeWithBackpressure(
      {
        write: (c) => {
          const ok = gz.write(c)
          most = Math.max(most, gz.blocksInFlight)
          return ok
        },
        once: (e, l) => gz.once(e, l),
      },
      chunks,
    )
    gz.end()
    await new Promise((ok) => gz.once('end', ok))
    t.ok(falses > 0, `write() returned false ${falses} times`)
    t.ok(most <= 2, `at most 2 blocks in flight (saw ${most})`)
    t.ok(zlib.gunzipSync(Buffer.concat(out)).equals(body))
  },
)

t.test(
  'ParallelGzip: the header goes out with the first write; the first block runs alone, then `concurrency` at once',
  async (t) => {
    const gz = new ParallelGzip(settings({ blockSize: 32 * KiB, concurrency: 3 }))
    const out: Buffer[] = []
    let inFlightAtFirstBlock = -1
    let inFlightAfterFirstBlock = -1
    gz.on('data', (d: Buffer) => {
      // The second piece is the first block's output: nothing else ran beside it; once it is
      // out (before the event loop turns, so before any block can finish) three start.
      if (out.length === 1) {
        inFlightAtFirstBlock = gz.blocksInFlight
        queueMicrotask(() => {
          inFlightAfterFirstBlock = gz.blocksInFlight
        })
      }
      out.push(d)
    })
    const body = ndjson(MiB, 11)
    gz.write(body.subarray(0, 256 * KiB))
    t.equal(out.length, 1, 'a piece is out before any block is compressed')
    t.same([...out[0]!.subarray(0, 4)], [0x1f, 0x8b, 8, 0], 'the 10-byte gzip header')
    t.equal(out[0]!.length, 10)
    t.equal(gz.blocksInFlight, 1, 'the first block is compressed alone (time to first byte)')
    await until(() => inFlightAfterFirstBlock >= 0)
    t.equal(inFlightAtFirstBlock, 0)
    t.equal(inFlightAfterFirstBlock, 3, 'then `concurrency` blocks at once')
    gz.end(body.subarray(256 * KiB))
    await new Promise((ok) => gz.once('end', ok))
    t.ok(zlib.gunzipSync(Buffer.concat(out)).equals(body))
  },
)

t.test(
  'ParallelGzip: a reader that stops reading stops the writer, with memory bounded; reading lets it finish',
  async (t) => {
    const gz = new ParallelGzip(settings({ blockSize: 64 * KiB, concurrency: 2 }))
    const input = randomBytes(4 * MiB) // incompressible: output as large as input
    const pieces = Array.from({ length: 256 }, (_, i) => input.subarray(i * 16 * KiB, (i + 1) * 16 * KiB))
    let handed = 0
    const written = writeWithBackpressure(
      {
        write: (c) => {
          handed++
          return gz.write(c)
        },
        once: (e, l) => gz.once(e, l),
      },
      pieces,
    )
    // No reader: output piles up to the high-water mark, the blocks in flight finish, and no more start.
    await until(() => handed > 0 && gz.readableLength > 0 && gz.blocksInFlight === 0)
    t.ok(handed * 16 * KiB < 1 * MiB, `the writer was held after ${handed * 16 * KiB} bytes`)
    t.ok(gz.readableLength < 256 * KiB, `output held for the reader: ${gz.readableLength} bytes`)
    const out: Buffer[] = []
    gz.on('data', (d: Buffer) => out.push(d))
    await written
    gz.end()
    await new Promise((ok) => gz.once('end', ok))
    t.ok(zlib.gunzipSync(Buffer.concat(out)).equals(input), 'every byte, once the reader reads')
  },
)

t.test(
  'ParallelGzip: blocks grow from 32 KiB to blockSize, then double with each full block up to maxBlockSize',
  async (t) => {
    const body = ndjson(4 * MiB, 5)
    const blocksFor = async (over: Partial<ParallelGzipSettings>, chunks: Array<Buffer | null>) => {
      const counts = countZlibHandles(t)
      const gz = await encode(new ParallelGzip(settings({ blockSize: 128 * KiB, concurrency: 4, ...over })), chunks)
      const blocks = counts.created // before gunzipSync below makes a zlib handle of its own
      t.ok(zlib.gunzipSync(gz).equals(body), 'decodes to the body')
      return blocks
    }
    const whole = [body]
    // 32 + 128 + 256 + 512 KiB, then seven of 512 KiB for the remaining 3,168 KiB.
    t.equal(await blocksFor({ maxBlockSize: 512 * KiB }, whole), 11, 'growing: 11 blocks for 4 MiB')
    // 32 KiB, then 32 blocks of 128 KiB (the last one short).
    t.equal(await blocksFor({}, whole), 33, 'one size: 33 blocks')
    // The first MiB flushed after every 64 KiB, then the rest in one write. The first piece fills
    // the 32 KiB first block and leaves 32 KiB in a 128 KiB one, which the flush cuts; each of the
    // 15 later pieces is one block cut at 64 KiB, never full, so none grows the next (a stream cut
    // by flushes keeps allocating small blocks): 17. The last 3 MiB then grow from 128 KiB:
    // 128 + 256 + 5 × 512 KiB full, and the last 128 KiB finishes the member: 8. Had the flushed
    // blocks grown the size, the 3 MiB would be six full 512 KiB blocks and an empty last one.
    const flushed: Array<Buffer | null> = []
    for (let i = 0; i < MiB; i += 64 * KiB) flushed.push(body.subarray(i, i + 64 * KiB), null)
    flushed.push(body.subarray(MiB))
    t.equal(await blocksFor({ maxBlockSize: 512 * KiB }, flushed), 25, 'flushed, then one write: 17 + 8 blocks')
  },
)

t.test('ParallelGzip: destroy() mid-stream destroys every in-flight block; no zlib handle is left', async (t) => {
  const counts = countZlibHandles(t)
  const gz = new ParallelGzip(settings({ blockSize: 256 * KiB, concurrency: 4, level: 9 }))
  gz.resume()
  const body = ndjson(2 * MiB, 3)
  gz.write(body) // eight blocks: four in flight, the rest waiting
  await until(() => gz.blocksInFlight === 4)
  gz.destroy()
  await new Promise((ok) => gz.once('close', ok))
  t.ok(counts.created >= 4, `${counts.created} block streams made`)
  t.equal(counts.closed, counts.created, 'every block stream closed at once, not left to the garbage collector')
  t.equal(gz.blocksInFlight, 0)
})

t.test('ParallelGzip: an error in a block destroys the stream with that error', async (t) => {
  const gz = new ParallelGzip(settings())
  gz.resume()
  const failed = new Promise<Error>((ok) => gz.once('error', ok))
  // A block stream failing (here: destroyed by hand with an error) fails the whole member.
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'ZLIB')
        setImmediate(() => (resource as { onerror?: (m: string, errno: number) => void }).onerror?.('injected', -3))
    },
  }).enable()
  t.teardown(() => hook.disable())
  gz.write(Buffer.alloc(64 * KiB, 1))
  t.match(await failed, /injected/)
})

t.test('ParallelGzip: CRC-32 and ISIZE right past 4 GiB of input (ISIZE mod 2^32)', async (t) => {
  // A generated stream, never a file: 4 GiB + 3 MiB of nearly-zero MiB chunks at level 1,
  // decoded by Node's gunzip, which checks both the CRC and ISIZE of the trailer.
  const total = 4096 + 3
  const chunk = Buffer.alloc(MiB)
  chunk[12345] = 7
  let expectedCrc = 0
  for (let i = 0; i < total; i++) expectedCrc = zlib.crc32(chunk, expectedCrc)
  let decoded = 0
  let tail = Buffer.alloc(0)
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < total; i++) yield chunk
      })(),
    ),
    new ParallelGzip({ level: 1, blockSize: MiB, concurrency: 2 }),
    new Transform({
      transform(c: Buffer, _e, cb) {
        tail = Buffer.concat([tail, c]).subarray(-8)
        cb(null, c)
      },
    }),
    zlib.createGunzip({ chunkSize: MiB }),
    new Writable({
      write(c: Buffer, _e, cb) {
        decoded += c.length
        cb()
      },
    }),
  )
  t.equal(decoded, total * MiB, 'every byte decoded (gunzip verified CRC and ISIZE)')
  t.equal(tail.readUInt32LE(0), expectedCrc, 'CRC-32 of the whole input')
  t.equal(tail.readUInt32LE(4), 3 * MiB, 'ISIZE is the length mod 2^32')
})

t.test('crc32: the table fallback agrees with zlib.crc32, chained over chunks', async (t) => {
  t.equal(crc32, (zlib as unknown as { crc32: unknown }).crc32, 'this Node has zlib.crc32, and it is used')
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 0, max: 5000 }), (data, cut) => {
      const a = data.subarray(0, cut)
      const b = data.subarray(cut)
      return tableCrc32(b, tableCrc32(a)) === zlib.crc32(data) && tableCrc32(data) === zlib.crc32(data)
    }),
  )
  t.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926, 'the check value of CRC-32/ISO-HDLC')
})

t.test('parallelGzipPlan(): off for false and on one core; defaults from the thread pool and cores', async (t) => {
  t.equal(parallelGzipPlan(false, 6, 0), undefined)
  t.equal(parallelGzipPlan(true, 6, 0, 1), undefined, 'one core: nothing to gain')
  t.equal(parallelGzipPlan({ minLength: 0 }, 6, 0, 1), undefined)
  const uv = Number(process.env.UV_THREADPOOL_SIZE) || 4
  t.equal(parallelGzipDefaults.concurrency, Math.min(uv, availableParallelism() + 2))
  t.equal(defaultConcurrency(4, 2), 4, 'two cores: two blocks more than the cores')
  t.equal(defaultConcurrency(4, 8), 4, 'many cores: the thread pool bounds it')
  t.equal(defaultConcurrency(64, 8), 10)
  t.same(
    {
      minLength: parallelGzipDefaults.minLength,
      blockSize: parallelGzipDefaults.blockSize,
      maxBlockSize: parallelGzipDefaults.maxBlockSize,
    },
    { minLength: 512 * KiB, blockSize: 128 * KiB, maxBlockSize: 512 * KiB },
  )
  t.equal(parallelGzipPlan(true, 6, 0, 8)?.minLength, 512 * KiB)
  t.equal(parallelGzipPlan({ minLength: 0, concurrency: 2 }, 6, 0, 8)?.minLength, 0)
})

// Through compression(), over real sockets.

/** A handler streaming `body` in 64 KiB writes, with or without Content-Length, as `type`. */
function streaming(body: Buffer, { length = false, type = 'application/x-ndjson' } = {}): RawHandler {
  return async (_req, res) => {
    res.setHeader('content-type', type)
    if (length) res.setHeader('content-length', body.length)
    const chunks: Buffer[] = []
    for (let i = 0; i < body.length; i += 64 * KiB) chunks.push(body.subarray(i, i + 64 * KiB))
    await writeWithBackpressure(res, chunks)
    res.end()
  }
}

// Node's createGzip writes OS 3 (Unix) in the header; ParallelGzip writes 255 (unknown).
// That byte tells which encoder a response went through.
const OS_BYTE = 9
const cores = availableParallelism()

t.test(
  'compression(): a gzip stream of unknown length, or past minLength, goes parallel; the rest keeps one stream',
  { skip: cores < 2 ? 'this machine has one core: parallel gzip is off' : false },
  async (t) => {
    const big = ndjson(3 * MiB, 11)
    const small = ndjson(200 * KiB, 12)
    const routes: Record<string, RawHandler> = {
      '/stream': streaming(big),
      '/known': streaming(big, { length: true }),
      '/small-known': streaming(small, { length: true }),
      '/small-stream': streaming(small),
      '/events': streaming(small, { type: 'text/event-stream' }),
    }
    const app = (options = {}) => compose(compression(options))((req, res) => routes[req.url!]!(req, res))
    const on = await serve(t, app())
    const off = await serve(t, app({ parallelGzip: false }))
    const expect: Array<[string, string, number, Buffer]> = [
      [on, '/stream', 255, big],
      [on, '/known', 255, big],
      [on, '/small-stream', 255, small], // length unknown when deciding: parallel
      [on, '/small-known', 3, small], // known and below minLength: one stream
      [on, '/events', 3, small], // events: one stream, flushed per write
      [off, '/stream', 3, big],
      [off, '/known', 3, big],
    ]
    for (const [url, path, os, body] of expect) {
      const res = await httpRequest(url + path, { headers: { 'accept-encoding': 'gzip' } })
      t.equal(res.headers['content-encoding'], 'gzip', path)
      t.equal(res.body[OS_BYTE], os, `${url === off ? 'off' : 'on'} ${path}: ${os === 255 ? 'parallel' : 'one stream'}`)
      t.ok(zlib.gunzipSync(res.body).equals(body), `${path} decodes`)
    }
    // deflate and br are never parallel.
    const br = await httpRequest(`${on}/stream`, { headers: { 'accept-encoding': 'br' } })
    t.ok(zlib.brotliDecompressSync(br.body).equals(big))
  },
)

t.test('compression(): parallel gzip carries the BREACH padding in its header', async (t) => {
  const body = ndjson(1 * MiB, 5)
  const url = await serve(t, compose(compression({ jitter: 32, parallelGzip: { minLength: 0 } }))(streaming(body)))
  const lengths = new Set<number>()
  for (let i = 0; i < 8; i++) {
    const res = await httpRequest(url, { headers: { 'accept-encoding': 'gzip' } })
    if (cores >= 2) t.equal(res.body[OS_BYTE], 255, 'parallel')
    t.equal(res.body[3]! & 0x10, 0x10, 'FCOMMENT set')
    t.ok(zlib.gunzipSync(res.body).equals(body))
    lengths.add(res.body.indexOf(0, 10))
  }
  t.ok(lengths.size > 1, `padding varies per response: ${[...lengths].join(', ')}`)
})

t.test(
  'compression(): a parallel stream with a slow reader: write() returns false, drain comes, memory stays bounded',
  async (t) => {
    const body = Buffer.concat([ndjson(8 * MiB, 21), randomBytes(4 * MiB)])
    let falses = 0
    const url = await serve(
      t,
      compose(compression())(async (_req, res) => {
        res.setHeader('content-type', 'application/x-ndjson')
        const chunks: Buffer[] = []
        for (let i = 0; i < body.length; i += 64 * KiB) chunks.push(body.subarray(i, i + 64 * KiB))
        falses = await writeWithBackpressure(res, chunks)
        res.end()
      }),
    )
    const socket = await openSocket(url)
    socket.pause()
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n')
    await new Promise((ok) => setTimeout(ok, 200)) // the reader is slow; nothing decides on this wait
    const parts: Buffer[] = []
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.resume()
    await new Promise((ok) => socket.on('close', ok))
    const raw = Buffer.concat(parts)
    const { decodeChunked } = await import('../../helpers/raw.js')
    const gz = decodeChunked(raw.subarray(raw.indexOf('\r\n\r\n') + 4))
    if (cores >= 2) t.equal(gz[OS_BYTE], 255, 'parallel')
    t.ok(zlib.gunzipSync(gz).equals(body), 'every byte arrives, in order')
    t.ok(falses > 0, `write() returned false ${falses} times`)
  },
)

t.test('compression(): a client aborting a parallel stream leaves no zlib handle behind', async (t) => {
  const counts = countZlibHandles(t)
  let ended = 0
  const url = await serve(
    t,
    compose(compression({ parallelGzip: { minLength: 0, concurrency: 4, blockSize: 64 * KiB } }))((_req, res) => {
      res.setHeader('content-type', 'application/x-ndjson')
      res.once('close', () => ended++)
      const piece = ndjson(256 * KiB, 9)
      const pump = () => {
        while (!res.destroyed) if (!res.write(piece)) return void res.once('drain', pump)
      }
      pump()
    }),
  )
  for (let i = 0; i < 20; i++) {
    const socket = await openSocket(url)
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n')
    await new Promise((ok) => socket.once('data', ok))
    socket.destroy()
  }
  await until(() => ended === 20 && counts.closed === counts.created)
  t.ok(counts.created >= 20, `${counts.created} block streams made`)
  t.equal(counts.closed, counts.created, 'every block stream closed')
})

t.test('compression(): curl --compressed decodes a parallel gzip stream', async (t) => {
  const curl = requireProgram(t, 'curl', 'the curl --compressed test of parallel gzip')
  if (!curl) return
  const body = ndjson(3 * MiB, 13)
  const url = await serve(t, compose(compression())(streaming(body)))
  const out = await new Promise<{ out: Buffer; err: string }>((ok, fail) => {
    const child = spawn(curl, ['-sS', '--compressed', '-v', '-H', 'Accept-Encoding: gzip', url])
    const parts: Buffer[] = []
    let err = ''
    child.stdout.on('data', (d: Buffer) => parts.push(d))
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.on('error', fail)
    child.on('close', () => ok({ out: Buffer.concat(parts), err }))
  })
  t.match(out.err, /< content-encoding: gzip/i)
  t.ok(out.out.equals(body), 'curl decoded every byte')
})

t.test('compression(): Chromium decodes a parallel gzip stream', async (t) => {
  const browser = await launchBrowser(t)
  if (!browser) return
  const body = ndjson(3 * MiB, 17)
  let os = -1
  const url = await serve(
    t,
    compose(compression({ encodings: ['gzip'] }))((req, res) => {
      if (req.url === '/') {
        res.setHeader('content-type', 'text/html')
        res.end('<!doctype html><title>t</title>')
        return
      }
      return streaming(body)(req, res)
    }),
  )
  // What the browser is sent, seen by a plain client first.
  os = (await httpRequest(`${url}/data`, { headers: { 'accept-encoding': 'gzip' } })).body[OS_BYTE]!
  if (cores >= 2) t.equal(os, 255, 'parallel')
  const page = await browser.newPage()
  await page.goto(url)
  const result = await page.evaluate(async () => {
    const res = await fetch('/data')
    const bytes = new Uint8Array(await res.arrayBuffer())
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
    return {
      length: bytes.length,
      sha: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
      encoding: res.headers.get('content-encoding'),
    }
  })
  const { createHash } = await import('node:crypto')
  t.equal(result.encoding, 'gzip')
  t.equal(result.length, body.length)
  t.equal(result.sha, createHash('sha256').update(body).digest('hex'))
  await page.close()
})

t.test('compression(): config: parallelGzip is validated with the fix', async (t) => {
  const rules: Array<[unknown, RegExp]> = [
    [
      'yes',
      /option "parallelGzip" must be true, false or an object of options .*received "yes" \(string\)\. Use false/,
    ],
    [null, /option "parallelGzip" must be true, false or an object/],
    [{ blocksize: 1 }, /unknown option "parallelGzip\.blocksize"; did you mean "parallelGzip\.blockSize"\?/],
    [
      { blockSize: 1024 },
      /option "parallelGzip\.blockSize" must be an integer from 32768 to 16777216; received 1024 \(number\)\. Below 32 KiB/,
    ],
    [
      { concurrency: 1 },
      /option "parallelGzip\.concurrency" must be an integer from 2 to 64; received 1 \(number\)\. .*parallelGzip: false/,
    ],
    [{ concurrency: 65 }, /option "parallelGzip\.concurrency" must be an integer from 2 to 64/],
    [{ minLength: -1 }, /option "parallelGzip\.minLength" must be an integer ≥ 0; received -1/],
    [
      { blockSize: 256 * KiB, maxBlockSize: 128 * KiB },
      /option "parallelGzip\.maxBlockSize" must be an integer from 262144 to 16777216; received 131072 \(number\)\. Blocks grow from blockSize \(262144\) to maxBlockSize; set it to blockSize/,
    ],
    [{ maxBlockSize: 32 * MiB }, /option "parallelGzip\.maxBlockSize" must be an integer from 131072 to 16777216/],
  ]
  for (const [parallelGzip, message] of rules) {
    t.throws(
      () => compression({ parallelGzip } as never),
      { name: 'ConfigError', message },
      JSON.stringify(parallelGzip),
    )
  }
  t.doesNotThrow(() => compression({ parallelGzip: { concurrency: 64, blockSize: 16 * MiB, minLength: 0 } }))
  t.doesNotThrow(
    () => compression({ parallelGzip: { blockSize: MiB } }),
    'blockSize alone above the default maxBlockSize: maxBlockSize follows it',
  )
  t.doesNotThrow(() => compression({ parallelGzip: { blockSize: 64 * KiB, maxBlockSize: 64 * KiB } }), 'one size')
  t.doesNotThrow(() => compression({ encodings: ['br'], parallelGzip: { blockSize: 64 * KiB } }))
  t.throws(
    () => compression({ encodings: ['br'], parallelGzip: { blockSize: 1 } }),
    {
      name: 'ConfigError',
    },
    'validated even when gzip is not offered',
  )
})
