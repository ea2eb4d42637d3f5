/**
 * Request context: run the rest of the chain inside the core's AsyncLocalStorage context, so
 * `currentRequest()` answers from anywhere in the request's async call chain: after `await`,
 * in timers, `setImmediate`, `process.nextTick`, and in listeners of the request's and the
 * response's own events ('data', 'end', 'drain', 'finish', 'close').
 *
 * Those events are the gap AsyncLocalStorage leaves: Node's HTTP parser and socket emit them
 * from the connection's context, where no request is current. This layer closes it by
 * emitting them through an AsyncResource made in the request's context.
 * @module
 */
import { AsyncResource } from 'node:async_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { currentContext, runInContext } from '../../core/context.js'
import { defineMiddleware } from '../../core/define.js'
import { defineDefaults, withDefaults } from '../../core/options.js'
import type { Middleware } from '../../core/types.js'

/** Options for {@link requestContext}. None yet; the object is accepted for symmetry. */
// biome-ignore lint/suspicious/noEmptyInterface: the same (options) shape as every factory, so options can come without breaking callers
export interface RequestContextOptions {}

/** Defaults of {@link requestContext}. */
export const requestContextDefaults = defineDefaults<RequestContextOptions>({})

// On the request and the response: the resource holding the request's context, and the
// `emit` that was in place before ours. Two slots rather than one object: no allocation.
const RESOURCE = Symbol('http-onion.requestResource')
const EMIT = Symbol('http-onion.emitBeforeContext')
type Emit = (event: string | symbol, ...args: unknown[]) => boolean
interface Scoped {
  [RESOURCE]?: AsyncResource
  [EMIT]?: Emit
  emit: Emit
}

/**
 * Make `currentRequest()` and `currentContext()` work for the layers and handler inside this
 * one. Opt-in because AsyncLocalStorage costs something on every promise and callback of
 * the process while it is active (see docs/middleware/request-context.md for the figures).
 *
 * Events of emitters the request did not create (a shared database pool, a global bus) run
 * in whatever context emitted them; bind such listeners with `AsyncResource.bind`.
 * @example
 * const app = compose(requestId(), requestContext())(router)
 * // anywhere below, without passing req down:
 * logger.info({ requestId: getRequestId(currentRequest()) }, 'charging card')
 */
export function requestContext(options: RequestContextOptions = {}): Middleware {
  withDefaults('requestContext', requestContextDefaults, options)
  return defineMiddleware(
    { name: 'requestContext' },
    (next) =>
      function requestContextHandler(req, res) {
        // Already inside this request's context (a second requestContext()): nothing to add.
        if (currentContext()?.req === req) return next(req, res)
        return runInContext(req, res, () => {
          // Made here, the resource captures the new context, as does every async operation
          // the handler starts from this call.
          const resource = new AsyncResource('HttpOnionRequest')
          scopeEvents(req, resource)
          scopeEvents(res, resource)
          return next(req, res)
        })
      },
  )
}

/**
 * Emit every event of `emitter` inside the request's context. The instance's current `emit`
 * (another layer's wrapper, or the prototype's) is kept and called, so wrappers chain.
 */
function scopeEvents(emitter: IncomingMessage | ServerResponse, resource: AsyncResource): void {
  const scoped = emitter as unknown as Scoped
  scoped[RESOURCE] = resource
  scoped[EMIT] = scoped.emit
  scoped.emit = emitInRequestScope
}

function emitInRequestScope(this: Scoped, event: string | symbol, ...args: unknown[]): boolean {
  return this[RESOURCE]!.runInAsyncScope(this[EMIT]!, this, event, ...args)
}
