/**
 * Fastify (5), without @fastify/middie. Translation only: the middleware runs in an
 * `onRequest` hook over `request.raw`/`reply.raw`; its downstream is the rest of Fastify's
 * lifecycle; a response it sends itself hijacks the reply so Fastify does not answer
 * again; what it throws or rejects with goes to Fastify's error handler. Headers and
 * transforms it installs on `reply.raw` apply to whatever Fastify sends, `reply.send`
 * payloads and streams alike. Fastify routes before `onRequest`, so the hook records the
 * matched template (`request.routeOptions.url`) with `setRoute` for layers that label by route.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Middleware, RawHandler } from '../lib/core/types.js'
import { answerError } from '../lib/core/answer-error.js'
import { middlewareInfo } from '../lib/core/define.js'
import { reportError } from '../lib/core/report.js'
import { requestIdSourceOf } from '../lib/core/request-id-source.js'
import { setRoute } from '../lib/core/route.js'
import { isThenable } from '../lib/core/thenable.js'

/** The parts of Fastify's request and reply the adapter uses. */
export interface FastifyRequestLike {
  readonly raw: IncomingMessage
  /** The matched route's options; `url` is its template (`/users/:id`), absent for a 404. */
  readonly routeOptions?: { readonly url?: string | undefined }
}
export interface FastifyReplyLike {
  readonly raw: ServerResponse
  hijack(): unknown
}
export type FastifyDone = (err?: Error) => void

/** A Fastify `onRequest` hook in callback style. */
export type FastifyHook = (request: FastifyRequestLike, reply: FastifyReplyLike, done: FastifyDone) => void

/** A Fastify plugin registering the hook on the instance it is registered on (not encapsulated). */
export type FastifyPlugin = ((
  instance: { addHook(name: 'onRequest', hook: FastifyHook): unknown },
  options: unknown,
  done: (err?: Error) => void,
) => void) & {
  readonly hook: FastifyHook
}

const DONE = Symbol('http-onion.fastifyDone')
// One per hook run, not the `done` itself: Fastify hands every hook of a request the same
// `next` function, and runs the next hook at once when a layer passes synchronously, so only
// an object of this run tells whether the lifecycle went on past it.
type Pending = { readonly done: FastifyDone }
type DoneSlot = { [DONE]?: Pending | null }

const continueFastify: RawHandler = function continueFastify(req) {
  const slot = req as unknown as DoneSlot
  const pending = slot[DONE]
  slot[DONE] = null
  pending?.done()
}

/**
 * The middleware as a Fastify `onRequest` hook: `fastify.addHook('onRequest', toFastifyHook(mw))`.
 */
export function toFastifyHook(middleware: Middleware): FastifyHook {
  const handler = middleware(continueFastify)
  const name = middlewareInfo(middleware).name
  return function fastifyAdapter(request, reply, done) {
    const slot = request.raw as unknown as DoneSlot
    const run: Pending = { done }
    slot[DONE] = run
    const template = request.routeOptions?.url
    if (typeof template === 'string') setRoute(request.raw, template)
    const settle = (err: unknown) => {
      // Not this run any more: the layer passed (null), and the next hook may have started.
      if (slot[DONE] !== run) {
        if (err !== undefined) reportError(`toFastify(${name}) after the lifecycle went on`, err)
        return
      }
      slot[DONE] = null
      if (err !== undefined) done(err instanceof Error ? err : new Error(String(err)))
      else {
        // Answered by itself: Fastify must not send a reply of its own.
        reply.hijack()
      }
    }
    try {
      const result = handler(request.raw, reply.raw)
      if (isThenable(result)) {
        result.then(
          () => settle(undefined),
          (err: unknown) => settle(err ?? new Error(`${name} rejected without a reason`)),
        )
      } else {
        settle(undefined)
      }
    } catch (err) {
      settle(err)
    }
  }
}

/**
 * The middleware as a Fastify plugin that applies to the instance it is registered on and
 * its children (it skips Fastify's encapsulation, as fastify-plugin does).
 * @example
 * await fastify.register(toFastify(securityHeaders()))
 */
export function toFastify(middleware: Middleware): FastifyPlugin {
  const hook = toFastifyHook(middleware)
  const plugin = function httpOnionPlugin(
    instance: { addHook(name: 'onRequest', hook: FastifyHook): unknown },
    _options: unknown,
    done: (err?: Error) => void,
  ) {
    instance.addHook('onRequest', hook)
    done()
  } as FastifyPlugin
  Object.defineProperty(plugin, 'hook', { value: hook })
  // Fastify's own marker (what fastify-plugin sets): register on the parent scope.
  Object.defineProperty(plugin, Symbol.for('skip-override'), { value: true })
  Object.defineProperty(plugin, Symbol.for('fastify.display-name'), {
    value: `http-onion:${middlewareInfo(middleware).name}`,
  })
  return plugin
}

/** Fastify's `genReqId` option: names a request from the raw request, before any hook runs. */
export type FastifyGenReqId = (req: IncomingMessage) => string

/**
 * Fastify's `genReqId` from a `requestId()` layer, so one id serves Fastify's log lines
 * (`reqId`, `request.id`, `request.log`), the toolkit's access log and error bodies, and the
 * `x-request-id` header. The id is decided exactly as the layer decides it (its trust rule,
 * incoming headers, validation and generator) and recorded on the request; the same layer,
 * mounted with `toFastify`, keeps it. Leave Fastify's `requestIdHeader` unset (its default),
 * or Fastify takes a client's header without the layer's trust rule and never asks.
 * @example
 * const ids = requestId()
 * const fastify = Fastify({ logger: true, genReqId: fastifyRequestId(ids) })
 * await fastify.register(toFastify(compose(ids, accessLog())))
 */
export function fastifyRequestId(layer: Middleware): FastifyGenReqId {
  const source = requestIdSourceOf(layer)
  if (source === undefined) {
    throw new TypeError(
      `fastifyRequestId(): expected the requestId() layer the stack mounts; received ${
        typeof layer === 'function' ? `the layer ${middlewareInfo(layer).name}` : typeof layer
      }. Create it once (const ids = requestId()) and pass it both here and to compose().`,
    )
  }
  return source
}

/** A Fastify error handler, as `fastify.setErrorHandler` takes it. */
export type FastifyErrorHandler = (err: unknown, request: FastifyRequestLike, reply: FastifyReplyLike) => unknown

/**
 * Answer what reaches Fastify's error handler (a route that throws, a body Fastify's parser
 * refuses, a hook's error) through `boundary`, an `errorBoundary()`: the toolkit's JSON shape
 * and status, the boundary's report, and no 500 message shown to the client (Fastify's
 * default handler sends the error's message). Set it before declaring routes: a route keeps
 * the error handler in place when it was added.
 * @example
 * fastify.setErrorHandler(toFastifyErrorHandler(errorBoundary()))
 */
export function toFastifyErrorHandler(boundary: Middleware): FastifyErrorHandler {
  const answer = answerError(boundary, 'toFastifyErrorHandler()', 'Fastify reported a falsy error')
  return function fastifyErrorHandler(err, request, reply) {
    reply.hijack()
    answer(request.raw, reply.raw, err)
  }
}
