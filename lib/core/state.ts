/**
 * Typed per-request state. Each piece of state is a key made once, at module load,
 * by `defineState`; middleware write through it and handlers read through it, with
 * the value's type carried by the key, so no reader needs a cast.
 *
 * A request's values live in one record on the request object, under one private symbol,
 * each at its key's index: no map lookup, no allocation per request beyond the record and
 * the values, and they die with the request.
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

// Why one record by index, not a symbol per key: every key's accessors are closures of the
// one function below, and V8 gives closures of one function one set of inline caches. With a
// symbol per key, the load in `tryGet` saw every key on every request shape and went
// megamorphic: a generic lookup through the request's ~50 properties and, for a key not set
// (most of them, on most requests), its whole prototype chain. One symbol and an index keep
// both accesses monomorphic. Measured on the production stack's 1 KB route (perf, 100,000
// requests): megamorphic keyed loads 565 → 412 samples, stores 253 → 195; with the fill
// below (and securityHeaders' probes gone, core/headers.ts), loads 300.
//
// An Array subclass, sized for every key made so far: a plain object would grow its element
// store on the first write of each request (a runtime call, 85 ns against 21 in a loop), and
// `new Array(n)` has an allocation site that V8 may pretenure, which a per-request record must
// not have (see "Per-request records are classes" in performance.md); a subclass has none.
//
// Filled with undefined, not left with holes: V8 reads a hole as undefined without looking
// further only for arrays whose prototype is Array.prototype itself. Reading a key not set
// (most keys, on most requests) then sent the load back to V8's runtime once, which made it
// megamorphic for good (`--log-ic`: "same map added twice"). The loop costs less than that.
class StateRecord extends Array<unknown> {
  constructor(length: number) {
    super(length)
    for (let i = 0; i < length; i++) this[i] = undefined
  }
}

const RECORD = Symbol('http-onion.state')
type Slots = Record<symbol, StateRecord | undefined>

/** Keys made so far: the next key's index. */
let keys = 0

/**
 * Make a state key. `mountHint` completes the error thrown by `get` when nothing set the
 * value: `getRequestId(): no requestId on this request; mount requestId() before this handler.`
 * @example
 * const tenant = defineState<string>('tenant', 'tenantResolver()')
 * tenant.set(req, 'acme'); tenant.get(req) // 'acme', typed string
 */
export function defineState<T>(name: string, mountHint = `the middleware that sets ${name}`): StateKey<T> {
  const index = keys++
  const getterName = `get${name[0]!.toUpperCase()}${name.slice(1)}`
  const tryGet = (req: IncomingMessage): T | undefined => (req as unknown as Slots)[RECORD]?.[index] as T | undefined
  return Object.freeze({
    name,
    get(req: IncomingMessage): T {
      const value = tryGet(req)
      if (value === undefined) {
        throw new Error(`${getterName}(): no ${name} on this request; mount ${mountHint} before this handler.`)
      }
      return value
    },
    tryGet,
    set(req: IncomingMessage, value: T): void {
      const slots = req as unknown as Slots
      let record = slots[RECORD]
      if (record === undefined) {
        record = new StateRecord(keys)
        slots[RECORD] = record
      }
      record[index] = value
    },
    has: (req: IncomingMessage): boolean => tryGet(req) !== undefined,
  })
}
