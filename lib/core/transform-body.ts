/**
 * `transformBody`: route a response body through a stream chosen at response start
 * (compression is its first user), without ever holding the body whole.
 *
 * How it works: `res.write`, `res.end` and `res.flush` are replaced on the instance.
 * Until the decision, writes may be held back up to a bound (`holdBack`), so the decider
 * can see the whole of a small body. The decision is made by a response-start listener,
 * at the onion position of the layer that called `transformBody`, so the headers are
 * final for every layer inside it. After it:
 * - passthrough: the original methods are put back and held bytes go out, with an exact
 *   `Content-Length` when the whole body was held;
 * - transform: writes go into the stream, its output goes to the original `write`, and
 *   backpressure runs both ways. When the handler had already handed over the whole body
 *   (`end()` before the decision), the output is kept until the stream ends, up to
 *   {@link COLLECT_LIMIT}, and sent with the end in one write: the body was in memory
 *   anyway, and one write instead of one per output chunk plus one for the end is a
 *   third less CPU for a 64 KB compressed answer. `res.write` returns false while the stream is full and
 *   `'drain'` comes when it has room; the connection's own `'drain'` events resume the
 *   stream instead of reaching the handler, so a handler never hears a drain that does not
 *   concern the stream it writes into. The end of the exchange, however it comes (a client
 *   abort, a pipelined response cut while still queued: `onResponseEnd`), destroys the
 *   stream at once.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'
import { onResponseEnd, type ResponseEndInfo } from './response-end.js'
import { onResponseStart } from './response-start.js'

/** What the decider knows about the body when it decides. */
export interface BodyInfo {
  /** The exact body length, when known: the whole body was held back, or `Content-Length` was set. */
  readonly length: number | undefined
  /** Whether the handler already called `end()`, so the whole body is held. */
  readonly ended: boolean
  /** Whether this response can carry a body at all (not HEAD, 1xx, 204 or 304). */
  readonly hasBody: boolean
}

/** A chosen transform, with an optional flush used by `res.flush()`. */
export interface BodyTransform {
  readonly stream: Duplex
  /** Push out what the stream holds now (e.g. a zlib sync flush). @default stream.flush() if the stream has one */
  readonly flush?: () => void
}

/** The decider's answer: a stream (or stream and flush) to transform through, or nothing for passthrough. */
export type BodyDecision = Duplex | BodyTransform | null | undefined | false

/**
 * Called once, at response start, with the headers still changeable. It may set or
 * remove headers (`Content-Encoding`, `Vary`); `Content-Length` is removed for it when
 * it returns a transform. It is called for bodiless responses too, so it can set headers
 * that depend on the negotiation, but a transform it returns for them is discarded.
 */
export type BodyDecider<C> = (res: ServerResponse, body: BodyInfo, context: C) => BodyDecision

/** Options of {@link transformBody}. */
export interface TransformBodyOptions<C> {
  /**
   * Bytes that may be held back before deciding, when no `Content-Length` is set; a body
   * that ends within it is decided on with its exact length. A function is asked at the
   * first write (e.g. 0 for `text/event-stream`, whose events must not wait). @default 0
   */
  holdBack?: number | ((res: ServerResponse) => number)
  /** Passed to the decider, so it can be made once per middleware. */
  context?: C
}

/** The decider's {@link BodyInfo}. */
class DecisionInput implements BodyInfo {
  readonly length: number | undefined
  readonly ended: boolean
  readonly hasBody: boolean

  constructor(length: number | undefined, ended: boolean, hasBody: boolean) {
    this.length = length
    this.ended = ended
    this.hasBody = hasBody
  }
}

/** A decider's bare stream as a {@link BodyTransform}. */
class StreamTransform implements BodyTransform {
  readonly stream: Duplex

  constructor(stream: Duplex) {
    this.stream = stream
  }
}

/** One chunk held back before the decision, with its write callback: a list link. */
class HeldChunk {
  readonly bytes: Buffer
  readonly callback: WriteCallback | undefined
  next: HeldChunk | undefined = undefined

  constructor(bytes: Buffer, callback: WriteCallback | undefined) {
    this.bytes = bytes
    this.callback = callback
  }
}

