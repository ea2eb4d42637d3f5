/**
 * Request context on AsyncLocalStorage: code deep in a call chain (a database wrapper, a
 * logger) can read the request being served without it being passed down, the way
 * Python's contextvars serve ASGI apps. Opt-in through `requestContext()`, because
 * AsyncLocalStorage costs something on every async hop.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** What the context holds: the exchange being served. */
export interface RequestContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

// One store for the process: a context is only useful if every reader finds the same one.
const storage = new AsyncLocalStorage<RequestContext>()

/** Run `fn` with `req` and `res` as the current exchange, for it and everything it starts. */
export function runInContext<T>(req: IncomingMessage, res: ServerResponse, fn: () => T): T {
  return storage.run({ req, res }, fn)
}

/** The exchange being served where this is called, or undefined outside any. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore()
}

/** The request being served where this is called; throws, naming the fix, outside any. */
export function currentRequest(): IncomingMessage {
  const context = storage.getStore()
  if (context === undefined) {
    throw new Error(
      'currentRequest(): no request in this async context; mount requestContext() outside the code that calls it.',
    )
  }
  return context.req
}
