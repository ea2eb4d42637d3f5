/**
 * Typed per-request state. Each piece of state is a key made once, at module load,
 * by `defineState`; middleware write through it and handlers read through it, with
 * the value's type carried by the key, so no reader needs a cast.
 *
 * Values live on the request object under a private symbol: no map lookup, no
 * allocation per request beyond the value itself, and they die with the request.
 * @module
 */
import type { IncomingMessage } from 'node:http'

/** Read and write access to one piece of request state. */
export interface StateKey<T> {
  /** The name used in error messages. */
  readonly name: string
  /** The value on `req`; throws, naming the middleware to mount, when there is none. */
  get(req: IncomingMessage): T
  /** The value on `req`, or `undefined`. */
  tryGet(req: IncomingMessage): T | undefined
  /** Store `value` on `req`. */
  set(req: IncomingMessage, value: T): void
  /** Whether a value was stored on `req`. */
  has(req: IncomingMessage): boolean
}

type Slots = Record<symbol, unknown>

/**
 * Make a state key. `mountHint` completes the error thrown by `get` when nothing set the
 * value: `getRequestId(): no requestId on this request; mount requestId() before this handler.`
 * @example
 * const tenant = defineState<string>('tenant', 'tenantResolver()')
 * tenant.set(req, 'acme'); tenant.get(req) // 'acme', typed string
 */
export function defineState<T>(name: string, mountHint = `the middleware that sets ${name}`): StateKey<T> {
  const slot = Symbol(`http-onion.${name}`)
  const getterName = `get${name[0]!.toUpperCase()}${name.slice(1)}`
  return Object.freeze({
    name,
    get(req: IncomingMessage): T {
      const value = (req as unknown as Slots)[slot]
      if (value === undefined) {
        throw new Error(`${getterName}(): no ${name} on this request; mount ${mountHint} before this handler.`)
      }
      return value as T
    },
    tryGet: (req: IncomingMessage): T | undefined => (req as unknown as Slots)[slot] as T | undefined,
    set(req: IncomingMessage, value: T): void {
      ;(req as unknown as Slots)[slot] = value
    },
    has: (req: IncomingMessage): boolean => (req as unknown as Slots)[slot] !== undefined,
  })
}
