/**
 * compression(): small and medium JSON bodies (whole, so their length is known when the
 * layer decides), and a large streamed body compressed by the middleware against the same
 * stream piped by hand through `zlib.createGzip()` at the same level: the cost of the
 * layer itself. Routes and settings are the shared ones (`/json`, `/json64`,
 * `/stream?mb=N`; gzip level and threshold from `benchSettings`), so peer stacks serving
 * the same routes can join these comparisons.
 *
 * `benchmarks/compression-rss.ts` streams 1 GiB through `compression-gzip` and
 * `compression-br` and reports the server's peak RSS growth against the hand pipe of each
 * coding (goal: at most + 2 MiB), and with `--parallel` a 200 MiB gzip stream through the
 * layer's parallel gzip against one hand-piped `createGzip()`, with the core count. Parallel
 * gzip is measured there, not here: these servers are pinned to one core (taskset), where
 * `os.availableParallelism()` is 1 and compression() keeps one zlib stream per response, so
 * the comparisons below measure what they measured before it.
 */
import type { RequestListener } from 'node:http'
import { createGzip } from 'node:zlib'
import { compose, compression, type RawHandler } from '../../lib/index.js'
import {
  benchSettings,
  largeJson,
  listen,
  routes,
  smallJson,
  textStream,
  type Comparison,
  type Scenario,
} from '../common.js'

/** The same routes with gzip applied by hand: each body piped through `zlib.createGzip()`. */
const handGzip: RawHandler = (req, res) => {
  const url = req.url ?? '/'
  const stream = url.startsWith('/stream')
  if (!stream && url !== '/json' && url !== '/json64') return routes(req, res)
  res.setHeader('content-type', stream ? 'text/plain; charset=utf-8' : 'application/json')
  res.setHeader('content-encoding', 'gzip')
  res.setHeader('vary', 'Accept-Encoding')
  const gzip = createGzip({ level: benchSettings.gzipLevel })
  gzip.pipe(res)
  if (stream) textStream(Number(/mb=(\d+)/.exec(url)?.[1] ?? 100)).pipe(gzip)
  else gzip.end(url === '/json' ? smallJson : largeJson)
}

const serveWith = (handler: RawHandler) => () => listen(handler as RequestListener)
const { gzipLevel, threshold } = benchSettings

export const scenarios: Record<string, Scenario> = {
  'compression-bare': {
    description: 'node:http, the shared routes uncompressed',
    start: serveWith(routes),
  },
  'compression-hand-gzip': {
    description: `node:http, each body piped by hand through zlib.createGzip({ level: ${gzipLevel} })`,
    start: serveWith(handGzip),
  },
  'compression-gzip': {
    description: `http-onion compression({ encodings: ['gzip'], gzipLevel: ${gzipLevel}, threshold: ${threshold} })`,
    start: serveWith(compose(compression({ encodings: ['gzip'], gzipLevel, threshold }))(routes)),
  },
  'compression-br': {
    description: `http-onion compression({ threshold: ${threshold} }): brotli quality 4 for browsers`,
    start: serveWith(compose(compression({ threshold }))(routes)),
  },
}

const gzip = { 'accept-encoding': 'gzip' }
const browser = { 'accept-encoding': 'gzip, deflate, br' }

export const comparisons: Comparison[] = [
  {
    // ~940 bytes: below the shared 1 KiB threshold, so stacks that honour it send it as is.
    name: 'compression: 1 KB JSON (below the threshold), gzip 6',
    route: '/json',
    baseline: 'compression-bare',
    headers: gzip,
    scenarios: ['compression-bare', 'compression-hand-gzip', 'compression-gzip'],
  },
  {
    name: 'compression: 64 KB JSON, gzip 6',
    route: '/json64',
    baseline: 'compression-bare',
    headers: gzip,
    scenarios: ['compression-bare', 'compression-hand-gzip', 'compression-gzip'],
  },
  {
    name: 'compression: 64 KB JSON, browser Accept-Encoding (br 4)',
    route: '/json64',
    baseline: 'compression-bare',
    headers: browser,
    scenarios: ['compression-bare', 'compression-br'],
  },
  {
    // 1 MiB per response (16 writes of 64 KiB) lets 50 connections finish many requests
    // within a measurement; `/stream?mb=100` answers the same way for a longer manual run.
    name: 'compression: 1 MiB streamed text, middleware vs hand-piped createGzip, gzip 6',
    route: '/stream?mb=1',
    baseline: 'compression-hand-gzip',
    headers: gzip,
    scenarios: ['compression-hand-gzip', 'compression-gzip'],
  },
]
