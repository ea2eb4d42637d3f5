/**
 * The streaming memory goal of compression(): stream 1 GiB through the layer and report
 * how much the server's peak RSS grew (goal: at most 32 MiB). The server runs in its own
 * process (this file with `--serve=<encoding>`: compression() offering only that coding,
 * over a stream of distinct NDJSON); this process decodes the stream and counts bytes.
 *
 *   npm run build && node dist/benchmarks/compression-rss.js   # 1024 MiB: gzip, br, hand-gzip, hand-br
 *   node dist/benchmarks/compression-rss.js --mb=256 --encoding=gzip,hand-gzip   # shorter
 *
 * `hand-gzip` and `hand-br` stream the same bytes through `zlib.createGzip()` or
 * `zlib.createBrotliCompress()` piped by hand, without the middleware: the growth Node's
 * streaming zlib shows by itself, the floor for the layer. Every compressed chunk is a fresh
 * buffer, and V8 collects young buffers only once 32 MiB of them have piled up.
 */
import { spawn } from 'node:child_process'
import { request, type IncomingMessage, type RequestListener } from 'node:http'
import type { Transform, Writable } from 'node:stream'
import type { RawHandler } from '../lib/index.js'
import { fileURLToPath } from 'node:url'
import { createBrotliDecompress, createGunzip } from 'node:zlib'

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback
const mb = Number(arg('mb', '1024'))
const servers = arg('encoding', 'gzip,br,hand-gzip,hand-br').split(',')
const GOAL_MIB = 32

interface Server {
  port: number
  stats(): Promise<{ maxRssKiB: number }>
  stop(): Promise<void>
}

// The server side: this same file, run with --serve=<encoding> in its own process. Its
// stream never repeats within a window (brotli's is 4 MiB), so the encoder works as hard
// as on real data: 64 MiB of distinct NDJSON lines, generated once, then cycled.
const serving = process.argv.find((a) => a.startsWith('--serve='))?.split('=')[1]
if (serving) {
  const { compose, compression } = await import('../lib/index.js')
  const { constants, createBrotliCompress, createGzip } = await import('node:zlib')
  const { listen, benchSettings } = await import('./common.js')
  const pool: Buffer[] = []
  let seed = 42
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0)
  for (let i = 0; pool.length < 1024; i++) {
    let lines = ''
    while (lines.length < 65536)
      lines += `{"id":${i++},"user":"u${next() % 100000}","path":"/api/${next() % 5000}","ms":${next() % 9000},"ok":${next() % 10 > 0}}\n`
    pool.push(Buffer.from(lines.slice(0, 65536)))
  }
  const stream = (req: IncomingMessage, out: Writable): void => {
    const total = Number(/mb=(\d+)/.exec(req.url ?? '')?.[1] ?? 1024) * 16
    let sent = 0
    const pump = (): void => {
      while (sent < total)
        if (!out.write(pool[sent++ % pool.length]!)) {
          out.once('drain', pump)
          return
        }
      out.end()
    }
    pump()
  }
  // hand-*: no middleware, the same stream piped through Node's zlib by hand, at the
  // layer's settings for a stream (gzip level 6; brotli quality 4, 512 KiB window): what
  // Node's streaming zlib costs by itself, for comparison.
  const handEncoder = (): Transform =>
    serving === 'hand-br'
      ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_LGWIN]: 19 } })
      : createGzip({ level: benchSettings.gzipLevel })
  const handler: RawHandler = serving.startsWith('hand-')
    ? (req, res) => {
        res.setHeader('content-type', 'application/x-ndjson')
        res.setHeader('content-encoding', serving.slice('hand-'.length))
        const encoder = handEncoder()
        encoder.pipe(res)
        stream(req, encoder)
      }
    : compose(compression({ encodings: [serving as 'gzip' | 'br'], gzipLevel: benchSettings.gzipLevel }))(
        (req, res) => {
          res.setHeader('content-type', 'application/x-ndjson')
          stream(req, res)
        },
      )
  const server = await listen(handler as RequestListener)
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') process.send!({ type: 'stats', maxRssKiB: process.resourceUsage().maxRSS })
    else {
      server.closeAllConnections()
      server.close(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready', port: (server.address() as { port: number }).port })
}

async function startServer(scenario: string): Promise<Server> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), `--serve=${scenario}`], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const port = await new Promise<number>((ok, fail) => {
    child.once('message', (m: { type: string; port: number }) => ok(m.port))
    child.once('exit', (code) => fail(new Error(`${scenario} exited with ${code}`)))
  })
  return {
    port,
    stats: () =>
      new Promise((ok) => {
        child.once('message', (m: { maxRssKiB: number }) => ok(m))
        child.send({ type: 'stats' })
      }),
    stop: () =>
      new Promise((ok) => {
        child.once('exit', () => ok())
        child.send({ type: 'stop' })
      }),
  }
}

/** Download `/stream?mb=…` decoded, counting bytes; resolves with the decoded size. */
function download(port: number, encoding: string, size: number): Promise<{ encoded: number; decoded: number }> {
  return new Promise((ok, fail) => {
    request(
      { host: '127.0.0.1', port, path: `/stream?mb=${size}`, headers: { 'accept-encoding': encoding } },
      (res) => {
        if (res.headers['content-encoding'] !== encoding)
          fail(new Error(`expected ${encoding}, got ${res.headers['content-encoding']}`))
        const decoder = encoding === 'br' ? createBrotliDecompress() : createGunzip()
        let encoded = 0
        let decoded = 0
        res.on('data', (d: Buffer) => {
          encoded += d.length
        })
        decoder.on('data', (d: Buffer) => {
          decoded += d.length
        })
        decoder.on('end', () => ok({ encoded, decoded }))
        decoder.on('error', fail)
        res.pipe(decoder)
      },
    )
      .on('error', fail)
      .end()
  })
}

let failed = false
for (const name of serving ? [] : servers) {
  const server = await startServer(name)
  const hand = name.startsWith('hand-')
  const encoding = hand ? name.slice('hand-'.length) : name
  try {
    await download(server.port, encoding, 16) // warm-up: JIT, buffers, the encoder's first allocation
    const before = (await server.stats()).maxRssKiB
    const started = Date.now()
    const { encoded, decoded } = await download(server.port, encoding, mb)
    const seconds = (Date.now() - started) / 1000
    const after = (await server.stats()).maxRssKiB
    const growth = (after - before) / 1024
    if (decoded !== mb * 1024 * 1024) throw new Error(`decoded ${decoded} bytes, expected ${mb} MiB`)
    const verdict = hand ? 'reference, no middleware' : growth <= GOAL_MIB ? 'ok' : 'OVER GOAL'
    if (growth > GOAL_MIB && !hand) failed = true
    console.log(
      `${name}: ${mb} MiB streamed in ${seconds.toFixed(1)} s (${(mb / seconds).toFixed(0)} MiB/s, ` +
        `${(encoded / 2 ** 20).toFixed(1)} MiB on the wire); server peak RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB, ` +
        `growth ${growth.toFixed(1)} MiB (goal ≤ ${GOAL_MIB}): ${verdict}`,
    )
  } finally {
    await server.stop()
  }
}
if (!serving) process.exitCode = failed ? 1 : 0
