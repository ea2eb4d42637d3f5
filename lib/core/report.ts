/**
 * Where errors go that must not be thrown into a request: failures of response-end
 * listeners, log sinks, teardown hooks, the error boundary's exceptions. They become
 * process warnings, which a process can observe with `process.on('warning')` and which
 * never crash it.
 *
 * Rate-limited: a failure that repeats with every request (a log sink that is down, a bug
 * on a hot route, a flood of requests built to fail) must not become one warning per
 * request, which is unbounded work and unbounded stderr for whoever sends them. At most
 * {@link reporterDefaults}`.limit` reports go out per window; the rest are counted, and one
 * summary warning (code `HTTP_ONION_SUPPRESSED`) says how many were dropped when the window
 * ends.
 *
 * The reporter is one function, `(what, err) => void`, so that it can be swapped for a
 * logger as a whole.
 * @module
 */
import { monotonicNow } from './clock.js'
import { defineDefaults } from './options.js'

/** Reports `err`, raised while doing `what`, without ever throwing. */
export type Reporter = (what: string, err: unknown) => void

/** Options of {@link rateLimitedReporter}. */
export interface ReporterOptions {
  /** Reports let through per window; later ones are counted and summed up. @default 10 */
  limit?: number
  /** Length of a window, in ms. @default 10_000 */
  windowMs?: number
  /** Monotonic clock, in ms. @default performance.now */
  now?: () => number
  /** Runs the summary at the end of a window; the default timer is unref'd. @default setTimeout */
  schedule?: (callback: () => void, ms: number) => void
}

export const reporterDefaults = defineDefaults<ReporterOptions>({
  limit: 10,
  windowMs: 10_000,
  now: monotonicNow,
  schedule: (callback: () => void, ms: number) => {
    setTimeout(callback, ms).unref()
  },
})

/** The state of one reporter's window. A class, not a literal (see listener-node.ts). */
class ReportWindow {
  start = Number.NEGATIVE_INFINITY
  reported = 0
  suppressed = 0
  summaryScheduled = false
}

/**
 * A reporter that turns reports into process warnings (type `HttpOnionError`, code
 * `HTTP_ONION_REPORTED`), at most `limit` per `windowMs`. Reports beyond it are dropped
 * and counted, and when the window ends one warning (code `HTTP_ONION_SUPPRESSED`) says
 * how many. No timer runs unless a report was dropped.
 * @example
 * const report = rateLimitedReporter({ limit: 5, windowMs: 60_000 })
 * report('log sink', new Error('disk full'))
 */
export function rateLimitedReporter(options: ReporterOptions = {}): Reporter {
  const { limit, windowMs, now, schedule } = { ...reporterDefaults, ...options }
  const window = new ReportWindow()

  const summarise = (): void => {
    window.summaryScheduled = false
    if (window.suppressed === 0) return
    const dropped = window.suppressed
    window.suppressed = 0
    warn(
      `suppressed ${dropped} report${dropped === 1 ? '' : 's'}: at most ${limit} are reported per ${windowMs} ms`,
      'HTTP_ONION_SUPPRESSED',
      '',
    )
  }

  return function report(what: string, err: unknown): void {
    const at = now()
    if (at - window.start >= windowMs) {
      // A new window; a summary still due for the last one goes first.
      summarise()
      window.start = at
      window.reported = 0
    }
    if (window.reported < limit) {
      window.reported++
      const error = err instanceof Error ? err : new Error(String(err))
      warn(`${what}: ${error.message}`, 'HTTP_ONION_REPORTED', error.stack ?? '')
      return
    }
    window.suppressed++
    if (!window.summaryScheduled) {
      window.summaryScheduled = true
      schedule(summarise, Math.max(0, window.start + windowMs - at))
    }
  }
}

function warn(message: string, code: string, detail: string): void {
  try {
    process.emitWarning(message, { type: 'HttpOnionError', code, detail })
  } catch {
    // emitWarning throws only when --throw-deprecation-like flags turn warnings into
    // exceptions; a reporter must still never throw.
  }
}

/**
 * Report `err`, raised while doing `what`, without throwing: the process-wide reporter of
 * the library, rate-limited with {@link reporterDefaults}.
 */
export const reportError: Reporter = rateLimitedReporter()
