/**
 * `transformBody`: pipe a response body through a stream chosen at response start
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
 *   stream at once;
 * - whole: for a body handed over whole, a decider may return a {@link WholeBodyTransform}.
 *   On the only route of an HTTP/1 response, the body goes to it in one asynchronous call
 *   while the head is held back (`holdResponseHead`), and the result goes out with its
 *   `Content-Length` in one `end()`: no stream, no listeners, no chunked framing.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'
import { readHeader, setOwnHeader } from './headers.js'
import { onResponseEnd, type ResponseEndInfo } from './response-end.js'
import { holdResponseHead, onResponseStart, sendResponseHead } from './response-start.js'

/** What the decider knows about the body when it decides. */
export interface BodyInfo {
  /** The exact body length, when known: the whole body was held back, or `Content-Length` was set. */
  readonly length: number | undefined
  /** Whether the handler already called `end()`, so the whole body is held. */
  readonly ended: boolean
  /** Whether this response can carry a body at all (not HEAD, 1xx, 204 or 304). */
  readonly hasBody: boolean
  /**
   * The whole body as one buffer, when the handler already handed it over (`ended`):
   * the bytes are in memory anyway, so a decider may read them (conditional() hashes
   * them into an ETag). Undefined while the body is still streaming. Costs a copy only
   * when the body came in several writes.
   */
  whole(): Buffer | undefined
}

/** A chosen transform, with an optional flush used by `res.flush()`. */
export interface BodyTransform {
  readonly stream: Duplex
  /** Push out what the stream holds now (e.g. a zlib sync flush). @default stream.flush() if the stream has one */
  readonly flush?: () => void
}

/** Calls back once with the transformed body, or an error. */
export type WholeBodyCallback = (err: Error | null, result: Buffer) => void

/**
 * A transform that can take a body handed over whole in one asynchronous call (zlib's
 * `gzip`, `brotliCompress`), besides the stream it is otherwise. A decider may return one
 * when `body.ended`; transformBody then calls `whole` when it can send the result in one
 * piece with its `Content-Length` (HTTP/1, the only route on the response, a body of at
 * most 256 KiB), and `stream` otherwise.
 */
export interface WholeBodyTransform {
  /** Transform `body` and call `done` with the result; asynchronously, never with a `*Sync` call. */
  whole(body: Buffer, done: WholeBodyCallback): void
  /** The same transform as a stream, for a body of `length` bytes (undefined: unknown). */
  stream(length: number | undefined): Duplex | BodyTransform
}

/**
 * The decider's answer: a stream (or stream and flush) to transform through, a transform
 * of the whole body, or nothing for passthrough.
 */
export type BodyDecision = Duplex | BodyTransform | WholeBodyTransform | null | undefined | false

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
  // Private, so the info reads as its three facts (tests compare it as such).
  readonly #held: ChunkList

  constructor(length: number | undefined, ended: boolean, hasBody: boolean, held: ChunkList) {
    this.length = length
    this.ended = ended
    this.hasBody = hasBody
    this.#held = held
  }

  whole(): Buffer | undefined {
    return this.ended ? (this.#held.join() ?? Buffer.alloc(0)) : undefined
  }
}

/** A decider's bare stream as a {@link BodyTransform}. */
class StreamTransform implements BodyTransform {
  readonly stream: Duplex

  constructor(stream: Duplex) {
    this.stream = stream
  }
}

/**
 * One chunk of a {@link ChunkList} with its write callback: a list link. The data is bytes,
 * or a short string kept as the handler gave it (see {@link hold}), with its encoding and
 * its exact length in bytes.
 */
class HeldChunk {
  /** Becomes the bytes once something asked for them ({@link toBuffer}): converted once. */
  data: Buffer | string
  encoding: BufferEncoding | undefined
  readonly bytes: number
  readonly callback: WriteCallback | undefined
  next: HeldChunk | undefined = undefined

  constructor(
    data: Buffer | string,
    encoding: BufferEncoding | undefined,
    bytes: number,
    callback: WriteCallback | undefined,
  ) {
    this.data = data
    this.encoding = encoding
    this.bytes = bytes
    this.callback = callback
  }

