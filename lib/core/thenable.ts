/**
 * Handlers may answer synchronously or return a promise (or any thenable). Layers that only
 * need to act on a failure test the result instead of awaiting it, so a synchronous answer
 * costs no promise and no microtask.
 * @module
 */

/** Whether `value` is a promise or another thenable. */
export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
