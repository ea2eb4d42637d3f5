/** Waiting in tests without fixed sleeps deciding the outcome: on a loaded machine, events come late. */
import type { Test } from 'tap'

export const tick = (ms = 10): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

/** Wait (a bounded while, ~2 s at the least) until `condition` holds; the test's own assertion then says whether it did. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await tick(2)
}

/**
 * The process warnings emitted while `t` runs. They are the test's to assert on, so Node's own
 * writer (the default 'warning' listener, which prints them to stderr) is detached meanwhile:
 * expected warnings do not end up in the test run's output. Restored when `t` ends.
 */
export function captureWarnings(t: Test): Error[] {
  const seen: Error[] = []
  const listener = (w: Error) => seen.push(w)
  const writers = process.listeners('warning')
  for (const writer of writers) process.off('warning', writer)
  process.on('warning', listener)
  t.teardown(() => {
    process.off('warning', listener)
    for (const writer of writers) if (!process.listeners('warning').includes(writer)) process.on('warning', writer)
  })
  return seen
}
