/**
 * `onResponseStart`: the send-wrapping primitive. A listener runs exactly once, right
 * before the status line and headers are written, however they are triggered:
 * `writeHead` in any of its forms, the implicit header of `write()` and `end()`, or
 * `flushHeaders()` — all of which reach `writeHead`, the one method wrapped here.
 *
 * Firing order: the listener registered last runs first. Middleware register on the
 * request path, outer layers first, so inner layers run first and outer layers have the
 * last word on the response, as in the onion.
 * @module
 */
import { OutgoingMessage, type ServerResponse } from 'node:http'
import { monotonicNow } from './clock.js'
import { prepareHeaderMap } from './headers.js'
import { ListenerNode } from './listener-node.js'

/**
 * Runs at response start. It may read and change `res.statusCode` and every header,
 * including those passed to `writeHead`. `context` is what was passed at registration,
 * so a listener can be made once per middleware instead of once per request.
 */
export type ResponseStartListener<C = undefined> = (res: ServerResponse, context: C) => void

type WriteHead = (this: ServerResponse, ...args: unknown[]) => ServerResponse

/**
 * Per-response bookkeeping, made on the first registration and kept on the response.
 * A class, not a literal: see listener-node.ts.
 */
export class ResponseRecord {
  /** The last registered listener first: the order in which they run. */
  startListeners: ListenerNode<ResponseStartListener<unknown>> | undefined = undefined
  /** Monotonic time at which the headers were written, once they were. */
  headersAt: number | undefined = undefined

  /** The `writeHead` that was in place before ours (the prototype's, or another wrapper's). */
  readonly writeHead: WriteHead
  /** True once the listeners ran, or when headers were sent before the record existed. */
  started: boolean
  /** A listener asked to send the head later ({@link holdResponseHead}); it has not gone out yet. */
  headHeld = false

  constructor(writeHead: WriteHead, started: boolean) {
    this.writeHead = writeHead
    this.started = started
  }
}

const RECORD = Symbol('http-onion.response')
type RecordSlot = { [RECORD]?: ResponseRecord }

/**
 * Call `listener(res, context)` once, right before `res` writes its headers.
 * Returns false, and never calls the listener, if the headers were already written.
 * @example
 * onResponseStart(res, (res) => res.setHeader('x-served-by', 'edge-1'))
 */
export function onResponseStart<C>(res: ServerResponse, listener: ResponseStartListener<C>, context?: C): boolean {
  const record = responseRecord(res)
  if (record.started) return false
  record.startListeners = new ListenerNode(listener as ResponseStartListener<unknown>, context, record.startListeners)
  return true
}

/** The response's record, installing the `writeHead` wrapper the first time. */
export function responseRecord(res: ServerResponse): ResponseRecord {
  const slot = res as unknown as RecordSlot
  let record = slot[RECORD]
  if (record === undefined) {
    const started = res.headersSent
    record = new ResponseRecord(res.writeHead as WriteHead, started)
    slot[RECORD] = record
    // Before any layer sets a header: see prepareHeaderMap.
    prepareHeaderMap(res)
    // An instance property, not a prototype patch: it survives Express swapping the
    // prototype of `res`, and responses that never registered pay nothing.
    if (!started) res.writeHead = writeHeadWithListeners as ServerResponse['writeHead']
  }
  return record
}

/** Whether the response-start listeners of `res` already ran (or can no longer run). */
export function responseStarted(res: ServerResponse): boolean {
  return (res as unknown as RecordSlot)[RECORD]?.started ?? res.headersSent
}

function writeHeadWithListeners(
  this: ServerResponse,
  statusCode: unknown,
  reason?: unknown,
  headers?: unknown,
): ServerResponse {
  const record = (this as unknown as RecordSlot)[RECORD]!
  const code = Number(statusCode) | 0
  // Headers already out, or a status Node will refuse: let the original throw its own error.
  if (record.started || this.headersSent || code < 100 || code > 999) {
    // biome-ignore lint/complexity/noArguments: forwards the call exactly as made, so Node validates and throws its own error
    return record.writeHead.apply(this, arguments as unknown as unknown[])
  }
  const fields = typeof reason === 'string' ? headers : (headers ?? reason)
  // Move headers given to writeHead into the header map, so listeners see and can change
  // them; an invalid one throws here, before anything is marked started.
  if (fields !== undefined && fields !== null) applyHeaders(this, fields)
  this.statusCode = code
  if (typeof reason === 'string') this.statusMessage = reason
  record.started = true

  let failure: unknown
  let failed = false
  for (let node = record.startListeners; node !== undefined; node = node.next) {
    try {
      node.listener(this, node.context)
    } catch (err) {
      if (!failed) {
        failed = true
        failure = err
      }
    }
  }
  record.startListeners = undefined
  // A listener that throws stops the headers: the error surfaces from the write that
  // triggered them, and an error boundary can still answer (the headers that listeners
  // set stay in the map, so its answer carries them).
  if (failed) throw failure
  // A custom reason phrase belongs to the status it was given with.
  if (typeof reason === 'string' && this.statusCode !== code) this.statusMessage = ''
  if (record.headHeld) return this
  return writeHeadNow(this, record)
}

