/**
 * `onResponseEnd`: one call per exchange, when it is over, with how it ended. Access
 * logs and metrics hang here, never on the handler's return: a handler often returns
 * long before its stream has finished, or after the client has gone.
 *
 * Outcomes: `finished` (every byte handed to the connection and the response complete),
 * `aborted` (the connection closed first), `error` (the response was destroyed with an
 * error, e.g. by `stream.pipeline` when the source failed).
 *
 * Pipelined responses: Node queues a response behind the one being written, without a
 * socket, until that one finishes. When the connection closes meanwhile, Node 20 destroys
 * the queued requests but never emits `'close'` on their responses (`socketOnClose` only
 * aborts the incoming messages). So while a tracked response is queued, the connection's
 * own `'close'` ends it too, as `aborted`: one listener per connection, only on connections
 * that pipeline.
 *
 * Async context: a listener runs in the async context it was registered in (as on-finished
 * binds its listeners), so `AsyncLocalStorage` stores, a context-aware logger's request
 * fields and the like are those of the code that registered it, not those of the socket
 * event that ends the exchange. Each listener node is its own `AsyncResource`. One resource
 * per response would not do: layers register in different contexts within one request (an
 * access log outside `AsyncLocalStorage.run`, a handler inside), and in Node 20 `run()`
 * changes the store of the current resource in place, so nothing cheaper tells two
 * registrations' contexts apart. The library's own listeners that run no user code register
 * with {@link onResponseEndContextFree} and skip the resource.
 * @module
 */
import { AsyncResource } from 'node:async_hooks'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { arrivalTime, monotonicNow } from './clock.js'
import { reportError } from './report.js'
import { responseRecord } from './response-start.js'

/** How an exchange ended. */
export type ResponseOutcome = 'finished' | 'aborted' | 'error'

/** What a response-end listener learns (the instance type of {@link EndInfo}). */
export type ResponseEndInfo = EndInfo

/** Runs once when the exchange is over. Its errors are reported, never thrown. */
export type ResponseEndListener<C = undefined> = (info: ResponseEndInfo, res: ServerResponse, context: C) => void

/**
 * One registered listener, its context argument and its async context: the node is itself
 * the `AsyncResource` that captured the context at registration, so binding costs no
 * allocation of its own. A class, not a literal (see listener-node.ts). The destroy hook is
 * emitted by hand after the listener ran, so that no GC tracking is set up per node when an
 * async_hooks user listens for destroys.
 */
class EndListenerNode extends AsyncResource {
  readonly listener: ResponseEndListener<unknown>
  readonly context: unknown
  readonly next: EndNode | undefined

  constructor(listener: ResponseEndListener<unknown>, context: unknown, next: EndNode | undefined) {
    super('HTTP_ONION_RESPONSE_END', REQUIRE_MANUAL_DESTROY)
    this.listener = listener
    this.context = context
    this.next = next
  }
}

/**
 * A listener that runs in whatever async context ends the exchange: for the library's own
 * listeners that run none of the user's code (an access log writing to a stream), which
 * need no context and so skip the resource's cost (about 0.2 µs a response in a CPU profile:
 * its ids, and the native push and pop of the context around the call).
 */
class ContextFreeEndListenerNode {
  readonly listener: ResponseEndListener<unknown>
  readonly context: unknown
  readonly next: EndNode | undefined

  constructor(listener: ResponseEndListener<unknown>, context: unknown, next: EndNode | undefined) {
    this.listener = listener
    this.context = context
    this.next = next
  }
}

type EndNode = EndListenerNode | ContextFreeEndListenerNode

const REQUIRE_MANUAL_DESTROY = Object.freeze({ requireManualDestroy: true })

/** Per-response tracking; a class, not a literal (see listener-node.ts). */
class EndRecord {
  /** The last registered listener first: the order in which they run. */
  listeners: EndNode | undefined = undefined
  socket: Socket | null = null
  bytesAtStart: number | undefined = undefined
  bytesAtFinish: number | undefined = undefined
  fired = false
  endedAt: number | undefined = undefined
  readonly arrival: number

  constructor(arrival: number) {
    this.arrival = arrival
  }
}