  /**
   * The data as bytes. A string is converted once and the bytes kept: a decider that read the
   * body through `whole()` (conditional's ETag) and Node's write then share one conversion.
   */
  toBuffer(): Buffer {
    const data = this.data
    if (typeof data !== 'string') return data
    const bytes = Buffer.from(data, this.encoding ?? 'utf8')
    this.data = bytes
    this.encoding = undefined
    return bytes
  }
}

/**
 * Chunks kept in order, with their total length: the writes held back before the
 * decision, and the output kept to go out with the end. A linked list of class
 * instances, not an array: appending never copies, and see listener-node.ts.
 */
class ChunkList {
  first: HeldChunk | undefined = undefined
  last: HeldChunk | undefined = undefined
  /** The total length of the chunks in the list, in bytes. */
  bytes = 0

  append(bytes: Buffer, callback: WriteCallback | undefined): void {
    this.link(new HeldChunk(bytes, undefined, bytes.length, callback))
  }

  /** Keep a string as it is, with its length in bytes measured by the caller. */
  appendString(text: string, encoding: BufferEncoding | undefined, bytes: number): void {
    this.link(new HeldChunk(text, encoding, bytes, undefined))
  }

  private link(chunk: HeldChunk): void {
    if (this.last === undefined) this.first = chunk
    else this.last.next = chunk
    this.last = chunk
    this.bytes += chunk.bytes
  }

  /** Empty the list; returns its chunks, oldest first, to walk through `next`. */
  take(): HeldChunk | undefined {
    const first = this.first
    this.first = this.last = undefined
    this.bytes = 0
    return first
  }

  /** The bytes as one buffer (the chunk itself when it is alone), or undefined when empty. The list is unchanged. */
  join(): Buffer | undefined {
    const first = this.first
    if (first === undefined || first.next === undefined) return first?.toBuffer()
    const parts: Buffer[] = []
    for (let chunk: HeldChunk | undefined = first; chunk !== undefined; chunk = chunk.next) parts.push(chunk.toBuffer())
    return Buffer.concat(parts, this.bytes)
  }
}

/**
 * Per-response state of one body pipe (one `transformBody` call). A class, not a literal:
 * see listener-node.ts. What only a transform needs is in its {@link StreamRoute}, made
 * when one is chosen, so a response that goes out as it is allocates none of it.
 */
class BodyPipe<C> {
  readonly res: ServerResponse
  readonly decide: BodyDecider<C>
  readonly context: C | undefined
  readonly holdBack: number | ((res: ServerResponse) => number)
  readonly originalWrite: WriteMethod
  readonly originalEnd: EndMethod
  /** `whole`: the body given whole is being transformed in one call, the head held until it is done. */
  mode: 'pending' | 'transform' | 'passthrough' | 'whole' = 'pending'
  /** The writes held back until the decision. */
  readonly held = new ChunkList()
  ended = false
  /** The chosen transform, once there is one. */
  route: StreamRoute | undefined = undefined
  /** What `res.write` and `res.end` are while this pipe is in place. */
  write: ServerResponse['write'] | undefined = undefined
  end: ServerResponse['end'] | undefined = undefined
  /** The `res.flush` in place before this pipe's (another pipe's, compression's), called after it. */
  outerFlush: (() => void) | undefined = undefined
  /** The pipe set up on this response before this one: the one whose methods this one calls. */
  previous: BodyPipe<unknown> | undefined = undefined
  /** The transform of the whole body, in mode `whole`. */
  whole: WholeBodyTransform | undefined = undefined
  /** The callback of the `end()` that handed the body over, in mode `whole`. */
  endCallback: WriteCallback | undefined = undefined

  constructor(res: ServerResponse, decide: BodyDecider<C>, options: TransformBodyOptions<C>) {
    this.res = res
    this.decide = decide
    this.context = options.context
    this.holdBack = options.holdBack ?? 0
    this.originalWrite = res.write as WriteMethod
    this.originalEnd = res.end as EndMethod
  }
}

