/**
 * What every benchmark scenario shares: the types, the routes each server answers, and a
 * loopback listener. Scenario files live in benchmarks/scenarios/ and are found by name.
 */
import { existsSync, readdirSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import { Readable } from 'node:stream'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { RawHandler } from '../lib/index.js'

/** A server under test; started in its own process. */
export interface Scenario {
  readonly description: string
  start(): Promise<Server>
}

/** A set of scenarios measured side by side, interleaved, on one route. */
export interface Comparison {
  readonly name: string
  readonly route: string
  readonly baseline: string
  readonly scenarios: readonly string[]
  /** Extra request headers (e.g. Accept-Encoding, Authorization). */
  readonly headers?: Readonly<Record<string, string>>
  readonly method?: string
  /** A request body sent with every request (request decompression: a gzip upload). */
  readonly body?: Buffer
  /** Checked with one request to each scenario before timing: the features really are on. */
  readonly expect?: {
    readonly status?: number
    readonly headers?: readonly string[]
    readonly absentHeaders?: readonly string[]
  }
  /** Requests per measurement instead of a duration (large streamed responses). */
  readonly amount?: number
  readonly connections?: number
  /** Scenarios exempt from `expect` (bare servers and physical limits). */
  readonly unchecked?: readonly string[]
  /** A large streamed body: also report throughput, time to first byte and peak RSS growth. */
  readonly stream?: boolean
  /**
   * The scenario that does the same work by hand (`hand-written`): `onion` is also reported as
   * a ratio to it, in req/s and in CPU time per request, measured in the same run.
   */
  readonly limit?: string
  /** A caveat printed and rendered with the table (how a peer does the work differently). */
  readonly note?: string
  /**
   * Run the servers unpinned, free to use every core (zlib's threadpool included), instead of
   * on core 0. Skipped on a host with a single core.
   */
  readonly unpinned?: boolean
  /**
   * Start every scenario afresh for each round: a new process, warmed up, measured once,
   * stopped. A Node process can settle in a slower state for its whole life (about one in
   * five of the stack's, 15–25% slower; what V8 optimised, and when, differs, the work does
   * not), and one process per scenario carried that lottery into every round; the median
   * over rounds now sets it aside. Not for streamed comparisons, which also measure a
   * process's growth.
   */
  readonly freshProcesses?: boolean
}

/** What a scenario file exports. */
export interface ScenarioModule {
  readonly scenarios: Readonly<Record<string, Scenario>>
  readonly comparisons?: readonly Comparison[]
}

const item = (i: number) => ({
  id: i,
  name: `item ${i}`,
  tags: ['alpha', 'beta'],
  price: 10.5 + i,
  inStock: i % 3 !== 0,
})

/** ~1 KB of JSON, as an API answers. */
export const smallJson = JSON.stringify({ items: Array.from({ length: 12 }, (_, i) => item(i)) })

/** ~64 KB of JSON: a large API answer, the compression route. */
export const largeJson = JSON.stringify({ items: Array.from({ length: 800 }, (_, i) => item(i)) })

/** One 64 KiB chunk of text for streamed routes (compressible, like logs or CSV). */
export const streamChunk = Buffer.from(
  Array.from({ length: 2048 }, (_, i) => `row ${i % 97},${(i * 7919) % 10007};`)
    .join('')
    .slice(0, 65536)
    .padEnd(65536, '.'),
)

/** Settings every stack shares, so the comparison is like for like. */
export const benchSettings = Object.freeze({
  allowedOrigin: 'https://app.example',
  /** HS256 key of the JWT-protected route (32 bytes). */
  jwtSecret: 'bench-secret-0123456789abcdef0123',
  gzipLevel: 6,
  threshold: 1024,
  /** Rate limit high enough never to answer 429 during a run, so only its cost is measured. */
  rateLimit: 1_000_000_000,
  windowMs: 60_000,
})

/** Write `mb` MiB of text to `res`, honouring backpressure (one 'drain' listener for the whole stream). */
export function streamText(res: import('node:http').ServerResponse, mb: number): void {
  const total = mb * 16
  let sent = 0
  const pump = () => {
    while (sent < total) {
      sent++
      if (!res.write(streamChunk)) return
    }
    res.off('drain', pump)
    res.end()
  }
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.on('drain', pump)
  pump()
}

/** The same text as a Readable, for frameworks that send streams (`reply.send(stream)`). */
export function textStream(mb: number): import('node:stream').Readable {
  let left = mb * 16
  return new Readable({
    read() {
      this.push(left-- > 0 ? streamChunk : null)
    },
  })
}

/**
 * The routes every scenario serves: `/json` (~1 KB), `/json64` (~64 KB), `/stream?mb=N`
 * (N MiB of text, default 100), `/protected` (the 1 KB JSON, behind JWT in full stacks).
 */
export const routes: RawHandler = (req, res) => {
  const url = req.url ?? '/'
  if (url === '/json' || url === '/' || url === '/protected') {
    res.setHeader('content-type', 'application/json')
    res.end(smallJson)
  } else if (url === '/json64') {
    res.setHeader('content-type', 'application/json')
    res.end(largeJson)
  } else if (url.startsWith('/stream')) {
    streamText(res, Number(/mb=(\d+)/.exec(url)?.[1] ?? 100))
  } else {
    res.statusCode = 404
    res.end()
  }
}

/** Listen on an ephemeral loopback port. */
export const listen = (handler: RequestListener): Promise<Server> =>
  new Promise((ok) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () => ok(server))
  })

/**
 * Every scenario file: benchmarks/scenarios/*.ts (compiled next to this file) and the peer
 * stacks in benchmarks/peers/*.mjs (plain JavaScript run from the source tree, because their
 * packages live in benchmarks/node_modules, which the library's type check never sees).
 */
export function scenarioFiles(): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  const compiled = join(here, 'scenarios')
  const peers = join(here, '..', '..', 'benchmarks', 'peers')
  return [
    ...readdirSync(compiled)
      .filter((f) => f.endsWith('.js'))
      .map((f) => join(compiled, f)),
    ...(existsSync(peers)
      ? readdirSync(peers)
          .filter((f) => f.endsWith('.mjs'))
          .map((f) => join(peers, f))
      : []),
  ].sort()
}

/** Load one scenario file; helper modules (peers/shared.mjs) export no scenarios and give undefined. */
export async function loadScenarioModule(file: string): Promise<(ScenarioModule & { file: string }) | undefined> {
  const module = (await import(pathToFileURL(file).href)) as Partial<ScenarioModule>
  return module.scenarios === undefined ? undefined : { ...(module as ScenarioModule), file }
}

/** Every scenario module, loaded (in the runner only: a server process loads just its own file). */
export async function loadScenarioModules(): Promise<Array<ScenarioModule & { file: string }>> {
  const modules = await Promise.all(scenarioFiles().map(loadScenarioModule))
  return modules.filter((m): m is ScenarioModule & { file: string } => m !== undefined)
}