/** What a response-end listener learns. A class for the same reason as EndRecord. */
export class EndInfo {
  readonly outcome: ResponseOutcome
  /** The error the response was destroyed with, for outcome `error`. */
  readonly error: Error | undefined
  /** The status sent, or the status set when the exchange ended before headers went out. */
  readonly status: number
  /** Whether the status line and headers were written. */
  readonly headersSent: boolean
  /**
   * Bytes this response put on the connection: status line, headers, body after any
   * transform (compressed size), chunked framing. Undefined where the transport does not
   * count per response (HTTP/2 streams share one session socket).
   */
  readonly bytesWritten: number | undefined
  /** Milliseconds from the request's arrival to the end of the exchange. */
  readonly durationMs: number
  /** Milliseconds from the request's arrival to the headers being written, if they were. */
  readonly headersMs: number | undefined

  constructor(res: ServerResponse, record: EndRecord) {
    const error = res.errored ?? undefined
    const end = record.bytesAtFinish ?? record.socket?.bytesWritten
    const headersAt = responseRecord(res).headersAt
    this.outcome = error ? 'error' : completed(res) ? 'finished' : 'aborted'
    this.error = error instanceof Error ? error : error === undefined ? undefined : new Error(String(error))
    this.status = res.statusCode
    this.headersSent = res.headersSent
    this.bytesWritten = end === undefined || record.bytesAtStart === undefined ? undefined : end - record.bytesAtStart
    this.durationMs = (record.endedAt ?? monotonicNow()) - record.arrival
    this.headersMs = headersAt === undefined ? undefined : headersAt - record.arrival
  }
}

const END = Symbol('http-onion.responseEnd')
type EndSlot = { [END]?: EndRecord }

/**
 * Call `listener(info, res, context)` once, when the exchange of `res` is over.
 * Listeners run innermost first (last registered first), like response-start listeners,
 * each in the async context it was registered in (`AsyncLocalStorage` stores included).
 * Registered after the exchange is already over (a client gone before a slow layer got
 * here), the listener still runs once, on the next tick, so a log never misses a request.
 * @example
 * onResponseEnd(res, (info) => console.log(info.outcome, info.status, info.durationMs))
 */
export function onResponseEnd<C>(res: ServerResponse, listener: ResponseEndListener<C>, context?: C): void {
  const record = endRecord(res, listener, context)
  if (record !== undefined) {
    record.listeners = new EndListenerNode(listener as ResponseEndListener<unknown>, context, record.listeners)
  }
}

/**
 * {@link onResponseEnd} for a listener of the library's own that runs no user code and reads
 * nothing of the async context: it runs in the context of the event that ends the exchange.
 * Not exported from the package: a user's listener may log through a context-aware logger.
 */
export function onResponseEndContextFree<C>(res: ServerResponse, listener: ResponseEndListener<C>, context?: C): void {
  const record = endRecord(res, listener, context)
  if (record !== undefined) {
    record.listeners = new ContextFreeEndListenerNode(
      listener as ResponseEndListener<unknown>,
      context,
      record.listeners,
    )
  }
}

/**
 * The tracking record of `res`, started on the first registration; undefined when the
 * exchange is already over, after scheduling `listener` for the next tick.
 */
function endRecord<C>(
  res: ServerResponse,
  listener: ResponseEndListener<C>,
  context: C | undefined,
): EndRecord | undefined {
  const slot = res as unknown as EndSlot
  let record = slot[END]
  if (record === undefined) record = startTracking(res)
  if (!record.fired) return record
  const info = new EndInfo(res, record)
  // process.nextTick keeps the async context of this call.
  process.nextTick(() => callListener(listener as ResponseEndListener<unknown>, info, res, context))
  return undefined
}

function startTracking(res: ServerResponse): EndRecord {
  // The writeHead wrapper records when headers go out (for headersMs).
  responseRecord(res)
  const record = new EndRecord(arrivalTime(res.req))
  ;(res as unknown as EndSlot)[END] = record
  // The listeners below are shared functions that find the record through `this` (the
  // response), and `on`, not `once`: each of these events comes once per response, and
  // `once` would allocate a wrapper per request, a closure another.
  let closed = exchangeClosed(res)
  if (isHttp1(res)) {
    if (res.socket) attachSocket(record, res.socket)
    else if (!closed && !res.writableFinished) {
      // A pipelined response gets its socket only when the responses before it are done;
      // until then only the connection's close can end it. (A finished one has given its
      // socket back and closes on the next tick.)
      res.on('socket', onSocket)
      closed = !watchQueued(res)
    }
    // 'finish', ahead of Node's own listener: every byte went out, and a pipelined successor
    // has not started writing yet (Node's listener hands it the socket). Not 'prefinish', which
    // comes as early: a response's listener map starts as a small dictionary, and a fourth
    // event name ('finish' is Node's, 'error' errorBoundary's, 'close' ours) makes V8 grow it
    // on every response, where a second 'finish' listener costs a two-element array.
    res.prependListener('finish', onFinish)
  }
  if (closed) {
    record.fired = true
    record.endedAt = monotonicNow()
  } else {
    res.on('close', onClose)
  }
  return record
}

