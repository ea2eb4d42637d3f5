/**
 * Koa (2 and 3). Translation only: the middleware runs over `ctx.req`/`ctx.res`, its
 * downstream is the rest of the Koa chain, its response-start listeners fire when Koa
 * writes the response, and a response it sends itself sets `ctx.respond = false` so Koa
 * does not write a second one. Rejections reach Koa's error handling unchanged. Layers that
 * label by route (metrics) get @koa/router's template (`ctx._matchedRoute`) through `koaRoute`.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setRouteReader } from '../lib/core/route.js'
import type { Middleware, RawHandler } from '../lib/core/types.js'

/** The part of Koa's context the adapter uses. */
export interface KoaContextLike {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  respond?: boolean
  /** The template @koa/router matched (its `ctx._matchedRoute`), once it has routed. */
  readonly _matchedRoute?: unknown
}

/** A Koa middleware. */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<unknown>

const NEXT = Symbol('http-onion.koaNext')
type NextSlot = { [NEXT]?: (() => Promise<unknown>) | null }
const CONTEXT = Symbol('http-onion.koaContext')
type ContextSlot = { [CONTEXT]?: KoaContextLike }

// The downstream: the rest of the Koa chain, entered at most once.
const continueKoaChain: RawHandler = function continueKoaChain(req) {
  const slot = req as unknown as NextSlot
  const next = slot[NEXT]
  slot[NEXT] = null
  return next?.()
}

/**
 * Mount an http-onion middleware in Koa.
 * @example
 * app.use(toKoa(requestId()))
 */
export function toKoa(middleware: Middleware): KoaMiddleware {
  const handler = middleware(continueKoaChain)
  return async function koaAdapter(ctx, next) {
    const slot = ctx.req as unknown as NextSlot
    slot[NEXT] = next
    ;(ctx.req as unknown as ContextSlot)[CONTEXT] = ctx
    setRouteReader(ctx.req, koaRoute)
    try {
      await handler(ctx.req, ctx.res)
    } finally {
      // next was never taken: the middleware answered (or is answering) by itself.
      if (slot[NEXT] !== null) {
        slot[NEXT] = null
        ctx.respond = false
      }
    }
  }
}

/**
 * The template @koa/router matched for `req` (`ctx._matchedRoute`, with any router prefix),
 * read when asked, after the router ran; `undefined` when no router route matched.
 */
export function koaRoute(req: IncomingMessage): string | undefined {
  const matched = (req as unknown as ContextSlot)[CONTEXT]?._matchedRoute
  return typeof matched === 'string' ? matched : undefined
}
