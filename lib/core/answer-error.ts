/**
 * Answering an error a framework caught, through an error boundary. Express's error handlers
 * and Fastify's `setErrorHandler` hand over an error that happened outside the toolkit's
 * stack; `answerError(boundary)` runs the boundary (an `errorBoundary()`) over an inner
 * handler that throws that error, so it is answered exactly as an error of the boundary's own
 * stack: the same status, JSON shape, report and refusal path. The adapters only translate
 * their framework's call into `(req, res, err)`.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware, RawHandler } from './types.js'
import { reportError } from './report.js'
import { isThenable } from './thenable.js'

/** Answers `err` on `res` through the boundary; never throws, and reports what the boundary fails with. */
export type ErrorAnswer = (req: IncomingMessage, res: ServerResponse, err: unknown) => void

const CAUGHT = Symbol('http-onion.caughtError')
type CaughtSlot = { [CAUGHT]?: unknown }

// The inner handler of the boundary: throws what the framework handed over, once.
const rethrowCaught: RawHandler = function rethrowCaught(req) {
  const slot = req as unknown as CaughtSlot
  const err = slot[CAUGHT]
  slot[CAUGHT] = undefined
  throw err
}

/**
 * Build the answer of `boundary` for errors caught elsewhere. `caller` names the adapter
 * function in the messages: the TypeError for a boundary that is not a middleware, and the
 * report of a boundary that rejects. A falsy error (`throw undefined`) becomes an Error with
 * the message `falsy`, so the report says where it came from.
 * @example
 * const answer = answerError(errorBoundary(), 'toMyFrameworkErrorHandler()')
 * framework.onError((err, ctx) => answer(ctx.req, ctx.res, err))
 */
export function answerError(
  boundary: Middleware,
  caller: string,
  falsy = `${caller} received a falsy error`,
): ErrorAnswer {
  if (typeof boundary !== 'function') {
    throw new TypeError(`${caller}: expected a middleware such as errorBoundary(); received ${typeof boundary}.`)
  }
  const answer = boundary(rethrowCaught)
  return function answerCaughtError(req, res, err) {
    ;(req as unknown as CaughtSlot)[CAUGHT] = err ?? new Error(falsy)
    const result = answer(req, res)
    // The boundary answers or cuts the connection; what it rejects with has nowhere to go.
    if (isThenable(result)) result.then(undefined, (failure: unknown) => reportError(caller, failure, req))
  }
}
