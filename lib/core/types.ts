/**
 * The two types everything in http-onion is made of.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * A request handler over Node's own objects. A returned promise is awaited by the
 * layer outside it, so `async` handlers and handlers returning `undefined` both fit.
 */
export type RawHandler = (req: IncomingMessage, res: ServerResponse) => unknown

/**
 * A layer of the onion: given the handler inside it, returns the handler that runs
 * in its place. Any plain `(next) => (req, res) => ...` function is a Middleware.
 */
export type Middleware = (next: RawHandler) => RawHandler
