/**
 * Pipelined requests cut by the client (security issue #16, finding A). Node 20 queues the
 * responses behind the one being written; they have no socket, and when the client resets
 * the connection Node destroys their requests but never emits 'close' on them. Every layer
 * that waits for the end of an exchange must still hear it, or a client that pipelines
 * and resets leaks slots, log lines, zlib streams and timers at will.
 */
import { createServer } from 'node:http'
import { availableParallelism } from 'node:os'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import {
  accessLog,
  compose,
  compression,
  loadShedding,
  timeout,
  type AccessLogEntry,
  type RawHandler,
  type TimeoutTimers,
} from '../../lib/index.js'
import { collectGarbage } from '../helpers/gc.js'
import { openSocket, rawExchange, parseRawResponse } from '../helpers/raw.js'
import { listen } from '../helpers/serve.js'
import { until } from '../helpers/wait.js'
import { writeWithBackpressure } from '../helpers/backpressure.js'

const PIPELINES = 1000
const DEPTH = 4
const CONCURRENCY = 25
// Pipelines cut before the baseline is taken: enough for the heap and the allocator to
// reach the size this concurrency needs.
const WARM_UP = 200

/**
 * Record every compressor zlib makes from now until `t` ends. The streams are Node's own,
 * unchanged; the factories are wrapped only to see them (ESM importers of node:zlib see the
 * wrapper through syncBuiltinESMExports).
 */
function watchCompressors(t: Test): { created: number; closed: number } {
  // Counts, not the streams: holding them would hold their buffers too.
  const counts = { created: 0, closed: 0 }
  // createDeflateRaw: parallel gzip's blocks, each a raw-deflate stream of its own.
  const names = ['createGzip', 'createDeflate', 'createBrotliCompress', 'createDeflateRaw'] as const
  // The CommonJS module object: the one syncBuiltinESMExports reads from.
  const module = createRequire(import.meta.url)('node:zlib') as Record<string, (options?: object) => Duplex>
  const originals = names.map((name) => module[name]!)
  // Node defines these as read-only (but configurable) properties.
  const define = (name: string, value: (options?: object) => Duplex) =>
    Object.defineProperty(module, name, { value, configurable: true, enumerable: true })
  names.forEach((name, i) => {
    const make = originals[i]!
    define(name, (options?: object) => {
      const stream = make(options)
      counts.created++
      stream.once('close', () => {
        counts.closed++
      })
      return stream
    })
  })
  syncBuiltinESMExports()
  t.teardown(() => {
    names.forEach((name, i) => {
      define(name, originals[i]!)
    })
    syncBuiltinESMExports()
  })
  return counts
}

/** Node's timers, counting those pending. */
function countingTimers(): TimeoutTimers & { pending: number } {
  const timers = {
    pending: 0,
    setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown {
      timers.pending++
      return setTimeout(() => {
        timers.pending--
        callback(arg)
      }, ms)
    },
    clearTimeout(handle: unknown): void {
      timers.pending--
      clearTimeout(handle as NodeJS.Timeout)
    },
  }
  return timers
}

// collectGarbage() before each RSS reading: RSS then compares live memory, not garbage not yet
// collected (the leak this file guards against is native zlib memory, which only destroy frees).

// Text that compresses only to about three quarters: a handler's output fills the
// response's buffer quickly, as real data does.
const noise = (n: number): string => {
  let s = ''
  while (s.length < n) s += Math.random().toString(36).slice(2)
  return s.slice(0, n)
}
// Distinct chunks: a repeated one would compress to nothing inside the 32 KiB window.
const CHUNKS = Array.from({ length: 8 }, () => noise(8 * 1024))