/**
 * Per-response state of one route; closures over it replace the response's methods.
 * A class, and held chunks a list of class instances, not literals: see listener-node.ts.
 */
class Route<C> {
  readonly res: ServerResponse
  readonly decide: BodyDecider<C>
  readonly context: C | undefined
  readonly holdBack: number | ((res: ServerResponse) => number)
  readonly originalWrite: WriteMethod
  readonly originalEnd: EndMethod
  mode: 'pending' | 'transform' | 'passthrough' = 'pending'
  /** Held chunks, oldest first, and the newest (to append). */
  firstHeld: HeldChunk | undefined = undefined
  lastHeld: HeldChunk | undefined = undefined
  heldBytes = 0
  ended = false
  stream: Duplex | undefined = undefined
  flush: (() => void) | undefined = undefined
  /** The handler saw `write()` return false and waits for `'drain'`. */
  handlerWaits = false
  /** The stream is paused until the connection drains. */
  streamWaits = false
  write: ServerResponse['write'] | undefined = undefined
  end: ServerResponse['end'] | undefined = undefined
  /** Output kept back to go out with the end in one write (the whole body was given at once). */
  collecting = false
  firstOut: HeldChunk | undefined = undefined
  lastOut: HeldChunk | undefined = undefined
  outBytes = 0
  /** The route set up on this response before this one, for {@link discardHeldBody}. */
  previous: Route<unknown> | undefined = undefined

  constructor(res: ServerResponse, decide: BodyDecider<C>, options: TransformBodyOptions<C>) {
    this.res = res
    this.decide = decide
    this.context = options.context
    this.holdBack = options.holdBack ?? 0
    this.originalWrite = res.write as WriteMethod
    this.originalEnd = res.end as EndMethod
  }

  /** Take the held chunks out of the route, oldest first. */
  takeHeld(): HeldChunk | undefined {
    const first = this.firstHeld
    this.firstHeld = this.lastHeld = undefined
    return first
  }
}

/** Most output bytes kept back for a body given whole; beyond, the rest is streamed. */
const COLLECT_LIMIT = 256 * 1024

const ROUTE = Symbol('http-onion.bodyRoute')
type RouteSlot = { [ROUTE]?: Route<unknown> }

type WriteCallback = (err?: Error | null) => void
// The response methods as they are called here: loosely, as Node's own overloads allow.
type WriteMethod = (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) => boolean
type EndMethod = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => ServerResponse
type Chunk = string | Uint8Array

/**
 * Route the body of `res` through the stream that `decide` picks at response start.
 * Returns false, changing nothing, when the headers were already sent.
 * @example
 * transformBody(res, (res, body) => body.hasBody && body.length !== 0 ? zlib.createGzip() : null, { holdBack: 1024 })
 */
export function transformBody<C = undefined>(
  res: ServerResponse,
  decide: BodyDecider<C>,
  options: TransformBodyOptions<C> = {},
): boolean {
  if (res.headersSent) return false
  const route = new Route(res, decide, options)
  if (!onResponseStart(res, decideAtStart, route)) return false
  route.previous = (res as RouteSlot)[ROUTE]
  ;(res as RouteSlot)[ROUTE] = route as Route<unknown>
  // Closures per route, not shared functions: two routes on one response (a transform
  // inside another) must each know which one a call belongs to.
  route.write = function write(this: ServerResponse, chunk: Chunk, encoding?: unknown, callback?: unknown) {
    return routeWrite(route, chunk, encoding, callback)
  } as ServerResponse['write']
  route.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
    routeEnd(route, chunk, encoding, callback)
    return this
  } as ServerResponse['end']
  res.write = route.write
  res.end = route.end
  const outerFlush = (res as Flushable).flush
  ;(res as Flushable).flush = function flush() {
    routeFlush(route)
    outerFlush?.call(res)
  }
  return true
}

type Flushable = ServerResponse & { flush?: () => void }

/**
 * Drop the body bytes held back, still undecided, on every route of `res`, and return
 * how many there were. For an answer that replaces the response the handler had begun
 * (`sendError`): a held prefix of the old body must not go out in front of it. Their
 * write callbacks get an `ERR_STREAM_DESTROYED` error.
 */
