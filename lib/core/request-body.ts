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
 * before it: listeners learn how many through `req.readableLength` and decide.
 * @module
 */
import type { IncomingMessage } from 'node:http'

/**
 * Called with each body chunk before the request stream gets it. Return `false` to refuse
 * the chunk: it is dropped, later listeners do not see it, and the socket stops being read
 * (the listener then usually destroys the request, or answers and closes). It must not throw.
 */
export type RequestBodyListener<C> = (chunk: Buffer, req: IncomingMessage, context: C) => boolean | void

type Push = (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) => boolean

interface BodyRecord {
  readonly push: Push
  /** Listener, context, listener, context…: one flat array, no pair objects. */
  readonly listeners: unknown[]
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
    record = slot[BODY] = { push: req.push as Push, listeners: [] }
    req.push = pushThroughListeners as IncomingMessage['push']
  }
  record.listeners.push(listener, context)
}

function pushThroughListeners(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
  const record = (this as unknown as BodySlot)[BODY]!
  // null ends the stream; the parser only ever pushes Buffers otherwise.
  if (chunk !== null && Buffer.isBuffer(chunk)) {
    const listeners = record.listeners
    for (let i = 0; i < listeners.length; i += 2) {
      if ((listeners[i] as RequestBodyListener<unknown>)(chunk, this, listeners[i + 1]) === false) return false
    }
  }
  return record.push.call(this, chunk, encoding)
}
