/**
 * loadShedding's refusals and its concurrency limit: the in-flight count, which goes down
 * exactly once per exchange (`onResponseEnd`), and the small FIFO queue in front of it.
 * Split from load-shedding.ts.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RawHandler } from '../../core/types.js'
import type { HttpError } from '../../core/errors.js'
import { reportError } from '../../core/report.js'
import { onResponseEnd, type ResponseEndInfo } from '../../core/response-end.js'
import { sendError } from '../../core/send-error.js'
import type { SignalReason, Signals } from './sampler.js'

/** Why a request was refused. */
export type ShedReason = SignalReason | 'inFlight' | 'queueTimeout'

/** A request waiting for a slot; also the context of its response-end listener. */
export interface Waiter {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly next: RawHandler
  readonly shedder: Shedder
  state: 'queued' | 'running' | 'done'
  timer: NodeJS.Timeout | undefined
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

/** The mutable state of one instance. */
export interface Shedder extends Signals {
  inFlight: number
  shed: number
  /** Whether the sampler runs (false without process thresholds, or after close()). */
  sampling: boolean
  readonly queue: Waiter[]
  readonly maxInFlight: number
  readonly maxQueue: number
  readonly queueTimeoutMs: number
  readonly error: HttpError
  readonly onShed: ((req: IncomingMessage, reason: ShedReason) => void) | undefined
}

/** Answer 503 + Retry-After (the error is made once per instance) and tell `onShed`. */
export function refuse(shedder: Shedder, req: IncomingMessage, res: ServerResponse, reason: ShedReason): void {
  shedder.shed++
  sendError(req, res, shedder.error)
  if (shedder.onShed !== undefined) {
    try {
      shedder.onShed(req, reason)
    } catch (err) {
      reportError('loadShedding(): onShed threw', err)
    }
  }
}

/** A response-end listener: the exchange holding a slot is over, whichever way it ended. */
export function releaseSlot(_info: ResponseEndInfo, _res: ServerResponse, shedder: Shedder | undefined): void {
  const s = shedder!
  s.inFlight--
  startWaiting(s)
}

/** Start queued requests while there are free slots. */
function startWaiting(shedder: Shedder): void {
  while (shedder.inFlight < shedder.maxInFlight && shedder.queue.length > 0) {
    const waiter = shedder.queue.shift()!
    clearTimeout(waiter.timer)
    waiter.timer = undefined
    waiter.state = 'running'
    shedder.inFlight++
    try {
      waiter.resolve(waiter.next(waiter.req, waiter.res))
    } catch (err) {
      waiter.reject(err)
    }
  }
}

/** Wait for a slot; resolves with what the handler returns once it ran, or after a refusal. */
export function enqueue(
  shedder: Shedder,
  req: IncomingMessage,
  res: ServerResponse,
  next: RawHandler,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const waiter: Waiter = { req, res, next, shedder, state: 'queued', timer: undefined, resolve, reject }
    waiter.timer = setTimeout(queueTimedOut, shedder.queueTimeoutMs, waiter)
    shedder.queue.push(waiter)
    onResponseEnd(res, waiterEnded, waiter)
  })
}

function queueTimedOut(waiter: Waiter): void {
  waiter.timer = undefined
  if (waiter.state !== 'queued') return
  leaveQueue(waiter)
  refuse(waiter.shedder, waiter.req, waiter.res, 'queueTimeout')
  waiter.resolve(undefined)
}

/** A queued request's exchange ended: free its slot, or its place in the queue. */
function waiterEnded(_info: ResponseEndInfo, _res: ServerResponse, waiter: Waiter | undefined): void {
  const w = waiter!
  if (w.state === 'running') {
    w.state = 'done'
    releaseSlot(_info, _res, w.shedder)
  } else if (w.state === 'queued') {
    // The client left while waiting.
    clearTimeout(w.timer)
    w.timer = undefined
    leaveQueue(w)
    w.resolve(undefined)
  }
}

function leaveQueue(waiter: Waiter): void {
  waiter.state = 'done'
  const queue = waiter.shedder.queue
  const at = queue.indexOf(waiter)
  if (at >= 0) queue.splice(at, 1)
}