// Both gzip encoders: one zlib stream per response (parallelGzip: false, and any one-core
// machine), and parallel gzip's block streams (the default for streams elsewhere).
for (const parallel of [false, true])
  t.test(
    `a cut pipeline ends every exchange: slots, log lines, timers and zlib streams come back (${parallel ? 'parallel gzip' : 'one zlib stream'})`,
    { timeout: 120_000, skip: parallel && availableParallelism() < 2 ? 'one core: parallel gzip is off' : false },
    async (t) => {
      const compressors = watchCompressors(t)
      const entries: AccessLogEntry[] = []
      const shedding = loadShedding({ maxEventLoopDelayMs: 0, maxInFlight: 10_000, maxQueue: 0 })
      t.teardown(() => shedding.close())
      const timers = countingTimers()
      // The handlers that ran, by pipeline: the client cuts once all its requests arrived.
      const arrived = new Map<string, number>()

      const handler: RawHandler = (req, res) => {
        const [, pipeline, position] = req.url!.split('/')
        arrived.set(pipeline!, (arrived.get(pipeline!) ?? 0) + 1)
        res.setHeader('content-type', 'text/plain')
        if (position === '0') {
          // The response being written stalls (a slow producer), so the others stay queued.
          res.write(CHUNKS[0])
          return
        }
        // The queued ones stream 64 KiB, honouring backpressure.
        void writeWithBackpressure(res, CHUNKS).then(() => res.end())
      }
      const app = compose(
        accessLog({
          sink: (_line, entry) => {
            entries.push(entry)
          },
        }),
        shedding,
        timeout({ ms: 60_000, timers }),
        compression({ encodings: ['gzip'], parallelGzip: parallel }),
      )(handler)
      const { url } = await listen(t, createServer(app))

      const cut = async (pipeline: number): Promise<void> => {
        const socket: Socket = await openSocket(url)
        socket.on('error', () => undefined)
        let requests = ''
        for (let i = 0; i < DEPTH; i++)
          requests += `GET /p${pipeline}/${i} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n`
        socket.write(requests)
        await until(() => arrived.get(`p${pipeline}`) === DEPTH)
        socket.resetAndDestroy()
      }
      const run = async (from: number, to: number): Promise<void> => {
        let next = from
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < to) await cut(next++)
          }),
        )
      }

      // Warm up, then take the baseline: what the server holds with nothing in flight.
      await run(0, WARM_UP)
      await until(() => entries.length === WARM_UP * DEPTH && shedding.stats().inFlight === 0)
      collectGarbage()
      const baseline = process.memoryUsage.rss()

      const started = Date.now()
      await run(WARM_UP, PIPELINES)
      await until(() => entries.length >= PIPELINES * DEPTH && shedding.stats().inFlight === 0)
      t.comment(`${PIPELINES - WARM_UP} cut pipelines in ${Date.now() - started} ms`)

      t.equal(shedding.stats().inFlight, 0, 'every slot came back')
      t.equal(timers.pending, 0, 'no deadline timer left running')
      t.equal(entries.length, PIPELINES * DEPTH, 'one log line per request')
      const paths = new Set(entries.map((e) => e.path))
      t.equal(paths.size, PIPELINES * DEPTH, 'no request logged twice')
      const outcomes = new Map<string, number>()
      for (const e of entries)
        outcomes.set(`${e.outcome} ${e.status}`, (outcomes.get(`${e.outcome} ${e.status}`) ?? 0) + 1)
      t.same(Object.fromEntries(outcomes), { 'aborted 499': PIPELINES * DEPTH }, 'every cut request logged as aborted')
      t.equal(
        entries.filter((e) => !e.path.endsWith('/0') && e.bytesOut !== 0).length,
        0,
        'the queued ones put nothing on the wire',
      )
      if (parallel)
        // The stalled first response has not filled a block yet; each queued one streamed
        // 64 KiB, so at least one block stream each (a 32 KiB first block, then more).
        t.ok(
          compressors.created >= PIPELINES * (DEPTH - 1),
          `every streamed response was compressed (${compressors.created} block streams)`,
        )
      else t.equal(compressors.created, PIPELINES * DEPTH, 'every response was compressed')
      await until(() => compressors.closed === compressors.created)
      t.equal(compressors.created - compressors.closed, 0, 'no zlib stream left alive')
      collectGarbage()
      const growth = (process.memoryUsage.rss() - baseline) / 2 ** 20
      t.ok(growth < 64, `RSS back near its baseline (grew ${growth.toFixed(1)} MiB)`)

      // And the server still answers, compressed.
      const answer = parseRawResponse(
        await rawExchange(
          url,
          'GET /after/1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
        ),
      )
      t.equal(answer.status, 200)
      t.equal(answer.headers['content-encoding'], 'gzip')
    },
  )