function onSocket(this: ServerResponse, socket: Socket): void {
  attachSocket((this as unknown as EndSlot)[END]!, socket)
  // Its own 'close' now comes with the connection's (Node's onServerResponseClose).
  ;(socket as QueueSlot)[QUEUE]?.responses.delete(this)
}

/**
 * The tracked responses queued on one connection. A class, not a literal (see
 * listener-node.ts); made only for connections that pipeline.
 */
class QueuedResponses {
  readonly responses = new Set<ServerResponse>()
}

const QUEUE = Symbol('http-onion.queuedResponses')
type QueueSlot = Socket & { [QUEUE]?: QueuedResponses }

/**
 * End `res`, queued without a socket, when its connection closes. Returns false when the
 * connection is already gone: the exchange is over before it started.
 */
function watchQueued(res: ServerResponse): boolean {
  const socket = res.req?.socket as QueueSlot | null | undefined
  // Not a connection Node's server made: nothing to watch (its own 'close' must do).
  if (!socket) return true
  if (socket.destroyed) return false
  let queue = socket[QUEUE]
  if (queue === undefined) {
    queue = socket[QUEUE] = new QueuedResponses()
    // One shared listener per connection, not one per response: a client may pipeline
    // hundreds of requests in one packet.
    socket.on('close', onQueueClosed)
  }
  queue.responses.add(res)
  return true
}

/** The connection closed: every response still queued on it is aborted, in request order. */
function onQueueClosed(this: QueueSlot): void {
  const responses = this[QUEUE]!.responses
  for (const res of responses) {
    const record = (res as unknown as EndSlot)[END]!
    // Nothing of it reached the connection.
    record.bytesAtStart = record.bytesAtFinish = 0
    fire(res, record)
  }
  responses.clear()
}

function onFinish(this: ServerResponse): void {
  const record = (this as unknown as EndSlot)[END]!
  record.bytesAtFinish = record.socket?.bytesWritten
}

function onClose(this: ServerResponse): void {
  fire(this, (this as unknown as EndSlot)[END]!)
}

function attachSocket(record: EndRecord, socket: Socket): void {
  record.socket = socket
  record.bytesAtStart = socket.bytesWritten
}

function fire(res: ServerResponse, record: EndRecord): void {
  if (record.fired) return
  record.fired = true
  record.endedAt = monotonicNow()
  const info = new EndInfo(res, record)
  let node = record.listeners
  record.listeners = undefined
  for (; node !== undefined; node = node.next) {
    if (node instanceof EndListenerNode) {
      // Each in the async context it was registered in.
      node.runInAsyncScope(callListener, null, node.listener, info, res, node.context)
      node.emitDestroy()
    } else {
      callListener(node.listener, info, res, node.context)
    }
  }
}

function callListener(
  listener: ResponseEndListener<unknown>,
  info: ResponseEndInfo,
  res: ServerResponse,
  context: unknown,
): void {
  try {
    listener(info, res, context)
  } catch (err) {
    reportError('onResponseEnd listener', err, res.req)
  }
}

/**
 * Whether every byte was handed over and the response completed. HTTP/2's compatibility
 * response reports `writableFinished` for a reset stream too; there the stream knows.
 */
function completed(res: ServerResponse): boolean {
  const stream = (res as unknown as { stream?: { aborted?: boolean } }).stream
  return stream === undefined ? res.writableFinished : res.finished && !stream.aborted
}

/** Whether the exchange is already over; HTTP/2's compatibility response has no `closed`, its stream does. */
const exchangeClosed = (res: ServerResponse): boolean =>
  res.closed ?? (res as unknown as { stream?: { closed?: boolean } }).stream?.closed ?? false

/** HTTP/1 responses own their socket while they are written; HTTP/2 ones share a session. */
const isHttp1 = (res: ServerResponse): boolean => !('stream' in res)