/** A chosen transform stream and the state of its two-way backpressure. */
class StreamRoute {
  readonly pipe: BodyPipe<unknown>
  readonly stream: Duplex
  readonly flush: (() => void) | undefined
  /** The handler saw `write()` return false and waits for `'drain'`. */
  handlerWaits = false
  /** The stream is paused until the connection drains. */
  streamWaits = false
  /**
   * Output kept back to go out with the end in one write, while the whole body was given
   * at once; made only then, so other responses allocate no list for it.
   */
  collected: ChunkList | undefined = undefined
  /** The response's `emit` before this route wrapped it. */
  originalEmit: ServerResponse['emit'] | undefined = undefined

  constructor(pipe: BodyPipe<unknown>, stream: Duplex, flush: (() => void) | undefined) {
    this.pipe = pipe
    this.stream = stream
    this.flush = flush
  }
}

/** Most output bytes kept back for a body given whole; beyond, the rest is streamed. */
const COLLECT_LIMIT = 256 * 1024

const PIPE = Symbol('http-onion.bodyPipe')
type PipeSlot = { [PIPE]?: BodyPipe<unknown> }
const ROUTE = Symbol('http-onion.streamRoute')
type RouteSlot = Duplex & { [ROUTE]?: StreamRoute }

type WriteCallback = (err?: Error | null) => void
// The response methods as they are called here: loosely, as Node's own overloads allow.
type WriteMethod = (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) => boolean
type EndMethod = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => ServerResponse
type Chunk = string | Uint8Array

/**
 * Pipe the body of `res` through the stream that `decide` picks at response start.
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
  const pipe = new BodyPipe(res, decide, options)
  if (!onResponseStart(res, decideAtStart, pipe)) return false
  const below = (res as PipeSlot)[PIPE]
  pipe.previous = below
  ;(res as PipeSlot)[PIPE] = pipe as BodyPipe<unknown>
  pipe.outerFlush = (res as Flushable).flush
  let flush: () => void
  if (below === undefined) {
    // The first pipe of a response (nearly always the only one) gets shared methods that
    // find it on the response: no closure per response.
    pipe.write = firstPipeWrite as ServerResponse['write']
    pipe.end = firstPipeEnd as ServerResponse['end']
    flush = firstPipeFlush
  } else {
    // A pipe over another (a transform inside another): closures, since the shared methods
    // belong to the first pipe, and each call must reach the pipe it was made for.
    pipe.write = function write(this: ServerResponse, chunk: Chunk, encoding?: unknown, callback?: unknown) {
      return pipeWrite(pipe, chunk, encoding, callback)
    } as ServerResponse['write']
    pipe.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) {
      pipeEnd(pipe, chunk, encoding, callback)
      return this
    } as ServerResponse['end']
    flush = function flush() {
      pipeFlush(pipe)
      pipe.outerFlush?.call(res)
    }
  }
  res.write = pipe.write
  res.end = pipe.end
  ;(res as Flushable).flush = flush
  return true
}

/** The first pipe of `res`: the bottom of the chain that starts at the slot. */
function firstPipe(res: ServerResponse): BodyPipe<unknown> {
  let pipe = (res as PipeSlot)[PIPE]!
  while (pipe.previous !== undefined) pipe = pipe.previous
  return pipe
}

function firstPipeWrite(this: ServerResponse, chunk: Chunk, encoding?: unknown, callback?: unknown): boolean {
  return pipeWrite(firstPipe(this), chunk, encoding, callback)
}

