/**
 * rateLimit's slow-down mode (express-slow-down): a request past `delayAfter` units of its
 * window waits before the handler runs, longer for each unit past, at most `maxDelayMs`.
 * The wait holds a timer and nothing else; it ends early, without calling the handler,
 * when the client goes away (the exchange ends, `onResponseEnd`) or the request's abort
 * signal fires (`timeout()`'s deadline, which answers the request itself), so a client that
 * leaves never leaves a timer or a pending handler behind.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { onResponseEnd } from '../../core/response-end.js'
import { requestAbortState, requestSignalOf } from '../../core/shared-state.js'
import type { RawHandler } from '../../core/types.js'

/** Timer functions, injectable for tests. Node's `setTimeout(callback, ms, arg)` signature. */
export interface SlowDownTimers {
  setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown
  clearTimeout(handle: unknown): void
}

/**
 * One request waiting. It is its own abort listener (`handleEvent`), so waiting allocates
 * this object, the promise and the timer, and no closure.
 */
class Wait {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly next: RawHandler
  readonly timers: SlowDownTimers
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  timer: unknown = undefined
  signal: AbortSignal | undefined = undefined
  settled = false

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    next: RawHandler,
    timers: SlowDownTimers,
    resolve: (value: unknown) => void,
    reject: (reason: unknown) => void,
  ) {
    this.req = req
    this.res = res
    this.next = next
    this.timers = timers
    this.resolve = resolve
    this.reject = reject
  }

  /** Stop waiting: no timer, no abort listener left. False if already stopped. */
  settle(): boolean {
    if (this.settled) return false
    this.settled = true
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.signal?.removeEventListener('abort', this)
    return true
  }

  /** The request's signal aborted (timeout()'s deadline, which answers for us): never run the handler. */
  handleEvent(): void {
    if (this.settle()) this.resolve(undefined)
  }
}

function waitElapsed(wait: Wait): void {
  wait.timer = undefined
  if (!wait.settle()) return
  try {
    wait.resolve(wait.next(wait.req, wait.res))
  } catch (err) {
    wait.reject(err)
  }
}

/** The exchange ended while waiting: the client went away (or a layer outside answered). */
function exchangeEnded(_info: unknown, _res: ServerResponse, wait: Wait): void {
  if (wait.settle()) wait.resolve(undefined)
}

/**
 * Run `next(req, res)` after `ms`, unless the client goes away or the request's abort
 * signal fires first; the promise settles with the handler's result, or undefined when the
 * wait was cut short.
 */
export function delayThen(
  req: IncomingMessage,
  res: ServerResponse,
  next: RawHandler,
  ms: number,
  timers: SlowDownTimers,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const wait = new Wait(req, res, next, timers, resolve, reject)
    const source = requestAbortState.tryGet(req)
    if (source !== undefined) {
      const signal = requestSignalOf(source)
      if (signal.aborted) return void resolve(undefined)
      wait.signal = signal
      signal.addEventListener('abort', wait)
    }
    onResponseEnd(res, exchangeEnded, wait)
    if (!wait.settled) wait.timer = timers.setTimeout(waitElapsed as (arg: never) => void, ms, wait as never)
  })
}

/** Node's timers, the default. */
export const nodeTimers: SlowDownTimers = Object.freeze({
  setTimeout: (callback: (arg: never) => void, ms: number, arg: never) => setTimeout(callback, ms, arg),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
})