export function discardHeldBody(res: ServerResponse): number {
  let dropped = 0
  for (let route = (res as RouteSlot)[ROUTE]; route; route = route.previous) {
    if (route.mode !== 'pending' || route.heldBytes === 0) continue
    dropped += route.heldBytes
    for (let held = route.takeHeld(); held !== undefined; held = held.next) {
      if (held.callback)
        process.nextTick(
          held.callback,
          Object.assign(new Error('body replaced before it was sent'), { code: 'ERR_STREAM_DESTROYED' }),
        )
    }
    route.heldBytes = 0
  }
  return dropped
}

function routeWrite<C>(route: Route<C>, chunk: Chunk, encoding: unknown, callback: unknown): boolean {
  const [enc, cb] = writeArguments(encoding, callback)
  if (route.ended) return writeAfterEnd(route.res, cb)
  if (route.mode === 'pending') {
    if (!isChunk(chunk)) return route.originalWrite.call(route.res, chunk, enc, cb) // Node throws the right error
    const limit = holdBackLimit(route)
    if (limit > 0 && !route.res.headersSent) {
      hold(route, chunk, enc, cb)
      if (route.heldBytes < limit) return true
      startResponse(route)
      return releaseHeld(route)
    }
    startResponse(route)
  }
  releaseHeld(route)
  return writeDecided(route, chunk, enc, cb)
}

function routeEnd<C>(route: Route<C>, chunk: unknown, encoding: unknown, callback: unknown): void {
  let enc: unknown = encoding
  let cb: unknown = callback
  if (typeof chunk === 'function') {
    cb = chunk
    chunk = undefined
    enc = undefined
  } else if (typeof encoding === 'function') {
    cb = encoding
    enc = undefined
  }
  const done = typeof cb === 'function' ? (cb as WriteCallback) : undefined
  const res = route.res
  const hasChunk = chunk !== undefined && chunk !== null
  if (route.ended) {
    // As Node does: a second end() only waits for the first, but data after end is an error.
    if (hasChunk) writeAfterEnd(res, done)
    else if (done) res.once('finish', () => done())
    return
  }
  if (hasChunk && !isChunk(chunk)) {
    route.originalEnd.call(res, chunk, enc, done) // Node throws the right error
    return
  }
  route.ended = true
  if (route.mode === 'pending') {
    if (hasChunk) hold(route, chunk as Chunk, enc as BufferEncoding | undefined, undefined)
    startResponse(route)
    if ((route.mode as Route<C>['mode']) === 'passthrough') {
      endWithHeld(route, done)
      return
    }
  } else if (route.mode === 'passthrough') {
    releaseHeld(route)
    route.originalEnd.call(res, chunk, enc, done)
    return
  } else if (hasChunk) {
    releaseHeld(route)
    route.stream!.write(chunk as Chunk, enc as BufferEncoding)
  }
  releaseHeld(route)
  if (done) res.once('finish', () => done())
  route.stream!.end()
}

function routeFlush<C>(route: Route<C>): void {
  if (route.mode === 'pending') {
    if (route.ended || route.res.headersSent) return
    startResponse(route)
  }
  releaseHeld(route)
  if (route.mode === 'transform' && !route.ended) route.flush?.()
}

/** Keep a chunk until the decision; strings become bytes so the length is exact. */
function hold<C>(
  route: Route<C>,
  chunk: Chunk,
  encoding: BufferEncoding | undefined,
  callback: WriteCallback | undefined,
): void {
  const bytes =
    typeof chunk === 'string'
      ? Buffer.from(chunk, encoding ?? 'utf8')
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  const held = new HeldChunk(bytes, callback)
  if (route.lastHeld === undefined) route.firstHeld = held
  else route.lastHeld.next = held
  route.lastHeld = held
  route.heldBytes += bytes.length
}