function firstPipeEnd(this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse {
  pipeEnd(firstPipe(this), chunk, encoding, callback)
  return this
}

function firstPipeFlush(this: ServerResponse): void {
  const pipe = firstPipe(this)
  pipeFlush(pipe)
  pipe.outerFlush?.call(this)
}

type Flushable = ServerResponse & { flush?: () => void }

/**
 * Drop the body bytes held back, still undecided, on every pipe of `res`, and return
 * how many there were. For an answer that replaces the response the handler had begun
 * (`sendError`): a held prefix of the old body must not go out in front of it. Their
 * write callbacks get an `ERR_STREAM_DESTROYED` error.
 */
export function discardHeldBody(res: ServerResponse): number {
  let dropped = 0
  for (let pipe = (res as PipeSlot)[PIPE]; pipe; pipe = pipe.previous) {
    if (pipe.mode !== 'pending' || pipe.held.bytes === 0) continue
    dropped += pipe.held.bytes
    for (let held = pipe.held.take(); held !== undefined; held = held.next) {
      if (held.callback)
        process.nextTick(
          held.callback,
          Object.assign(new Error('body replaced before it was sent'), { code: 'ERR_STREAM_DESTROYED' }),
        )
    }
  }
  return dropped
}

function pipeWrite<C>(pipe: BodyPipe<C>, chunk: Chunk, encoding: unknown, callback: unknown): boolean {
  const [enc, cb] = writeArguments(encoding, callback)
  if (pipe.ended) return writeAfterEnd(pipe.res, cb)
  if (pipe.mode === 'pending') {
    if (!isChunk(chunk)) return pipe.originalWrite.call(pipe.res, chunk, enc, cb) // Node throws the right error
    const limit = holdBackLimit(pipe)
    if (limit > 0 && !pipe.res.headersSent) {
      hold(pipe, chunk, enc, cb)
      if (pipe.held.bytes < limit) return true
      startResponse(pipe)
      return releaseHeld(pipe)
    }
    startResponse(pipe)
  }
  releaseHeld(pipe)
  return writeDecided(pipe, chunk, enc, cb)
}

function pipeEnd<C>(pipe: BodyPipe<C>, chunk: unknown, encoding: unknown, callback: unknown): void {
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
  const res = pipe.res
  const hasChunk = chunk !== undefined && chunk !== null
  if (pipe.ended) {
    // As Node does: a second end() only waits for the first, but data after end is an error.
    if (hasChunk) writeAfterEnd(res, done)
    else if (done) res.once('finish', () => done())
    return
  }
  if (hasChunk && !isChunk(chunk)) {
    pipe.originalEnd.call(res, chunk, enc, done) // Node throws the right error
    return
  }
  pipe.ended = true
  if (pipe.mode === 'pending') {
    if (hasChunk) hold(pipe, chunk as Chunk, enc as BufferEncoding | undefined, undefined)
    try {
      startResponse(pipe)
    } catch (err) {
      // A listener outside threw: the head is not going out, and an error boundary may answer.
      if ((pipe.mode as BodyPipe<C>['mode']) === 'whole') abandonWhole(pipe)
      throw err
    }
    const mode = pipe.mode as BodyPipe<C>['mode']
    if (mode === 'passthrough') {
      endWithHeld(pipe, done)
      return
    }
    if (mode === 'whole') {
      startWhole(pipe, done)
      return
    }
  } else if (pipe.mode === 'passthrough') {
    releaseHeld(pipe)
    pipe.originalEnd.call(res, chunk, enc, done)
    return
  } else if (hasChunk) {
    releaseHeld(pipe)
    pipe.route!.stream.write(chunk as Chunk, enc as BufferEncoding)
  }
  releaseHeld(pipe)
  if (done) res.once('finish', () => done())
  pipe.route!.stream.end()
}

function pipeFlush<C>(pipe: BodyPipe<C>): void {
  if (pipe.mode === 'whole') return
  if (pipe.mode === 'pending') {
    if (pipe.ended || pipe.res.headersSent) return
    startResponse(pipe)
  }
  releaseHeld(pipe)
  if (pipe.mode === 'transform' && !pipe.ended) pipe.route!.flush?.()
}

/**
 * Keep a chunk until the decision. The last chunk, given to `end()` with nothing held before
 * it, stays a string when it is short ({@link SHORT_STRING}): its length in bytes is measured
 * (85 ns for 1 KB), and when it goes out as it is, Node writes it after the head in one piece.
 * Turning 1 KB of text into bytes costs about 0.9 µs, and the head then goes out as a chunk
 * of its own. Longer strings, and strings that more data follows, become bytes at once:
 * measuring a 64 KB string scans it once and the conversion that compression needs scans it
 * again (13 µs more per response, measured).
 */
function hold<C>(
  pipe: BodyPipe<C>,
  chunk: Chunk,
  encoding: BufferEncoding | undefined,
  callback: WriteCallback | undefined,
): void {
  if (typeof chunk === 'string') {
    if (
      pipe.ended &&
      callback === undefined &&
      pipe.held.first === undefined &&
      chunk.length <= SHORT_STRING &&
      // An unknown encoding is refused by Buffer.from below, now, as before.
      (encoding === undefined || Buffer.isEncoding(encoding))
    ) {
      pipe.held.appendString(chunk, encoding, Buffer.byteLength(chunk, encoding ?? 'utf8'))
    } else pipe.held.append(Buffer.from(chunk, encoding ?? 'utf8'), callback)
    return
  }
  pipe.held.append(
    Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    callback,
  )
}

/** Longest string (in UTF-16 units) that {@link hold} keeps as a string. */
export const SHORT_STRING = 8 * 1024

/** Write the status line and headers now, which runs the response-start listeners and the decision. */
function startResponse<C>(pipe: BodyPipe<C>): void {
  const res = pipe.res
  if (!res.headersSent) res.writeHead(res.statusCode)
  // The listener did not run (headers sent behind our back): nothing can be transformed.
  if (pipe.mode === 'pending') becomePassthrough(pipe)
}

/** The response-start listener: ask the decider, then set up the chosen pipe. */
function decideAtStart<C>(res: ServerResponse, pipe: BodyPipe<C> | undefined): void {
  const r = pipe!
  const body = new DecisionInput(r.ended ? r.held.bytes : contentLength(res), r.ended, responseHasBody(res), r.held)
  let decision: BodyDecision
  try {
    decision = r.decide(res, body, r.context as C)
  } catch (err) {
    // The response must stay writable, so an error boundary can still answer.
    becomePassthrough(r)
    throw err
  }
  // Asked again: the decider may have changed the status (conditional() answers 304).
  const hasBody = responseHasBody(res)
  if (decision && isWholeBodyTransform(decision)) {
    if (hasBody && canTransformWhole(r)) {
      res.removeHeader('content-length')
      r.mode = 'whole'
      r.whole = decision
      // The head waits for the result's length; pipeEnd starts the call once every listener ran.
      holdResponseHead(res)
      return
    }
    decision = hasBody ? decision.stream(r.ended ? r.held.bytes : contentLength(res)) : null
  }
  const chosen = !decision
    ? undefined
    : decision instanceof Duplex
      ? new StreamTransform(decision)
      : (decision as BodyTransform)
  if (chosen && hasBody) {
    res.removeHeader('content-length')
    becomeTransform(r, chosen)
  } else {
    chosen?.stream.destroy()
    becomePassthrough(r)
    if (
      r.ended &&
      hasBody &&
      readHeader(res, 'content-length') === undefined &&
      readHeader(res, 'transfer-encoding') === undefined
    ) {
      setOwnHeader(res, 'content-length', r.held.bytes)
    }
  }
  // Headers sent by writeHead or flushHeaders while bytes were held: send those bytes
  // right after the headers rather than leave them waiting for the next write.
  if (r.held.first !== undefined && !r.ended) process.nextTick(releaseHeld, r)
}

const isWholeBodyTransform = (decision: Duplex | BodyTransform | WholeBodyTransform): decision is WholeBodyTransform =>
  !(decision instanceof Duplex) && typeof (decision as WholeBodyTransform).whole === 'function'

/**
 * Whether the body given whole can be transformed in one call and sent in one piece: it is
 * held whole and within {@link COLLECT_LIMIT}; this is the only route on an HTTP/1 response
 * (with another route over or under this one, its bytes must pass through it; HTTP/2's
 * compatibility response has no `writableEnded` to mark the wait with, and streams anyway).
 */
function canTransformWhole<C>(pipe: BodyPipe<C>): boolean {
  const res = pipe.res
  return (
    pipe.ended &&
    pipe.held.bytes <= COLLECT_LIMIT &&
    pipe.previous === undefined &&
    res.write === pipe.write &&
    res.end === pipe.end &&
    !('stream' in res)
  )
}

/**
 * The whole body goes to the transform in one call; the head waits for the result. Until
 * it is back the response counts as ended (`writableEnded`: the handler did call `end()`),
 * so a timeout or an error boundary does not answer a second time, and `res.write` and
 * `res.end` stay this pipe's, which refuse more data.
 */
function startWhole<C>(pipe: BodyPipe<C>, done: WriteCallback | undefined): void {
  const res = pipe.res
  pipe.endCallback = done
  Object.defineProperty(res, 'writableEnded', ENDED)
  const body = pipe.held.join() ?? Buffer.alloc(0)
  try {
    pipe.whole!.whole(body, (err, result) => finishWhole(pipe, err, result))
  } catch (err) {
    finishWhole(pipe, err instanceof Error ? err : new Error(String(err)), undefined)
  }
}

const ENDED: PropertyDescriptor = Object.freeze({ value: true, configurable: true, enumerable: false })

/** The transform of the whole body is done: send head and result in one piece, or give up. */
function finishWhole<C>(pipe: BodyPipe<C>, err: Error | null, result: Buffer | undefined): void {
  if (pipe.mode !== 'whole') return
  const res = pipe.res
  const first = pipe.held.take()
  pipe.mode = 'passthrough'
  pipe.whole = undefined
  // The exchange is over (the client left; the connection of a queued response closed;
  // a timeout destroyed it): nothing may be written, and nothing is waiting for it.
  if (res.destroyed || res.req?.socket?.destroyed === true) {
    sendResponseHead(res, true)
    return
  }
  if (err !== null || result === undefined) {
    sendResponseHead(res, true)
    res.destroy(err ?? new Error('the whole-body transform gave no result'))
    return
  }
  // Headers flushed by hand meanwhile went out without a length: the body is then chunked.
  if (!res.headersSent) res.setHeader('content-length', result.length)
  sendResponseHead(res)
  restoreMethods(pipe)
  const done = pipe.endCallback
  pipe.endCallback = undefined
  let waiting = done !== undefined
  for (let held = first; held !== undefined && !waiting; held = held.next) waiting = held.callback !== undefined
  pipe.originalEnd.call(
    res,
    result,
    waiting
      ? () => {
          for (let held = first; held !== undefined; held = held.next) held.callback?.()
          done?.()
        }
      : undefined,
  )
}

/** A listener outside threw while the head was being held for a whole-body transform: drop the plan. */
function abandonWhole<C>(pipe: BodyPipe<C>): void {
  pipe.whole = undefined
  sendResponseHead(pipe.res, true)
  becomePassthrough(pipe)
}

function becomePassthrough<C>(pipe: BodyPipe<C>): void {
  pipe.mode = 'passthrough'
  restoreMethods(pipe)
}

function restoreMethods<C>(pipe: BodyPipe<C>): void {
  const res = pipe.res
  // Only put the original back if nothing was layered over this pipe since.
  if (res.write === pipe.write) res.write = pipe.originalWrite
  if (res.end === pipe.end) res.end = pipe.originalEnd
}

function becomeTransform<C>(pipe: BodyPipe<C>, chosen: BodyTransform): void {
  const res = pipe.res
  const stream = chosen.stream as RouteSlot
  pipe.mode = 'transform'
  const flush =
    chosen.flush ??
    (typeof (stream as Duplex & { flush?: () => void }).flush === 'function'
      ? () => (stream as Duplex & { flush: () => void }).flush()
      : undefined)
  const route = new StreamRoute(pipe as BodyPipe<unknown>, stream, flush)
  pipe.route = route
  if (pipe.ended) route.collected = new ChunkList()
  // Shared listeners that find the route on the stream: no closures per response.
  stream[ROUTE] = route
  stream.on('data', onStreamData)
  stream.once('end', onStreamEnd)
  stream.on('error', onStreamError)
  stream.on('drain', onStreamDrain)
  // Native memory (zlib) is released on destroy, not on garbage collection: do it as
  // soon as the exchange is over, however it ended. onResponseEnd, not the response's
  // 'close': a pipelined response cut while queued never emits 'close'.
  onResponseEnd(res, destroyStream, stream)

  const originalEmit = res.emit
  route.originalEmit = originalEmit
  // A closure: with a transform inside another, each wraps the emit of the one before.
  res.emit = function emitThroughPipe(this: ServerResponse, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'drain') return originalEmit.apply(this, [event, ...args] as Parameters<ServerResponse['emit']>)
    // The connection drained: that is the stream's business, not the handler's.
    if (route.streamWaits) {
      route.streamWaits = false
      stream.resume()
    }
    return true
  } as ServerResponse['emit']
}

