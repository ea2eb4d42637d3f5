/**
 * The streaming goals of compression() (issue #24), each against the same stream piped by
 * hand through one Node encoder of the same coding and settings, in the same run:
 * - memory: stream 1 GiB and compare the server's peak RSS growth; goal: the layer's growth
 *   at most the hand pipe's + 2 MiB, per coding.
 * - speed (`--parallel`): a 200 MiB gzip stream through the layer (parallel gzip, on every
 *   core) against one hand-piped `createGzip()` at the same level; goal ≥ 1.7× on 2 cores,
 *   scaling toward the core count where there are more; time to first byte and RSS growth
 *   reported too (before parallel gzip: 3 ms, 14 MiB).
 * Each server runs in its own process, unpinned (this file with `--serve=<scenario>`:
 * compression() offering only that coding, over a stream of distinct NDJSON); this process
 * decodes the stream and counts bytes. `npm run bench` pins servers to one core, where
 * parallel gzip is off (os.availableParallelism() honours the affinity): it is measured here.
 *
 *   npm run build && node dist/benchmarks/compression-rss.js   # 1024 MiB: gzip, br, hand-gzip, hand-br
 *   node dist/benchmarks/compression-rss.js --mb=256 --encoding=gzip,hand-gzip   # shorter
 *   node dist/benchmarks/compression-rss.js --parallel   # 200 MiB: hand-gzip, gzip, gzip-one
 *   node dist/benchmarks/compression-rss.js --parallel --encoding=hand-gzip,gzip --runs=3 --concurrency=4 --block=131072
 *   node dist/benchmarks/compression-rss.js --parallel --encoding=hand-gzip,gzip --runs=3 --max-block=131072   # one block size
 *
 * Each line also reports CPU time: the server's (every thread), its event loop's busy time
 * (wall time, so it includes waiting for a busy core) and the client's, to see where the
 * cores went.
 *
 * `hand-gzip` and `hand-br` stream the same bytes through `zlib.createGzip()` or
 * `zlib.createBrotliCompress()` piped by hand, without the middleware: the growth Node's
 * streaming zlib shows by itself, the floor for the layer. Every compressed chunk is a fresh
 * buffer, and V8 collects young buffers only once 32 MiB of them have piled up. `gzip-one`
 * is the layer with `parallelGzip: false` (one zlib stream, as before issue #24).
 */
import { spawn } from 'node:child_process'
import { request, type IncomingMessage, type RequestListener } from 'node:http'
import { availableParallelism } from 'node:os'
import type { Transform, Writable } from 'node:stream'
import type { RawHandler } from '../lib/index.js'
import { fileURLToPath } from 'node:url'
import { createBrotliDecompress, createGunzip } from 'node:zlib'

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback
const parallelRun = process.argv.includes('--parallel')
const mb = Number(arg('mb', parallelRun ? '200' : '1024'))
const servers = arg('encoding', parallelRun ? 'hand-gzip,gzip,gzip-one' : 'gzip,br,hand-gzip,hand-br').split(',')
/** Runs of each server, one after the other (`--runs=3`): each figure is reported per run. */
const runs = Number(arg('runs', '1'))
/** `parallelGzip` settings of the `gzip` server, to try others than the defaults (`--concurrency=3 --block=65536 --max-block=65536`). */
const tuning = { concurrency: arg('concurrency', ''), blockSize: arg('block', ''), maxBlockSize: arg('max-block', '') }
/** The layer may grow RSS by at most this much more than the hand pipe of its coding. */
const MARGIN_MIB = 2
/** The speed goal of parallel gzip against one hand-piped createGzip(), on 2 cores. */
const SPEED_GOAL = 1.7

/** The server's own figures: peak RSS, CPU time of all its threads, and its main thread's busy time. */
interface Stats {
  maxRssKiB: number
  cpuMs: number
  busyMs: number
}

