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

/** Per-request record; a class, not a literal (see listener-node.ts). */
class BodyRecord {
  /** In registration order: first and last, to append in O(1). */
  first: ListenerNode<RequestBodyListener<unknown>> | undefined = undefined
  last: ListenerNode<RequestBodyListener<unknown>> | undefined = undefined

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
  const slot = req as unknown as BodySlot
  let record = slot[BODY]
  if (record === undefined) {
    record = slot[BODY] = new BodyRecord(req.push as Push)
    req.push = pushThroughListeners as IncomingMessage['push']
  }
  const node = new ListenerNode(listener as RequestBodyListener<unknown>, context, undefined)
  if (record.last === undefined) record.first = node
  else record.last.next = node
  record.last = node
}

function pushThroughListeners(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
  const record = (this as unknown as BodySlot)[BODY]!
  // null ends the stream; the parser only ever pushes Buffers otherwise.
  if (chunk !== null && Buffer.isBuffer(chunk)) {
    for (let node = record.first; node !== undefined; node = node.next) {
      if (node.listener(chunk, this, node.context) === false) return false
    }
  }
  return record.push.call(this, chunk, encoding)
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
