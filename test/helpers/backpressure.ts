/**
 * The handler side of the "streamed body with backpressure" case every middleware test covers
 * (STYLE.md §7): write until `write()` returns false, then wait for `'drain'`, as a well-behaved
 * handler streams a body.
 */

/** What the helper writes into: a ServerResponse, or any Writable-like object. */
interface Sink {
  write(chunk: string | Uint8Array): boolean
  once(event: 'drain', listener: () => void): unknown
}

/** Called at the moments a backpressure test observes. */
export interface BackpressureHooks {
  /** A write returned false. */
  onFull?: () => void
  /** Inside the `'drain'` listener, before writing on (sees the context the event runs in). */
  onDrain?: () => void
}

/**
 * Write `chunks` to `res` in order, waiting for `'drain'` after each write that returns false
 * (the next writes run inside the drain listener, as a callback-style handler's do). Resolves
 * with how many writes returned false, once the last chunk is handed over; ending the response
 * is the caller's. If the response is destroyed while full, it never resolves, like a handler
 * waiting for a drain that does not come.
 */
export function writeWithBackpressure(
  res: Sink,
  chunks: Iterable<string | Uint8Array>,
  hooks: BackpressureHooks = {},
): Promise<number> {
  const iterator = chunks[Symbol.iterator]()
  let full = 0
  return new Promise((done) => {
    const pump = (): void => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        if (!res.write(next.value)) {
          full++
          hooks.onFull?.()
          res.once('drain', () => {
            hooks.onDrain?.()
            pump()
          })
          return
        }
      }
      done(full)
    }
    pump()
  })
}

/** `chunk`, `count` times: the usual body of a backpressure test. */
export const repeated = <C extends string | Uint8Array>(chunk: C, count: number): C[] =>
  Array.from({ length: count }, () => chunk)