/** Write the status line and headers now, which runs the response-start listeners and the decision. */
function startResponse<C>(route: Route<C>): void {
  const res = route.res
  if (!res.headersSent) res.writeHead(res.statusCode)
  // The listener did not run (headers sent behind our back): nothing can be transformed.
  if (route.mode === 'pending') becomePassthrough(route)
}

/** The response-start listener: ask the decider, then set up the chosen route. */
function decideAtStart<C>(res: ServerResponse, route: Route<C> | undefined): void {
  const r = route!
  const hasBody = responseHasBody(res)
  const body = new DecisionInput(r.ended ? r.heldBytes : contentLength(res), r.ended, hasBody)
  let decision: BodyDecision
  try {
    decision = r.decide(res, body, r.context as C)
  } catch (err) {
    // The response must stay writable, so an error boundary can still answer.
    becomePassthrough(r)
    throw err
  }
  const chosen = !decision ? undefined : decision instanceof Duplex ? new StreamTransform(decision) : decision
  if (chosen && hasBody) {
    res.removeHeader('content-length')
    becomeTransform(r, chosen)
  } else {
    chosen?.stream.destroy()
    becomePassthrough(r)
    if (r.ended && hasBody && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
      res.setHeader('content-length', r.heldBytes)
    }
  }
  // Headers sent by writeHead or flushHeaders while bytes were held: send those bytes
  // right after the headers rather than leave them waiting for the next write.
  if (r.firstHeld !== undefined && !r.ended) process.nextTick(releaseHeld, r)
}

function becomePassthrough<C>(route: Route<C>): void {
  route.mode = 'passthrough'
  const res = route.res
  // Only put the original back if nothing was layered over this route since.
  if (res.write === route.write) res.write = route.originalWrite
  if (res.end === route.end) res.end = route.originalEnd
}

function becomeTransform<C>(route: Route<C>, chosen: BodyTransform): void {
  const res = route.res
  const stream = chosen.stream
  route.mode = 'transform'
  route.stream = stream
  route.flush =
    chosen.flush ??
    (typeof (stream as Duplex & { flush?: () => void }).flush === 'function'
      ? () => (stream as Duplex & { flush: () => void }).flush()
      : undefined)

  route.collecting = route.ended
  const originalEmit = res.emit
  stream.on('data', (chunk: Buffer) => {
    if (route.collecting && collectOutput(route, chunk)) return
    if (route.originalWrite.call(res, chunk) === false && !route.streamWaits) {
      route.streamWaits = true
      stream.pause()
    }
  })
  stream.once('end', () => {
    if (res.destroyed) return
    const body = takeCollected(route)
    if (body !== undefined) {
      // Corked, the body and the end go out in one write (end() uncorks fully). Not
      // end(body): HTTP/2's compatibility end() writes through res.write, which is ours.
      ;(res as { cork?: () => void }).cork?.()
      route.originalWrite.call(res, body)
    }
    route.originalEnd.call(res)
  })
  stream.on('error', (err: Error) => {
    if (!res.destroyed) res.destroy(err)
  })
  stream.on('drain', () => {
    if (!route.handlerWaits) return
    route.handlerWaits = false
    originalEmit.call(res, 'drain')
  })
  // Native memory (zlib) is released on destroy, not on garbage collection: do it as
  // soon as the exchange is over, however it ended. onResponseEnd, not the response's
  // 'close': a pipelined response cut while queued never emits 'close'.
  onResponseEnd(res, destroyStream, stream)

  res.emit = function emitThroughRoute(this: ServerResponse, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'drain') return originalEmit.apply(this, [event, ...args] as Parameters<ServerResponse['emit']>)
    // The connection drained: that is the stream's business, not the handler's.
    if (route.streamWaits) {
      route.streamWaits = false
      stream.resume()
    }
    return true
  } as ServerResponse['emit']
}

/** The response-end listener of a transform: shared, the stream comes as its context. */
function destroyStream(_info: ResponseEndInfo, _res: ServerResponse, stream: Duplex | undefined): void {
  if (!stream!.destroyed) stream!.destroy()
}

/**
 * Keep `chunk` to send with the end; returns false when it must be written now instead,
 * because the kept output would pass {@link COLLECT_LIMIT}: what was kept goes first, and
 * from then on the output streams.
 */
