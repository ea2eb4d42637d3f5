/**
 * loadShedding: answer 503 early when the process is overloaded, so the requests it does
 * take are served in time, instead of every request being served late.
 *
 * Two worlds that peers keep apart, in one layer:
 * - Process signals, sampled off the request path every `sampleIntervalMs`: event-loop
 *   delay (`perf_hooks.monitorEventLoopDelay`, plus the sampler's own lateness, which sees
 *   a long synchronous block the moment it ends), event-loop utilisation, V8 heap used and
 *   resident set size. Each has a threshold; the first one over it marks the process
 *   overloaded until a later sample says otherwise.
 * - Concurrency: requests in flight, with an optional small queue (FIFO, bounded wait) in
 *   front of the limit. The count goes back down exactly once per request, whatever the
 *   ending (finished, aborted, failed, timed out), because it hangs on `onResponseEnd`.
 *
 * The decision on the request path reads a few fields: constant time, no store, no
 * allocation for an accepted request. A refused one gets 503 with `Retry-After` through
 * `sendError`. Exempt paths (health checks) are never refused or queued.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectNumber,
  withDefaults,
} from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import { RequestQueue, type ShedReason } from './queue.js'
import { Sampler } from './sampler.js'

export type { ShedReason } from './queue.js'

/** Options for {@link loadShedding}. Every threshold is off at 0. */
export interface LoadSheddingOptions {
  /**
   * Refuse while the event loop ran this many milliseconds late in the last sample window
   * (the longest delay seen). Node serves nothing while it is late, so every request
   * queued behind the delay waits as long again.
   * @default 200
   */
  maxEventLoopDelayMs?: number
  /** Refuse while event-loop utilisation (0–1) over the last window is above this. E.g. 0.98. @default 0 (off) */
  maxEventLoopUtilization?: number
  /** Refuse while V8's used heap exceeds this many bytes: answer 503 rather than crash out of memory. @default 0 (off) */
  maxHeapUsedBytes?: number
  /** Refuse while the resident set size exceeds this many bytes (containers with a memory limit). @default 0 (off) */
  maxRssBytes?: number
  /** Requests served at once; more wait in the queue or are refused. @default 0 (no limit) */
  maxInFlight?: number
  /** Requests that may wait for a slot when `maxInFlight` is reached; keep it small. @default 0 */
  maxQueue?: number
  /** Longest wait in the queue before a 503. @default 1000 */
  queueTimeoutMs?: number
  /** How often the process signals are sampled, in ms; a window is one interval. @default 500 */
  sampleIntervalMs?: number
  /** `Retry-After` of the 503, in seconds. @default 1 */
  retryAfterSeconds?: number
  /** Paths never refused nor queued (health checks, metrics), matched on `matchablePath(req.url)`: an ambiguous target is never exempt. @default [] */
  exempt?: readonly PathPattern[]
  /** Match `exempt` case-sensitively. @default false */
  caseSensitive?: boolean
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * sheds and queues them like any request; `'refuse'` answers them 400 `ambiguous_path`,
   * loaded or not.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
  /** Called for each refusal, for metrics; its errors are reported, never thrown. @default undefined */
  onShed?: (req: IncomingMessage, reason: ShedReason) => void
}

export const loadSheddingDefaults = defineDefaults<LoadSheddingOptions, 'onShed'>({
  maxEventLoopDelayMs: 200,
  maxEventLoopUtilization: 0,
  maxHeapUsedBytes: 0,
  maxRssBytes: 0,
  maxInFlight: 0,
  maxQueue: 0,
  queueTimeoutMs: 1000,
  sampleIntervalMs: 500,
  retryAfterSeconds: 1,
  exempt: Object.freeze([]) as readonly PathPattern[],
  caseSensitive: false,
  ambiguousPaths: 'fail-closed',
  onShed: undefined,
})

/** The signals and counters of one `loadShedding()` instance, as last sampled. */
export interface LoadStats {
  /** Why requests are being refused now, or undefined. */
  readonly overloaded: ShedReason | undefined
  readonly eventLoopDelayMs: number
  readonly eventLoopUtilization: number
  readonly heapUsedBytes: number
  readonly rssBytes: number
  readonly inFlight: number
  readonly queued: number
  /** Requests refused since the instance was made. */
  readonly shed: number
}

/** What `loadShedding()` returns: a Middleware with its signals and a way to stop sampling. */
export interface LoadShedding extends Middleware {
  /** The current signals and counters. */
  stats(): LoadStats
  /** Sample the process signals now (the timer does so every `sampleIntervalMs`). */
  sample(): LoadStats
  /** Stop sampling; requests are then judged by concurrency alone. Idempotent. */
  close(): void
}

/**
 * Refuse requests with 503 + `Retry-After` while the process is overloaded or too many
 * requests are in flight. Call `close()` when the server stops (the sampler is unref'd,
 * so it never keeps a process alive, but it keeps a histogram running).
 * @example
 * const shedding = loadShedding({ maxEventLoopDelayMs: 150, maxInFlight: 200, maxQueue: 20, exempt: ['/health'] })
 * server.on('close', () => shedding.close())
 */
