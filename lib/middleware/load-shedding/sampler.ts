/**
 * loadShedding's sampler: reads the process signals off the request path, every interval,
 * and marks the instance overloaded when one is over its threshold. Split from
 * load-shedding.ts.
 * @module
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'
import { monotonicNow } from '../../core/clock.js'

/** A reason found by sampling the process. */
export type SignalReason = 'eventLoopDelay' | 'eventLoopUtilization' | 'heapUsed' | 'rss'

/** The signals as last sampled, written by the sampler and read on the request path. */
export interface Signals {
  overloaded: SignalReason | undefined
  eventLoopDelayMs: number
  eventLoopUtilization: number
  heapUsedBytes: number
  rssBytes: number
  /** When the sampler last ran; a stale one means the loop is blocked right now. */
  sampledAt: number
}

/** A running sampler. */
export interface Sampler {
  /** Sample now (the lateness of a manual call is not measured). */
  sample(): void
  /** Stop the timer and the histogram. */
  close(): void
}

/** The process thresholds; 0 turns one off. */
export interface Thresholds {
  readonly maxDelay: number
  readonly maxElu: number
  readonly maxHeap: number
  readonly maxRss: number
}

/** The sampler: an unref'd interval timer and, when delay is watched, a histogram. */
export function startSampler(shedder: Signals, interval: number, limits: Thresholds): Sampler {
  const histogram: IntervalHistogram | undefined =
    limits.maxDelay > 0 ? monitorEventLoopDelay({ resolution: 10 }) : undefined
  histogram?.enable()
  let elu = performance.eventLoopUtilization()
  const sample = (lateness: number): void => {
    const now = monotonicNow()
    // The histogram's values include its 10 ms resolution; the timer's own lateness sees a
    // block even when the histogram's timer has not run since.
    const fromHistogram = histogram === undefined || histogram.count === 0 ? 0 : histogram.max / 1e6 - 10
    shedder.eventLoopDelayMs = Math.max(0, lateness, fromHistogram)
    histogram?.reset()
    const current = performance.eventLoopUtilization()
    shedder.eventLoopUtilization = performance.eventLoopUtilization(current, elu).utilization
    elu = current
    if (limits.maxHeap > 0 || limits.maxRss > 0) {
      const memory = process.memoryUsage()
      shedder.heapUsedBytes = memory.heapUsed
      shedder.rssBytes = memory.rss
    }
    shedder.sampledAt = now
    shedder.overloaded =
      limits.maxDelay > 0 && shedder.eventLoopDelayMs > limits.maxDelay
        ? 'eventLoopDelay'
        : limits.maxElu > 0 && shedder.eventLoopUtilization > limits.maxElu
          ? 'eventLoopUtilization'
          : limits.maxHeap > 0 && shedder.heapUsedBytes > limits.maxHeap
            ? 'heapUsed'
            : limits.maxRss > 0 && shedder.rssBytes > limits.maxRss
              ? 'rss'
              : undefined
  }
  let expected = monotonicNow() + interval
  const timer = setInterval(() => {
    const now = monotonicNow()
    sample(now - expected)
    expected = now + interval
  }, interval)
  timer.unref()
  return {
    sample: () => sample(0),
    close: () => {
      clearInterval(timer)
      histogram?.disable()
    },
  }
}
