/**
 * loadShedding's refusals and its concurrency limit: the in-flight count, which goes down
 * exactly once per exchange (`onResponseEnd`), and the small FIFO queue in front of it,
 * where a request waits a bounded time for a slot.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RawHandler } from '../../core/types.js'
import type { HttpError } from '../../core/errors.js'
import { reportError } from '../../core/report.js'
import { onResponseEnd, type ResponseEndInfo } from '../../core/response-end.js'
import { sendError } from '../../core/send-error.js'
import type { SignalReason } from './sampler.js'

/** Why a request was refused. */
export type ShedReason = SignalReason | 'inFlight' | 'queueTimeout'

/** What {@link RequestQueue} is built from. */
export interface RequestQueueLimits {
  /** Requests served at once; 0 is no limit. */
  readonly maxInFlight: number
  /** Requests that may wait for a slot. */
  readonly maxQueue: number
  /** Longest wait for a slot before a refusal. */
  readonly queueTimeoutMs: number
  /** The 503 every refusal sends, made once per instance. */
  readonly error: HttpError
  readonly onShed: ((req: IncomingMessage, reason: ShedReason) => void) | undefined
}

/** The in-flight count, the waiting requests and the refusals of one instance. */
export class RequestQueue {
  inFlight = 0
  /** Requests refused since the instance was made. */
  shed = 0
  readonly queue: Waiter[] = []
  readonly maxInFlight: number
  readonly maxQueue: number
  readonly queueTimeoutMs: number
  readonly error: HttpError
  readonly onShed: ((req: IncomingMessage, reason: ShedReason) => void) | undefined

  constructor(limits: RequestQueueLimits) {
    this.maxInFlight = limits.maxInFlight
    this.maxQueue = limits.maxQueue
    this.queueTimeoutMs = limits.queueTimeoutMs
    this.error = limits.error
    this.onShed = limits.onShed
  }

  /** Answer 503 + Retry-After and tell `onShed`. */
  refuse(req: IncomingMessage, res: ServerResponse, reason: ShedReason): void {
    this.shed++
    sendError(req, res, this.error)
    if (this.onShed !== undefined) {
      try {
        this.onShed(req, reason)
      } catch (err) {
        reportError('loadShedding(): onShed threw', err, req)
      }
    }
  }

  /** Take a slot for `res` until its exchange ends, whichever way it ends. */
  admit(res: ServerResponse): void {
    this.inFlight++
    onResponseEnd(res, releaseSlot, this)
  }

  /** An exchange holding a slot is over: start queued requests while there are free slots. */
  release(): void {
    this.inFlight--
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const waiter = this.queue.shift()!
      clearTimeout(waiter.timer)
      waiter.timer = undefined
      waiter.state = 'running'
      this.inFlight++
      try {
        waiter.resolve(waiter.next(waiter.req, waiter.res))
      } catch (err) {
        waiter.reject(err)
      }
    }
  }

  /** Wait for a slot; resolves with what the handler returns once it ran, or after a refusal. */
  enqueue(req: IncomingMessage, res: ServerResponse, next: RawHandler): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const waiter = new Waiter(req, res, next, this, resolve, reject)
      waiter.timer = setTimeout(queueTimedOut, this.queueTimeoutMs, waiter)
      this.queue.push(waiter)
      onResponseEnd(res, waiterEnded, waiter)
    })
  }

  /** Take `waiter` out of the queue, wherever it is. */
  leave(waiter: Waiter): void {
    waiter.state = 'done'
    const at = this.queue.indexOf(waiter)
    if (at >= 0) this.queue.splice(at, 1)
  }
}

/**
 * A request waiting for a slot; also the context of its response-end listener. A class,
 * not a literal: it is a per-request record (see core/listener-node.ts).
 */
export class Waiter {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly next: RawHandler
  readonly owner: RequestQueue
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  state: 'queued' | 'running' | 'done' = 'queued'
  timer: NodeJS.Timeout | undefined = undefined

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    next: RawHandler,
    owner: RequestQueue,
    resolve: (value: unknown) => void,
    reject: (reason: unknown) => void,
  ) {
    this.req = req
    this.res = res
    this.next = next
    this.owner = owner
    this.resolve = resolve
    this.reject = reject
  }
}

/** A response-end listener: the exchange holding a slot is over, whichever way it ended. */
function releaseSlot(_info: ResponseEndInfo, _res: ServerResponse, queue: RequestQueue | undefined): void {
  queue!.release()
}

function queueTimedOut(waiter: Waiter): void {
  waiter.timer = undefined
  if (waiter.state !== 'queued') return
  waiter.owner.leave(waiter)
  waiter.owner.refuse(waiter.req, waiter.res, 'queueTimeout')
  waiter.resolve(undefined)
}

/** A queued request's exchange ended: free its slot, or its place in the queue. */
function waiterEnded(_info: ResponseEndInfo, _res: ServerResponse, waiter: Waiter | undefined): void {
  const w = waiter!
  if (w.state === 'running') {
    w.state = 'done'
    w.owner.release()
  } else if (w.state === 'queued') {
    // The client left while waiting.
    clearTimeout(w.timer)
    w.timer = undefined
    w.owner.leave(w)
    w.resolve(undefined)
  }
}
