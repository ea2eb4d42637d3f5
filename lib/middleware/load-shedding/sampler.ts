/**
 * loadShedding's sampler: reads the process signals off the request path, every interval,
 * and marks itself overloaded when one is over its threshold. The request path only reads
 * its fields, so deciding costs no system call.
 * @module
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram, type EventLoopUtilization } from 'node:perf_hooks'
import { monotonicNow } from '../../core/clock.js'

/** A reason found by sampling the process. */
export type SignalReason = 'eventLoopDelay' | 'eventLoopUtilization' | 'heapUsed' | 'rss'

/** The process thresholds; 0 turns one off. */
export interface Thresholds {
  readonly maxDelay: number
  readonly maxElu: number
  readonly maxHeap: number
  readonly maxRss: number
}

/**
 * A running sampler: an unref'd interval timer and, when delay is watched, a histogram.
 * Its fields are the signals as last sampled.
 */
export class Sampler {
  /** The first signal over its threshold at the last sample, or undefined. */
  overloaded: SignalReason | undefined = undefined
  eventLoopDelayMs = 0
  eventLoopUtilization = 0
  heapUsedBytes = 0
  rssBytes = 0
  /** When the sampler last ran; a stale one means the loop is blocked right now. */
  sampledAt: number
  /** False after close(): the signals are then no longer judged. */
  running = true
  readonly #limits: Thresholds
  readonly #histogram: IntervalHistogram | undefined
  readonly #timer: NodeJS.Timeout
  /**
   * A sampler this late (twice the interval plus the delay allowed) means the loop is
   * blocked now, or just was and the sampler has not caught up.
   */
  readonly #staleAfter: number
  #elu: EventLoopUtilization
  /** When the timer should fire next; how late it fires is itself a delay reading. */
  #expected: number

  constructor(interval: number, limits: Thresholds) {
    this.#limits = limits
    this.#staleAfter = 2 * interval + limits.maxDelay
    this.#histogram = limits.maxDelay > 0 ? monitorEventLoopDelay({ resolution: 10 }) : undefined
    this.#histogram?.enable()
    this.#elu = performance.eventLoopUtilization()
    this.sampledAt = monotonicNow()
    this.#expected = this.sampledAt + interval
    this.#timer = setInterval(() => {
      const now = monotonicNow()
      this.sample(now - this.#expected)
      this.#expected = now + interval
    }, interval)
    this.#timer.unref()
  }

  /** Why the process is overloaded now: the last sample's verdict, or a stale sampler. */
  reason(): SignalReason | undefined {
    if (this.overloaded !== undefined || !this.running) return this.overloaded
    return monotonicNow() - this.sampledAt > this.#staleAfter ? 'eventLoopDelay' : undefined
  }

  /**
   * Sample now. `lateness` is how late the timer fired; a manual call passes none. A no-op
   * after close().
   */
  sample(lateness = 0): void {
    if (!this.running) return
    const now = monotonicNow()
    const limits = this.#limits
    const histogram = this.#histogram
    // The histogram's values include its 10 ms resolution; the timer's own lateness sees a
    // block even when the histogram's timer has not run since.
    const fromHistogram = histogram === undefined || histogram.count === 0 ? 0 : histogram.max / 1e6 - 10
    this.eventLoopDelayMs = Math.max(0, lateness, fromHistogram)
    histogram?.reset()
    const current = performance.eventLoopUtilization()
    this.eventLoopUtilization = performance.eventLoopUtilization(current, this.#elu).utilization
    this.#elu = current
    if (limits.maxHeap > 0 || limits.maxRss > 0) {
      const memory = process.memoryUsage()
      this.heapUsedBytes = memory.heapUsed
      this.rssBytes = memory.rss
    }
    this.sampledAt = now
    this.overloaded =
      limits.maxDelay > 0 && this.eventLoopDelayMs > limits.maxDelay
        ? 'eventLoopDelay'
        : limits.maxElu > 0 && this.eventLoopUtilization > limits.maxElu
          ? 'eventLoopUtilization'
          : limits.maxHeap > 0 && this.heapUsedBytes > limits.maxHeap
            ? 'heapUsed'
            : limits.maxRss > 0 && this.rssBytes > limits.maxRss
              ? 'rss'
              : undefined
  }

  /** Stop the timer and the histogram, and stop judging the signals. Idempotent. */
  close(): void {
    clearInterval(this.#timer)
    this.#histogram?.disable()
    this.running = false
    this.overloaded = undefined
  }
}
