/**
 * A request id decided before the stack runs. A framework that names each request before
 * any middleware sees it (Fastify's `genReqId`, which its logger puts on every line) can ask
 * the `requestId()` layer for the id instead of minting its own: the layer carries a source,
 * which decides the id as the layer would and records it, so the layer keeps it when it runs.
 * One id then serves the framework's logs, the access log and the `x-request-id` header.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Middleware } from './types.js'

/** Decides `req`'s id as the layer would (trust, validation, minting), records it and returns it. */
export type RequestIdSource = (req: IncomingMessage) => string

const SOURCE = Symbol('http-onion.requestIdSource')
type Sourced = { [SOURCE]?: RequestIdSource }

/** Attach `source` to `layer` (the `requestId()` middleware); returns `layer`. */
export function attachRequestIdSource<M extends Middleware>(layer: M, source: RequestIdSource): M {
  ;(layer as Sourced)[SOURCE] = source
  return layer
}

/** The source attached to `layer` by {@link attachRequestIdSource}, if any. */
export function requestIdSourceOf(layer: Middleware): RequestIdSource | undefined {
  return typeof layer === 'function' ? (layer as Sourced)[SOURCE] : undefined
}
