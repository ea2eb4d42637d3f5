/**
 * `onRequestBody`: see each chunk of a request body as it enters the request stream,
 * before any reader gets it, without reading, pausing or resuming anything. Body limits
 * count with it and body capture copies with it.
 *
 * Why not a `'data'` listener: adding one switches the stream to flowing mode, which reads
 * the body ahead of the handler (and a listener added with `prependListener` to avoid that
 * sees bytes only when someone reads them, after they were already accepted). The
 * parser hands every body chunk to the request's `push()` (HTTP/1: `parserOnBody`; HTTP/2
 * compatibility: `onStreamData`), and a `false` from `push()` makes it stop reading the
 * socket. So `push` is wrapped, on the instance, once per request that registers: a
 * listener can count, copy, or refuse a chunk. A refused chunk never reaches the stream
 * and the socket stops being read until someone reads the request again. The Node internal
 * this relies on (the parser calling `stream.push(b)`) is pinned by a test.
 *
 * Bytes already buffered in the request when the first listener registers were pushed
 * before it: listeners learn how many through `req.readableLength`, and can look at them
 * without reading them through {@link bufferedBody}.
 *
 * `redirectRequestBody` lets a layer replace the bytes the stream yields (request
 * decompression): chunks go to its sink after the listeners registered so far, and what it
 * pushes back enters the stream through the listeners registered after it. So a limit
 * mounted outside counts the bytes as sent, a capture mounted inside copies the decoded ones.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { ListenerNode } from './listener-node.js'

/**
 * Called with each body chunk before the request stream gets it. Return `false` to refuse
 * the chunk: it is dropped, later listeners do not see it, and the socket stops being read
 * (the listener then usually destroys the request, or answers and closes). It must not throw.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a listener that returns nothing means "go on", and a void function must fit
export type RequestBodyListener<C> = (chunk: Buffer, req: IncomingMessage, context: C) => boolean | void

type Push = (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) => boolean

/**
 * One stretch of the way from the parser to the stream: listeners in registration order,
 * then either the next stage's sink (a redirect) or the stream itself.
 */
class Stage {
  first: ListenerNode<RequestBodyListener<unknown>> | undefined = undefined
  last: ListenerNode<RequestBodyListener<unknown>> | undefined = undefined
  /** Set by a redirect: takes the chunks (null: the end) instead of the stream. */
  sink: ((chunk: Buffer | null) => boolean) | undefined = undefined
}

/** Per-request record; a class, not a literal (see listener-node.ts). */
class BodyRecord {
  /** The stage the parser pushes into. */
  readonly head = new Stage()
  /** The stage new listeners join: after the last redirect. */
  tail: Stage = this.head

  readonly push: Push

  constructor(push: Push) {
    this.push = push
  }
}

const BODY = Symbol('http-onion.requestBody')
type BodySlot = { [BODY]?: BodyRecord }

/**
 * Call `listener(chunk, req, context)` for every later chunk of `req`'s body, in
 * registration order (outer layers first, as they register on the request path).
 * @example
 * let seen = 0
 * onRequestBody(req, (chunk) => { seen += chunk.length })
 */
export function onRequestBody<C>(req: IncomingMessage, listener: RequestBodyListener<C>, context?: C): void {
  const stage = recordOf(req).tail
  const node = new ListenerNode(listener as RequestBodyListener<unknown>, context, undefined)
  if (stage.last === undefined) stage.first = node
  else stage.last.next = node
  stage.last = node
}

/** The way back into the stream that {@link redirectRequestBody} returns. */
export interface RequestBodyOutlet {
  /**
   * Push a chunk (null: the end of the body) into the request stream, through the listeners
   * registered after the redirect. False: the stream is full; wait for `onWant`.
   */
  push(chunk: Buffer | null): boolean
  /**
   * Ask for more body as a reader of the request would: resume reading the socket (HTTP/1)
   * or the stream (HTTP/2). For a sink that returned false and has room again.
   */
  pull(): void
}

/**
 * From now on, hand the chunks of `req`'s body (and null at its end) to `sink` instead of the
 * request stream, after the listeners registered so far. A false from `sink` stops reading
 * the socket until someone reads the request or calls `pull()`. `onWant` runs whenever a
 * reader of the request wants more (Node calls the stream's `_read`). What the caller pushes
 * through the returned outlet is what readers of `req` get.
 * @example
 * const outlet = redirectRequestBody(req, (chunk) => (chunk === null ? (gunzip.end(), true) : gunzip.write(chunk)), () => gunzip.resume())
 * gunzip.on('data', (bytes) => outlet.push(bytes) || gunzip.pause())
 */