function collectOutput<C>(route: Route<C>, chunk: Buffer): boolean {
  if (route.outBytes + chunk.length > COLLECT_LIMIT) {
    route.collecting = false
    const res = route.res
    for (let out = route.firstOut; out !== undefined; out = out.next) route.originalWrite.call(res, out.bytes)
    route.firstOut = route.lastOut = undefined
    route.outBytes = 0
    return false
  }
  const out = new HeldChunk(chunk, undefined)
  if (route.lastOut === undefined) route.firstOut = out
  else route.lastOut.next = out
  route.lastOut = out
  route.outBytes += chunk.length
  return true
}

/** The output kept back, as one buffer, or undefined when there is none. */
function takeCollected<C>(route: Route<C>): Buffer | undefined {
  const first = route.firstOut
  route.firstOut = route.lastOut = undefined
  return joinChunks(first, route.outBytes)
}

/** The bytes of a chunk list as one buffer (the chunk itself when it is alone), or undefined for none. */
function joinChunks(first: HeldChunk | undefined, length: number): Buffer | undefined {
  if (first === undefined || first.next === undefined) return first?.bytes
  const parts: Buffer[] = []
  for (let chunk: HeldChunk | undefined = first; chunk !== undefined; chunk = chunk.next) parts.push(chunk.bytes)
  return Buffer.concat(parts, length)
}

function releaseHeld<C>(route: Route<C>): boolean {
  let ok = true
  for (let held = route.takeHeld(); held !== undefined; held = held.next)
    ok = writeDecided(route, held.bytes, undefined, held.callback)
  return ok
}

/** The whole body was held and no transform was chosen: one write, headers and body together. */
function endWithHeld<C>(route: Route<C>, done: WriteCallback | undefined): void {
  const first = route.takeHeld()
  const body = joinChunks(first, route.heldBytes)
  let waiting = done !== undefined
  for (let held = first; held !== undefined && !waiting; held = held.next) waiting = held.callback !== undefined
  const finished = waiting
    ? () => {
        for (let held = first; held !== undefined; held = held.next) held.callback?.()
        done?.()
      }
    : undefined
  if (body === undefined) route.originalEnd.call(route.res, finished)
  else route.originalEnd.call(route.res, body, finished)
}

function writeDecided<C>(
  route: Route<C>,
  chunk: Chunk,
  encoding: BufferEncoding | undefined,
  callback: WriteCallback | undefined,
): boolean {
  if (route.mode === 'transform') {
    const ok = route.stream!.write(chunk, encoding as BufferEncoding, callback)
    if (!ok) route.handlerWaits = true
    return ok
  }
  return route.originalWrite.call(route.res, chunk, encoding, callback)
}

function writeAfterEnd(res: ServerResponse, callback: WriteCallback | undefined): boolean {
  const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' })
  process.nextTick(() => {
    callback?.(err)
    // Node emits this on the response even with no listener, which crashes the process;
    // here it reaches listeners only.
    if (res.listenerCount('error') > 0) res.emit('error', err)
  })
  return false
}

function writeArguments(encoding: unknown, callback: unknown): [BufferEncoding | undefined, WriteCallback | undefined] {
  if (typeof encoding === 'function') return [undefined, encoding as WriteCallback]
  return [
    encoding as BufferEncoding | undefined,
    typeof callback === 'function' ? (callback as WriteCallback) : undefined,
  ]
}

const isChunk = (chunk: unknown): chunk is Chunk => typeof chunk === 'string' || chunk instanceof Uint8Array

function holdBackLimit<C>(route: Route<C>): number {
  if (route.res.hasHeader('content-length')) return 0
  return typeof route.holdBack === 'function' ? route.holdBack(route.res) : route.holdBack
}

/** The `Content-Length` set on the response, if it is one valid number. */
function contentLength(res: ServerResponse): number | undefined {
  const value = res.getHeader('content-length')
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** RFC 9110 §6.4.1: HEAD responses, 1xx, 204 and 304 carry no content. */
export function responseHasBody(res: ServerResponse): boolean {
  const status = res.statusCode
  return res.req?.method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200
}
