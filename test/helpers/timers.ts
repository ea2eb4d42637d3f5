/**
 * Timers a test fires by hand, for the layers that take a `timers` option (timeout(),
 * rateLimit's slowDown): no waiting for time to pass.
 */

/** The `timers` shape those layers take: Node's `setTimeout(callback, ms, arg)` signature. */
export interface FakeTimers {
  setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown
  clearTimeout(handle: unknown): void
}

/** Timers that only run when `fire()` is called; `pending` holds those set and not cleared. */
export function fakeTimers() {
  const pending = new Map<number, { callback: (arg: never) => void; ms: number; arg: never }>()
  let id = 0
  const timers: FakeTimers = {
    setTimeout: (callback, ms, arg) => {
      pending.set(++id, { callback, ms, arg })
      return id
    },
    clearTimeout: (handle) => {
      pending.delete(handle as number)
    },
  }
  /** Fire every pending timer (and only those), returning their durations. */
  const fire = (): number[] => {
    const due = [...pending.entries()]
    pending.clear()
    for (const [, timer] of due) timer.callback(timer.arg)
    return due.map(([, timer]) => timer.ms)
  }
  return { timers, pending, fire }
}

/** Fire the pending timers of `fakes` set for exactly `ms` (and only those); returns how many fired. */
export function fireAfter(fakes: ReturnType<typeof fakeTimers>, ms: number): number {
  const due = [...fakes.pending.entries()].filter(([, timer]) => timer.ms === ms)
  for (const [id] of due) fakes.pending.delete(id)
  for (const [, timer] of due) timer.callback(timer.arg)
  return due.length
}
