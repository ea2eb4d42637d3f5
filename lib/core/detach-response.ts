/**
 * `detachResponse`: cut a response loose from the code that was writing it. A layer that
 * answers on the handler's behalf (a timeout's 503, a body limit's 413, an error
 * boundary's 500) leaves a handler that may still be running: a slow query that returns
 * after the deadline, a stream still piping. Its later calls must go nowhere and raise
 * nothing: in Node a `write()` after `end()` emits `'error'` on the response, which
 * crashes the process when nobody listens, and `setHeader()` after the headers throws.
 *
 * After `detachResponse(res)` the writing methods of `res` (`write`, `end`, `writeHead`,
 * `setHeader`, `appendHeader`, `setHeaders`, `removeHeader`, `flushHeaders`, `addTrailers`,
 * `writeContinue`, `writeProcessing`, `writeEarlyHints`, `flush`) are replaced on the instance
 * by ones that do nothing; callbacks passed to `write`/`end` still run, on the next tick,
 * without an error, so code waiting on them moves on. `statusCode` and `statusMessage` keep
 * the values of the answer that was sent, so a response-end listener (an access log) reports
 * the status the client got. Reading methods (`getHeader`, `headersSent`, `writableEnded`)
 * keep working, and `destroy()` is left alone.
 *
 * The answer itself is unaffected: Node finishes it through its internal functions, and
 * `transformBody` through the methods it captured, never through the instance properties
 * replaced here. Call it right after the answer was handed to `res` (`sendError` returned).
 * @module
 */
import type { ServerResponse } from 'node:http'

const DETACHED = Symbol('http-onion.detached')
type DetachedSlot = { [DETACHED]?: { statusCode: number; statusMessage: string } }

/** Replaced methods, all shared: no closure per response. */
const swallowing: Record<string, (this: ServerResponse, ...args: unknown[]) => unknown> = {
  write: swallowWrite,
  end: swallowEnd,
  writeHead: returnThis,
  setHeader: returnThis,
  appendHeader: returnThis,
  setHeaders: returnThis,
  removeHeader: nothing,
  flushHeaders: nothing,
  addTrailers: nothing,
  writeContinue: nothing,
  writeProcessing: nothing,
  writeEarlyHints: nothing,
  flush: nothing,
}
const methodNames = Object.keys(swallowing)

/**
 * Make every later write to `res` a silent no-op; see the module comment. Idempotent.
 * @example
 * if (sendError(req, res, new HttpError(503))) detachResponse(res) // the handler's late writes go nowhere
 */
export function detachResponse(res: ServerResponse): void {
  const slot = res as unknown as DetachedSlot
  if (slot[DETACHED]) return
  slot[DETACHED] = { statusCode: res.statusCode, statusMessage: res.statusMessage }
  const target = res as unknown as Record<string, unknown>
  for (const name of methodNames) target[name] = swallowing[name]
  Object.defineProperty(res, 'statusCode', {
    get: frozenStatusCode,
    set: nothing,
    configurable: true,
    enumerable: true,
  })
  Object.defineProperty(res, 'statusMessage', {
    get: frozenStatusMessage,
    set: nothing,
    configurable: true,
    enumerable: true,
  })
}

/** Whether `detachResponse(res)` was called: some layer already answered for the handler. */
export function isDetached(res: ServerResponse): boolean {
  return (res as unknown as DetachedSlot)[DETACHED] !== undefined
}

function swallowWrite(this: ServerResponse, ...args: unknown[]): boolean {
  const callback = args[args.length - 1]
  if (typeof callback === 'function') process.nextTick(callback as () => void)
  // true: a writer that waited for 'drain' after false would wait forever.
  return true
}

function swallowEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
  const callback = args[args.length - 1]
  if (typeof callback === 'function') process.nextTick(callback as () => void)
  return this
}

function returnThis(this: ServerResponse): ServerResponse {
  return this
}

function nothing(): void {}

function frozenStatusCode(this: ServerResponse): number {
  return (this as unknown as DetachedSlot)[DETACHED]!.statusCode
}

function frozenStatusMessage(this: ServerResponse): string {
  return (this as unknown as DetachedSlot)[DETACHED]!.statusMessage
}
