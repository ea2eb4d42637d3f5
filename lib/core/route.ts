/**
 * The route a request matched, as the router's template (`/users/:id`), never as the raw
 * path: a label per raw path is a label per user id, and a metrics registry or log index
 * keyed by it grows without bound.
 *
 * Two ways in, both read when the exchange ends (when every router has matched):
 * - `setRoute(req, template)`: a router, a handler or an adapter says it outright (the
 *   Fastify adapter does, from `request.routeOptions.url`);
 * - `setRouteReader(req, reader)`: an adapter leaves a function that asks the framework
 *   later (Express's `req.route`, Koa router's `ctx._matchedRoute`), because the framework
 *   matches after the adapted layer has run.
 *
 * A template is relative to the `mount()` the request went through, as the router under it
 * saw the path; readers prefix the mount path themselves (metrics does).
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { defineState } from './state.js'

/** Asks a framework for the template `req` matched; `undefined` when it matched none. */
export type RouteReader = (req: IncomingMessage) => string | undefined

const routeState = defineState<string>('route', 'a router that calls setRoute()')
const routeReaderState = defineState<RouteReader>('routeReader', 'an adapter (toExpress, toKoa)')

/**
 * Record the template `req` matched (`'/users/:id'`). Call it from a router or handler with
 * the template as written in code, never with `req.url`. The last call wins.
 * @example
 * router.get('/users/:id', (req, res) => { setRoute(req, '/users/:id'); ... })
 */
export function setRoute(req: IncomingMessage, template: string): void {
  routeState.set(req, template)
}

/** Leave `reader` to be asked for the template when the exchange ends (adapters use it). */
export function setRouteReader(req: IncomingMessage, reader: RouteReader): void {
  routeReaderState.set(req, reader)
}

/**
 * The template `req` matched: what `setRoute` recorded, else what the adapter's reader
 * answers now, else `undefined` (no router matched, or none said so).
 */
export function routeTemplate(req: IncomingMessage): string | undefined {
  const template = routeState.tryGet(req)
  if (template !== undefined) return template
  const reader = routeReaderState.tryGet(req)
  return reader === undefined ? undefined : reader(req)
}