interface Server {
  port: number
  stats(): Promise<Stats>
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
    : compose(
        compression({
          encodings: [serving.startsWith('gzip') ? 'gzip' : 'br'],
          gzipLevel: benchSettings.gzipLevel,
          parallelGzip:
            serving === 'gzip-one'
              ? false
              : {
                  ...(process.env.BENCH_CONCURRENCY ? { concurrency: Number(process.env.BENCH_CONCURRENCY) } : {}),
                  ...(process.env.BENCH_BLOCK ? { blockSize: Number(process.env.BENCH_BLOCK) } : {}),
                  ...(process.env.BENCH_MAX_BLOCK ? { maxBlockSize: Number(process.env.BENCH_MAX_BLOCK) } : {}),
                },
        }),
      )((req, res) => {
        res.setHeader('content-type', 'application/x-ndjson')
        stream(req, res)
      })
  const server = await listen(handler as RequestListener)
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const cpu = process.cpuUsage()
      process.send!({
        type: 'stats',
        maxRssKiB: process.resourceUsage().maxRSS,
        // Every thread's CPU (the main thread and zlib's on the thread pool) against the
        // main thread's alone: what the event loop spends between blocks.
        cpuMs: (cpu.user + cpu.system) / 1000,
        busyMs: performance.eventLoopUtilization().active,
      })
    } else {
      server.closeAllConnections()
      server.close(() => process.exit(0))
    }
  })
  process.send!({ type: 'ready', port: (server.address() as { port: number }).port })
}

async function startServer(scenario: string): Promise<Server> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), `--serve=${scenario}`], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      ...(tuning.concurrency ? { BENCH_CONCURRENCY: tuning.concurrency } : {}),
      ...(tuning.blockSize ? { BENCH_BLOCK: tuning.blockSize } : {}),
      ...(tuning.maxBlockSize ? { BENCH_MAX_BLOCK: tuning.maxBlockSize } : {}),
    },
  })
  const port = await new Promise<number>((ok, fail) => {
    child.once('message', (m: { type: string; port: number }) => ok(m.port))
    child.once('exit', (code) => fail(new Error(`${scenario} exited with ${code}`)))
  })
  return {
    port,
    stats: () =>
      new Promise((ok) => {
        child.once('message', (m: Stats) => ok(m))
        child.send({ type: 'stats' })
      }),
    stop: () =>
      new Promise((ok) => {
        child.once('exit', () => ok())
        child.send({ type: 'stop' })
      }),
  }
}

/** Download `/stream?mb=…` decoded, counting bytes; resolves with the sizes and the time to the first body byte. */
function download(
  port: number,
  encoding: string,
  size: number,
): Promise<{ encoded: number; decoded: number; ttfbMs: number }> {
  return new Promise((ok, fail) => {
    const started = performance.now()
    let ttfbMs = 0
    request(
      { host: '127.0.0.1', port, path: `/stream?mb=${size}`, headers: { 'accept-encoding': encoding } },
      (res) => {
        if (res.headers['content-encoding'] !== encoding)
          fail(new Error(`expected ${encoding}, got ${res.headers['content-encoding']}`))
        const decoder = encoding === 'br' ? createBrotliDecompress() : createGunzip()
        let encoded = 0
        let decoded = 0
        res.on('data', (d: Buffer) => {
          if (encoded === 0) ttfbMs = performance.now() - started
          encoded += d.length
        })
        decoder.on('data', (d: Buffer) => {
          decoded += d.length
        })
        decoder.on('end', () => ok({ encoded, decoded, ttfbMs }))
        decoder.on('error', fail)
        res.pipe(decoder)
      },
    )
      .on('error', fail)
      .end()
  })
}

interface Result {
  readonly mibPerSecond: number
  readonly growth: number
  readonly ttfbMs: number
}

const cores = availableParallelism()
/** Every run of each server, in order. */
const results = new Map<string, Result[]>()
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const figures = (xs: readonly number[], digits: number): string =>
  xs.length === 1
    ? xs[0]!.toFixed(digits)
    : `median ${median(xs).toFixed(digits)} (${xs.map((x) => x.toFixed(digits)).join(', ')})`
if (!serving && (tuning.concurrency || tuning.blockSize || tuning.maxBlockSize))
  console.log(
    `gzip's parallelGzip: concurrency ${tuning.concurrency || 'default'}, blockSize ${tuning.blockSize || 'default'}, ` +
      `maxBlockSize ${tuning.maxBlockSize || 'default'}`,
  )
