/** Waiting in tests without fixed sleeps deciding the outcome: on a loaded machine, events come late. */
import type { Test } from 'tap'

export const tick = (ms = 10): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

/** Wait (a bounded while, ~2 s at the least) until `condition` holds; the test's own assertion then says whether it did. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await tick(2)
}

/** The process warnings emitted while `t` runs. */
export function captureWarnings(t: Test): Error[] {
  const seen: Error[] = []
  const listener = (w: Error) => seen.push(w)
  process.on('warning', listener)
  t.teardown(() => {
    process.off('warning', listener)
  })
  return seen
}