/**
 * From a response-start listener: keep the head of `res` back when the listeners are done,
 * until {@link sendResponseHead}. Meanwhile the response counts as started
 * ({@link responseStarted}) while `headersSent` stays false, and the headers stay
 * changeable. For a listener that must learn something before the head can go out: the
 * length of a body compressed at once (transformBody's whole-body route).
 */
export function holdResponseHead(res: ServerResponse): void {
  responseRecord(res).headHeld = true
}

/**
 * Send the head that {@link holdResponseHead} kept back, with the status and headers as they
 * are now. Does nothing when none is held; `cancel` forgets it without sending (the caller
 * answers otherwise).
 */
export function sendResponseHead(res: ServerResponse, cancel = false): void {
  const record = (res as unknown as RecordSlot)[RECORD]
  if (record === undefined || !record.headHeld) return
  record.headHeld = false
  if (!cancel && !res.headersSent) writeHeadNow(res, record)
}

function writeHeadNow(res: ServerResponse, record: ResponseRecord): ServerResponse {
  record.headersAt = monotonicNow()
  const result = record.writeHead.call(res, res.statusCode)
  if (!res.socket && res.writableLength > 0) sendHeadAfterInterim(res)
  return result
}

/**
 * Node 20 workaround: put the head of a queued response after the interim response
 * (`100 Continue`, `102`, `103 Early Hints`) that Node already buffered for it.
 *
 * A pipelined response waits in a queue, without a socket, until the responses before it are
 * done, and everything it writes is buffered meanwhile. Node buffers the interim response as
 * soon as it is written, but the head goes in only with the first body chunk. If that chunk is
 * a Buffer (every compressed body, any body that was held back), Node puts the head at the
 * front of the buffer, before the interim response. The client then reads
 * `200 … 100 Continue … body`, and the connection is out of step. Sending the head
 * now, on its own, keeps the order it was written in. The queue is written corked when its
 * turn comes, so this costs no extra packet. Responses that own their socket (the ordinary
 * case) have nothing buffered and skip this.
 *
 * test/core/response-start.test.ts pins Node's behaviour with plain node:http. When that test
 * fails, Node has fixed it and this workaround can go.
 */
function sendHeadAfterInterim(res: ServerResponse): void {
  // The prototype's method, not the instance's: detachResponse swaps the instance's.
  OutgoingMessage.prototype.flushHeaders.call(res)
}

/** Put headers passed to `writeHead` (object, flat array, or array of pairs) into the map. */
function applyHeaders(res: ServerResponse, fields: unknown): void {
  if (Array.isArray(fields)) {
    const pairs = fields.length > 0 && Array.isArray(fields[0]) ? (fields as unknown[][]) : toPairs(fields)
    // As in Node: headers given to writeHead replace earlier ones of the same name, while
    // repeated names within the array (two Set-Cookie) are all kept.
    for (const [name] of pairs) if (name) res.removeHeader(String(name))
    for (const [name, value] of pairs) if (name) res.appendHeader(String(name), value as string | string[])
    return
  }
  if (typeof fields === 'object') {
    for (const name of Object.keys(fields as object)) {
      if (name) res.setHeader(name, (fields as Record<string, string | number | string[]>)[name]!)
    }
  }
}

function toPairs(flat: unknown[]): unknown[][] {
  if (flat.length % 2 !== 0) {
    const err = new TypeError(
      `The argument 'headers' is invalid: a flat header array needs an even number of entries; received ${flat.length}.`,
    )
    ;(err as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_VALUE'
    throw err
  }
  const pairs: unknown[][] = []
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]])
  return pairs
}
