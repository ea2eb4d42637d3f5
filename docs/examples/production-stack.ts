/**
 * The production stack on embedded defaults (in-memory stores): what `npm start` serves
 * and what the benchmarks measure as "http-onion's production stack". Every middleware
 * joins this list when it lands, in the order docs/ordering.md explains.
 */
import { compose, type ComposedMiddleware } from '../../lib/index.js'

/** Options a deployment would set; the demo passes none. */
export interface ProductionStackOptions {
  /** Origins allowed to call the API from a browser. */
  readonly allowedOrigins?: readonly string[]
}

export function productionStack(_options: ProductionStackOptions = {}): ComposedMiddleware {
  return compose()
}