export function loadShedding(options: LoadSheddingOptions = {}): LoadShedding {
  const opts = withDefaults('loadShedding', loadSheddingDefaults, options)
  const name = 'loadShedding'
  const maxDelay = expectNumber(name, 'maxEventLoopDelayMs', opts.maxEventLoopDelayMs, 0)
  const maxElu = expectNumber(name, 'maxEventLoopUtilization', opts.maxEventLoopUtilization, 0, 1)
  const maxHeap = expectInteger(name, 'maxHeapUsedBytes', opts.maxHeapUsedBytes, 0)
  const maxRss = expectInteger(name, 'maxRssBytes', opts.maxRssBytes, 0)
  const maxInFlight = expectInteger(name, 'maxInFlight', opts.maxInFlight, 0)
  const maxQueue = expectInteger(
    name,
    'maxQueue',
    opts.maxQueue,
    0,
    10_000,
    'A long queue only turns refusals into timeouts.',
  )
  if (maxQueue > 0 && maxInFlight === 0)
    throw new ConfigError(
      name,
      'maxQueue',
      '0 when maxInFlight is 0',
      maxQueue,
      'Set maxInFlight too: the queue holds requests beyond it.',
    )
  const queueTimeoutMs = expectInteger(name, 'queueTimeoutMs', opts.queueTimeoutMs, 1, 2_147_483_647)
  const interval = expectInteger(name, 'sampleIntervalMs', opts.sampleIntervalMs, 10, 60_000)
  const retryAfter = expectInteger(name, 'retryAfterSeconds', opts.retryAfterSeconds, 0, 86_400)
  const isExempt = compilePathPatterns(name, 'exempt', opts.exempt ?? [], {
    caseSensitive: expectBoolean(name, 'caseSensitive', opts.caseSensitive),
  })
  const refuseAmbiguous = expectAmbiguousPaths(name, opts.ambiguousPaths)
  const onShed =
    opts.onShed === undefined
      ? undefined
      : expectFunction<NonNullable<LoadSheddingOptions['onShed']>>(name, 'onShed', opts.onShed)

  const requests = new RequestQueue({
    maxInFlight,
    maxQueue,
    queueTimeoutMs,
    error: new HttpError(503, 'The server is overloaded; retry later', {
      code: 'overloaded',
      expose: true,
      headers: { 'retry-after': String(retryAfter) },
    }),
    onShed,
  })
  const sampler =
    maxDelay > 0 || maxElu > 0 || maxHeap > 0 || maxRss > 0
      ? new Sampler(interval, { maxDelay, maxElu, maxHeap, maxRss })
      : undefined

  const detail =
    [
      maxDelay > 0 && `delay ${maxDelay} ms`,
      maxElu > 0 && `elu ${maxElu}`,
      maxHeap > 0 && `heap ${maxHeap} B`,
      maxRss > 0 && `rss ${maxRss} B`,
      maxInFlight > 0 && `${maxInFlight} in flight${maxQueue > 0 ? ` + ${maxQueue} queued` : ''}`,
    ]
      .filter(Boolean)
      .join(', ') || 'no limits'

  const middleware = defineMiddleware(
    {
      name,
      detail,
    },
    (next) =>
      function loadSheddingHandler(req, res) {
        if (refuseAmbiguous && matchablePath(req.url) === undefined)
          return void sendError(req, res, AMBIGUOUS_PATH_ERROR)
        const reason = sampler?.reason()
        if (reason !== undefined) {
          if (!exempt(req, isExempt)) return requests.refuse(req, res, reason)
        } else if (maxInFlight > 0 && requests.inFlight >= maxInFlight && !exempt(req, isExempt)) {
          if (requests.queue.length < maxQueue) return requests.enqueue(req, res, next)
          return requests.refuse(req, res, 'inFlight')
        }
        if (maxInFlight === 0) return next(req, res)
        // Exempt requests count too: they hold a slot while they run.
        requests.admit(res)
        return next(req, res)
      },
  )

  return Object.assign(middleware, {
    stats: () => stats(requests, sampler),
    sample: () => {
      sampler?.sample()
      return stats(requests, sampler)
    },
    close: () => sampler?.close(),
  })
}

function exempt(req: IncomingMessage, isExempt: (path: string) => boolean): boolean {
  const path = matchablePath(req.url)
  // An ambiguous target, or one that cannot be normalised, is never exempt.
  return path !== undefined && isExempt(path)
}

function stats(requests: RequestQueue, sampler: Sampler | undefined): LoadStats {
  return {
    overloaded: sampler?.overloaded,
    eventLoopDelayMs: sampler?.eventLoopDelayMs ?? 0,
    eventLoopUtilization: sampler?.eventLoopUtilization ?? 0,
    heapUsedBytes: sampler?.heapUsedBytes ?? 0,
    rssBytes: sampler?.rssBytes ?? 0,
    inFlight: requests.inFlight,
    queued: requests.queue.length,
    shed: requests.shed,
  }
}