for (let run = 0; run < (serving ? 0 : runs); run++)
  for (const name of servers) {
    const server = await startServer(name)
    const encoding = name.replace(/^hand-/, '').replace(/-one$/, '')
    try {
      await download(server.port, encoding, 16) // warm-up: JIT, buffers, the encoder's first allocation
      const before = await server.stats()
      const clientCpu = process.cpuUsage()
      const started = Date.now()
      const { encoded, decoded, ttfbMs } = await download(server.port, encoding, mb)
      const ms = Date.now() - started
      const client = process.cpuUsage(clientCpu)
      const after = await server.stats()
      const growth = (after.maxRssKiB - before.maxRssKiB) / 1024
      if (decoded !== mb * 1024 * 1024) throw new Error(`decoded ${decoded} bytes, expected ${mb} MiB`)
      const result = { mibPerSecond: (mb * 1000) / ms, growth, ttfbMs }
      results.set(name, [...(results.get(name) ?? []), result])
      const share = (cpuMs: number) => `${cpuMs.toFixed(0)} ms (${((cpuMs / ms) * 100).toFixed(0)}%)`
      console.log(
        `${name}: ${mb} MiB streamed in ${(ms / 1000).toFixed(1)} s (${result.mibPerSecond.toFixed(0)} MiB/s, ` +
          `${(encoded / 2 ** 20).toFixed(1)} MiB on the wire), first byte after ${ttfbMs.toFixed(1)} ms; ` +
          `server peak RSS ${(before.maxRssKiB / 1024).toFixed(1)} → ${(after.maxRssKiB / 1024).toFixed(1)} MiB, ` +
          `growth ${growth.toFixed(1)} MiB; CPU: server ${share(after.cpuMs - before.cpuMs)}, its main thread ` +
          `${share(after.busyMs - before.busyMs)}, client ${share((client.user + client.system) / 1000)}`,
      )
    } finally {
      await server.stop()
    }
  }

// The goals, each against the hand pipe of the same coding measured above (medians of the runs).
let failed = false
for (const [name, all] of results) {
  if (name.startsWith('hand-')) continue
  const handRuns = results.get(`hand-${name.replace(/-one$/, '')}`)
  if (!handRuns) {
    console.log(`${name}: no hand pipe of its coding in this run; run it with hand-${name} to check the RSS goal`)
    continue
  }
  const growth = median(all.map((r) => r.growth))
  const limit = median(handRuns.map((r) => r.growth)) + MARGIN_MIB
  const ok = growth <= limit
  if (!ok) failed = true
  console.log(
    `RSS goal, ${name}: growth ${figures(
      all.map((r) => r.growth),
      1,
    )} MiB ≤ hand pipe ${figures(
      handRuns.map((r) => r.growth),
      1,
    )} + ${MARGIN_MIB} = ${limit.toFixed(1)} MiB: ${ok ? 'ok' : 'OVER GOAL'}`,
  )
  if (name === 'gzip' || name === 'gzip-one') {
    // Each run against the hand pipe's run of the same round, so drifting load hits both.
    const speeds = all.map((r, i) => r.mibPerSecond / handRuns[Math.min(i, handRuns.length - 1)]!.mibPerSecond)
    const speed = median(speeds)
    const goal =
      cores >= 2
        ? ` (goal ≥ ${SPEED_GOAL}× on 2 cores: ${cores === 2 ? (speed >= SPEED_GOAL ? 'met' : 'NOT MET') : 'n/a'})`
        : ''
    console.log(
      `speed, ${name}: ${figures(speeds, 2)}× the hand-piped createGzip() on ${cores} core${cores === 1 ? '' : 's'}` +
        `${name === 'gzip' ? goal : ' (one zlib stream, for reference)'}; first byte ${figures(
          all.map((r) => r.ttfbMs),
          1,
        )} ms against ${figures(
          handRuns.map((r) => r.ttfbMs),
          1,
        )} ms`,
    )
  }
}
if (!serving) process.exitCode = failed ? 1 : 0