function onStreamData(this: RouteSlot, chunk: Buffer): void {
  const route = this[ROUTE]!
  const pipe = route.pipe
  if (route.collected !== undefined && collectOutput(route, route.collected, chunk)) return
  if (pipe.originalWrite.call(pipe.res, chunk) === false && !route.streamWaits) {
    route.streamWaits = true
    this.pause()
  }
}

function onStreamEnd(this: RouteSlot): void {
  const route = this[ROUTE]!
  const { res, originalWrite, originalEnd } = route.pipe
  if (res.destroyed) return
  const body = route.collected?.join()
  route.collected = undefined
  if (body !== undefined) {
    // Corked, the body and the end go out in one write (end() uncorks fully). Not
    // end(body): HTTP/2's compatibility end() writes through res.write, which is ours.
    ;(res as { cork?: () => void }).cork?.()
    originalWrite.call(res, body)
  }
  originalEnd.call(res)
}

function onStreamError(this: RouteSlot, err: Error): void {
  const res = this[ROUTE]!.pipe.res
  if (!res.destroyed) res.destroy(err)
}

function onStreamDrain(this: RouteSlot): void {
  const route = this[ROUTE]!
  if (!route.handlerWaits) return
  route.handlerWaits = false
  route.originalEmit!.call(route.pipe.res, 'drain')
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
function collectOutput(route: StreamRoute, collected: ChunkList, chunk: Buffer): boolean {
  if (collected.bytes + chunk.length > COLLECT_LIMIT) {
    route.collected = undefined
    const { res, originalWrite } = route.pipe
    for (let out = collected.take(); out !== undefined; out = out.next) originalWrite.call(res, out.data)
    return false
  }
  collected.append(chunk, undefined)
  return true
}

function releaseHeld<C>(pipe: BodyPipe<C>): boolean {
  let ok = true
  for (let held = pipe.held.take(); held !== undefined; held = held.next)
    ok = writeDecided(pipe, held.data, held.encoding, held.callback)
  return ok
}

/** The whole body was held and no transform was chosen: one write, headers and body together. */
function endWithHeld<C>(pipe: BodyPipe<C>, done: WriteCallback | undefined): void {
  const alone = pipe.held.first !== undefined && pipe.held.first.next === undefined ? pipe.held.first : undefined
  // A string kept as given goes to Node as a string: it writes head and body as one.
  if (alone !== undefined && typeof alone.data === 'string') {
    pipe.held.take()
    pipe.originalEnd.call(pipe.res, alone.data, alone.encoding, done)
    return
  }
  const body = pipe.held.join()
  const first = pipe.held.take()
  let waiting = done !== undefined
  for (let held = first; held !== undefined && !waiting; held = held.next) waiting = held.callback !== undefined
  const finished = waiting
    ? () => {
        for (let held = first; held !== undefined; held = held.next) held.callback?.()
        done?.()
      }
    : undefined
  if (body === undefined) pipe.originalEnd.call(pipe.res, finished)
  else pipe.originalEnd.call(pipe.res, body, finished)
}

function writeDecided<C>(
  pipe: BodyPipe<C>,
  chunk: Chunk,
  encoding: BufferEncoding | undefined,
  callback: WriteCallback | undefined,
): boolean {
  if (pipe.mode === 'transform') {
    const route = pipe.route!
    const ok = route.stream.write(chunk, encoding as BufferEncoding, callback)
    if (!ok) route.handlerWaits = true
    return ok
  }
  return pipe.originalWrite.call(pipe.res, chunk, encoding, callback)
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

function holdBackLimit<C>(pipe: BodyPipe<C>): number {
  if (readHeader(pipe.res, 'content-length') !== undefined) return 0
  return typeof pipe.holdBack === 'function' ? pipe.holdBack(pipe.res) : pipe.holdBack
}

/** The `Content-Length` set on the response, if it is one valid number. */
function contentLength(res: ServerResponse): number | undefined {
  const value = readHeader(res, 'content-length')
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** RFC 9110 §6.4.1: HEAD responses, 1xx, 204 and 304 carry no content. */
export function responseHasBody(res: ServerResponse): boolean {
  const status = res.statusCode
  return res.req?.method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200
}