export function redirectRequestBody(
  req: IncomingMessage,
  sink: (chunk: Buffer | null) => boolean,
  onWant: () => void,
): RequestBodyOutlet {
  const record = recordOf(req)
  const from = record.tail
  const to = new Stage()
  from.sink = sink
  record.tail = to
  const read = req._read
  req._read = function readThroughRedirect(this: IncomingMessage, size: number) {
    onWant()
    read.call(this, size)
  }
  return {
    push: (chunk) => deliver(req, record, to, chunk, undefined),
    pull() {
      // Node marks a request "consumed" when it is read, and then no longer drains an unread
      // body after the response (`_dump`); a pull on behalf of the sink is not a read.
      const slot = req as unknown as { _consuming?: boolean }
      const consuming = slot._consuming
      read.call(req, req.readableHighWaterMark)
      if (consuming !== undefined) slot._consuming = consuming
    },
  }
}

function recordOf(req: IncomingMessage): BodyRecord {
  const slot = req as unknown as BodySlot
  let record = slot[BODY]
  if (record === undefined) {
    record = slot[BODY] = new BodyRecord(req.push as Push)
    req.push = pushThroughListeners as IncomingMessage['push']
  }
  return record
}

function pushThroughListeners(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
  const record = (this as unknown as BodySlot)[BODY]!
  return deliver(this, record, record.head, chunk, encoding)
}

function deliver(
  req: IncomingMessage,
  record: BodyRecord,
  stage: Stage,
  chunk: unknown,
  encoding: BufferEncoding | undefined,
): boolean {
  // null ends the stream; the parser only ever pushes Buffers otherwise.
  if (chunk !== null && Buffer.isBuffer(chunk)) {
    for (let node = stage.first; node !== undefined; node = node.next) {
      if (node.listener(chunk, req, node.context) === false) return false
    }
  }
  if (stage.sink !== undefined) return stage.sink(chunk as Buffer | null)
  return record.push.call(req, chunk, encoding)
}

/** The readable state fields {@link bufferedBody} looks at; Node's own, not a public API. */
interface BufferedState {
  readonly objectMode?: boolean
  readonly length?: number
  /** Node ≥ 20.19 and 22: an array read from `bufferIndex` on; older: a list from `head`. */
  readonly buffer?: unknown
  readonly bufferIndex?: number
}
type ListEntry = { readonly data: unknown; readonly next: ListEntry | null }

/**
 * The body bytes buffered in `req` and not read yet, oldest first, without reading them:
 * what an earlier layer let Node push while it awaited (a body that arrived with the head).
 * An empty array when nothing is buffered; `undefined` when the buffer holds what cannot be
 * given back as bytes (`setEncoding` was called) or has a layout this function does not know,
 * so the caller says it skipped rather than guessing. The chunks are Node's own buffers:
 * copy what you keep, never change them. The layouts it reads are pinned by a test.
 * @example
 * const early = bufferedBody(req) // before onRequestBody(req, copy): copy these first
 */
export function bufferedBody(req: IncomingMessage): readonly Buffer[] | undefined {
  if (req.readableLength === 0) return []
  const state = (req as unknown as { _readableState?: BufferedState })._readableState
  if (state === undefined || state.objectMode === true) return undefined
  const chunks: Buffer[] = []
  const { buffer } = state
  if (Array.isArray(buffer)) {
    for (let i = state.bufferIndex ?? 0; i < buffer.length; i++) chunks.push(buffer[i])
  } else if (typeof buffer === 'object' && buffer !== null && 'head' in buffer) {
    for (let entry = (buffer as { head: ListEntry | null }).head; entry !== null; entry = entry.next) {
      chunks.push(entry.data as Buffer)
    }
  } else {
    return undefined
  }
  let total = 0
  for (const chunk of chunks) {
    if (!Buffer.isBuffer(chunk)) return undefined
    total += chunk.length
  }
  // A layout read wrongly would show bytes that are not the body: only an exact count passes.
  return total === req.readableLength ? chunks : undefined
}
