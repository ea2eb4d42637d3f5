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
 * A stack given a logger (`compose({ logger })`) sends the reports of its requests there
 * instead, with the same rate limit per logger: under `NODE_NO_WARNINGS=1`, common in
 * containers, process warnings go nowhere, and a 500's stack trace with them.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { monotonicNow } from './clock.js'
import { defineDefaults } from './options.js'
import { requestIdState } from './shared-state.js'
import { defineState } from './state.js'

/** Reports `err`, raised while doing `what`, without ever throwing. */
export type Reporter = (what: string, err: unknown) => void

/**
 * Where a stack sends what it reports: the shape pino's loggers (and Fastify's `request.log`
 * and `app.log`) and `console` share. `error` receives each report, `warn` the summary of
 * reports dropped by the rate limit. The first argument is an object of fields (`err`, `what`,
 * `requestId`, `method`, `url`), the second the message.
 */
export interface Logger {
  error(fields: object, message?: string): void
  warn(fields: object, message?: string): void
}

/** The logger of the stack a request went through (`compose({ logger })`). */
export const loggerState = defineState<Logger>('logger', 'compose({ logger })')

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

/** Where a windowed reporter's output goes: one report, or the summary of those dropped. */
interface ReportOutput {
  report(what: string, error: Error, req: IncomingMessage | undefined): void
  summary(message: string, dropped: number): void
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
  return windowedReporter(options, WARNINGS)
}

/**
 * The same rate limit, sending to `logger`: each report to `logger.error`, each summary to
 * `logger.warn`. A logger that throws is reported as a process warning instead.
 */
export function loggerReporter(
  logger: Logger,
  options: ReporterOptions = {},
): (what: string, err: unknown, req?: IncomingMessage) => void {
  return windowedReporter(options, {
    report(what, error, req) {
      const fields: Record<string, unknown> = { err: error, what }
      if (req !== undefined) {
        const requestId = requestIdState.tryGet(req)
        if (requestId !== undefined) fields.requestId = requestId
        fields.method = req.method
        fields.url = req.url
      }
      try {
        logger.error(fields, `${what}: ${error.message}`)
      } catch (failure) {
        WARNINGS.report(`${what} (the logger threw: ${asError(failure).message})`, error, req)
      }
    },
    summary(message, dropped) {
      try {
        logger.warn({ code: 'HTTP_ONION_SUPPRESSED', suppressed: dropped }, message)
      } catch {
        WARNINGS.summary(message, dropped)
      }
    },
  })
}

function windowedReporter(
  options: ReporterOptions,
  output: ReportOutput,
): (what: string, err: unknown, req?: IncomingMessage) => void {
  const { limit, windowMs, now, schedule } = { ...reporterDefaults, ...options }
  const window = new ReportWindow()

  const summarise = (): void => {
    window.summaryScheduled = false
    if (window.suppressed === 0) return
    const dropped = window.suppressed
    window.suppressed = 0
    output.summary(
      `suppressed ${dropped} report${dropped === 1 ? '' : 's'}: at most ${limit} are reported per ${windowMs} ms`,
      dropped,
    )
  }

  return function report(what: string, err: unknown, req?: IncomingMessage): void {
    const at = now()
    if (at - window.start >= windowMs) {
      // A new window; a summary still due for the last one goes first.
      summarise()
      window.start = at
      window.reported = 0
    }
    if (window.reported < limit) {
      window.reported++
      output.report(what, asError(err), req)
      return
    }
    window.suppressed++
    if (!window.summaryScheduled) {
      window.summaryScheduled = true
      schedule(summarise, Math.max(0, window.start + windowMs - at))
    }
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))

const WARNINGS: ReportOutput = {
  report: (what, error) => warn(`${what}: ${error.message}`, 'HTTP_ONION_REPORTED', error.stack ?? ''),
  summary: (message) => warn(message, 'HTTP_ONION_SUPPRESSED', ''),
}

function warn(message: string, code: string, detail: string): void {
  try {
    process.emitWarning(message, { type: 'HttpOnionError', code, detail })
  } catch {
    // emitWarning throws only when --throw-deprecation-like flags turn warnings into
    // exceptions; a reporter must still never throw.
  }
}

const processReporter = rateLimitedReporter()
// One rate-limited reporter per logger, made on its first report; weakly held, so a stack
// built per test leaves nothing behind.
const loggerReporters = new WeakMap<Logger, (what: string, err: unknown, req?: IncomingMessage) => void>()

/**
 * Report `err`, raised while doing `what`, without throwing, rate-limited with
 * {@link reporterDefaults}. Give `req` whenever the failure belongs to a request: the report
 * then goes to the logger of the stack it went through (`compose({ logger })`), with its
 * request id, method and URL; otherwise, and without a logger, it is a process warning.
 */
export function reportError(what: string, err: unknown, req?: IncomingMessage): void {
  const logger = req === undefined ? undefined : loggerState.tryGet(req)
  if (logger === undefined) processReporter(what, err)
  else reportTo(logger, what, err, req)
}

/**
 * {@link reportError} to a logger known without a request (a log sink remembers the logger
 * of the stack that wrote to it); `undefined` reports as a process warning.
 */
export function reportErrorTo(logger: Logger | undefined, what: string, err: unknown): void {
  if (logger === undefined) processReporter(what, err)
  else reportTo(logger, what, err, undefined)
}

function reportTo(logger: Logger, what: string, err: unknown, req: IncomingMessage | undefined): void {
  let report = loggerReporters.get(logger)
  if (report === undefined) {
    report = loggerReporter(logger)
    loggerReporters.set(logger, report)
  }
  report(what, err, req)
}
