/**
 * hooks: Flask's before/after/teardown request hooks, on the onion's primitives.
 *
 * - `before(req, res)` runs on the way in and may answer: if it sent or ended the response
 *   (or the client left while it awaited), the chain stops there.
 * - `after(req, res)` runs at response start (`onResponseStart`), while the status and
 *   headers can still change, for every answer: the handler's, an inner layer's refusal,
 *   an error boundary's 500 inside, and an answer `before` gave itself (as in Flask).
 *   Several run in reverse registration order: the innermost first, the outer last.
 * - `teardown(req, res, info, error)` runs once when the exchange is over (`onResponseEnd`),
 *   always: finished, aborted by the client, or failed. `error` is what the handler (or any
 *   layer inside) threw or rejected with, whichever layer answered it: an error boundary
 *   inside this layer swallows the error, so it records it on the request for us (Flask's
 *   `teardown_request(exc)`: roll back on error). Its errors (and rejections) are reported
 *   through `reportError`, never thrown into the request.
 *
 * Code after `await next()` would be none of these: it can run before the response is
 * sent or long after, and never runs for a client that left.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import { defineDefaults, withDefaults } from '../../core/options.js'
import { reportError } from '../../core/report.js'
import { handlerFailureState, recordHandlerFailure } from '../../core/shared-state.js'
import { onResponseEnd, type ResponseEndInfo } from '../../core/response-end.js'
import { onResponseStart } from '../../core/response-start.js'
import { isThenable } from '../../core/thenable.js'

/** Runs before the inner layers; answer on `res` to stop the chain. */
export type BeforeHook = (req: IncomingMessage, res: ServerResponse) => unknown
/** Runs at response start; may change `res.statusCode` and headers. */
export type AfterHook = (req: IncomingMessage, res: ServerResponse) => void
/**
 * Runs once when the exchange is over, with how it ended and the error the handler raised
 * (`undefined` when it did not fail; else the thrown value, or the error the response was
 * destroyed with).
 */
export type TeardownHook = (req: IncomingMessage, res: ServerResponse, info: ResponseEndInfo, error: unknown) => unknown

/** Options for {@link hooks}; each takes one function or a list, run in the order given (`after`: reversed). */
export interface HooksOptions {
  /** Before the inner layers, awaited in order; the first that answers stops the chain. @default [] */
  before?: BeforeHook | readonly BeforeHook[]
  /**
   * At response start, headers still changeable; the last given runs first, like after-hooks
   * of inner `hooks()` layers before outer ones. A throw stops the headers and reaches the
   * error boundary, as any response-start failure does.
   * @default []
   */
  after?: AfterHook | readonly AfterHook[]
  /**
   * Once at the end of the exchange, always, with the handler's error if it failed (whichever
   * layer answered it); errors reported, never thrown. Run in the order given.
   * @default []
   */
  teardown?: TeardownHook | readonly TeardownHook[]
}

export const hooksDefaults = defineDefaults<HooksOptions>({
  before: Object.freeze([]) as readonly BeforeHook[],
  after: Object.freeze([]) as readonly AfterHook[],
  teardown: Object.freeze([]) as readonly TeardownHook[],
})

/**
 * Run functions before the chain, at response start and at the end of every exchange.
 * @example
 * compose(hooks({ before: openDb, after: (req, res) => res.setHeader('x-db-queries', count(req)), teardown: closeDb }))(router)
 */
export function hooks(options: HooksOptions): Middleware {
  const opts = withDefaults('hooks', hooksDefaults, options)
  const before = functions<BeforeHook>('before', opts.before)
  const after = functions<AfterHook>('after', opts.after)
  const teardown = functions<TeardownHook>('teardown', opts.teardown)
  if (before.length + after.length + teardown.length === 0) {
    throw new ConfigError(
      'hooks',
      'before',
      'at least one hook among before, after and teardown',
      undefined,
      'Without hooks the layer does nothing: remove it.',
    )
  }
  // Response-start listeners run last registered first: registered in the order given,
  // the last hook given runs first, as Flask runs its after-request functions.
  const afterListeners = after.map((hook) => (res: ServerResponse) => hook(res.req, res))
  const detail = [
    before.length && `${before.length} before`,
    after.length && `${after.length} after`,
    teardown.length && `${teardown.length} teardown`,
  ]
    .filter(Boolean)
    .join(', ')

  return defineMiddleware({ name: 'hooks', detail }, (next) => {
    function hooksHandler(req: IncomingMessage, res: ServerResponse): unknown {
      // Registered first, so they also see an answer given by a before hook.
      for (const listener of afterListeners) onResponseStart(res, listener)
      if (teardown.length === 0) return before.length === 0 ? next(req, res) : runBefore(before, 0, req, res, next)
      onResponseEnd(res, runTeardown, teardown)
      // Note a failure on its way out, so teardown learns of it even when an error boundary
      // outside answers it (one inside records it itself).
      let result: unknown
      try {
        result = before.length === 0 ? next(req, res) : runBefore(before, 0, req, res, next)
      } catch (err) {
        recordHandlerFailure(req, err)
        throw err
      }
      if (isThenable(result)) return result.then(undefined, (err: unknown) => rethrowFailure(req, err))
      return result
    }
    return hooksHandler
  })
}

/** Run before hooks from `i`, synchronously while they return no promise. */
function runBefore(
  before: readonly BeforeHook[],
  i: number,
  req: IncomingMessage,
  res: ServerResponse,
  next: (req: IncomingMessage, res: ServerResponse) => unknown,
): unknown {
  for (; i < before.length; i++) {
    const result = before[i]!(req, res)
    if (isThenable(result)) {
      const from = i + 1
      return Promise.resolve(result).then(() => (answered(res) ? undefined : runBefore(before, from, req, res, next)))
    }
    if (answered(res)) return undefined
  }
  return next(req, res)
}

/** A before hook answered (or the client left while it ran): the chain stops. */
const answered = (res: ServerResponse): boolean => res.headersSent || res.writableEnded || res.destroyed

function rethrowFailure(req: IncomingMessage, err: unknown): never {
  recordHandlerFailure(req, err)
  throw err
}

function runTeardown(info: ResponseEndInfo, res: ServerResponse, teardown: readonly TeardownHook[] | undefined): void {
  const failure = handlerFailureState.tryGet(res.req)
  const error = failure === undefined ? info.error : failure.error
  for (const hook of teardown!) {
    try {
      const result = hook(res.req, res, info, error)
      if (isThenable(result))
        result.then(undefined, (err: unknown) => reportError('hooks(): teardown rejected', err, res.req))
    } catch (err) {
      reportError('hooks(): teardown threw', err, res.req)
    }
  }
}

function functions<F>(option: string, value: unknown): readonly F[] {
  const list = typeof value === 'function' ? [value] : value
  if (!Array.isArray(list)) throw new ConfigError('hooks', option, 'a function or an array of functions', value)
  list.forEach((item, i) => {
    if (typeof item !== 'function') throw new ConfigError('hooks', `${option}[${i}]`, 'a function', item)
  })
  return Object.freeze([...list]) as readonly F[]
}
