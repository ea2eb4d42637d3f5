/** Waiting in tests without fixed sleeps deciding the outcome: on a loaded machine, events come late. */
import type { Test } from 'tap'

export const tick = (ms = 10): Promise<void> => new Promise((ok) => setTimeout(ok, ms))

/** Wait (a bounded while, ~2 s at the least) until `condition` holds; the test's own assertion then says whether it did. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await tick(2)
}

/**
 * Detaches Node's own warning writer (the default 'warning' listener, which prints to stderr)
 * while `t` runs, for a test that listens for the warnings it expects itself: they are the
 * test's to assert on, and do not end up in the test run's output. Restored when `t` ends.
 */
export function silenceWarningOutput(t: Test): void {
  const writers = process.listeners('warning')
  for (const writer of writers) process.off('warning', writer)
  t.teardown(() => {
    for (const writer of writers) if (!process.listeners('warning').includes(writer)) process.on('warning', writer)
  })
}

/** The process warnings emitted while `t` runs, kept out of the output (see {@link silenceWarningOutput}). */
export function captureWarnings(t: Test): Error[] {
  const seen: Error[] = []
  const listener = (w: Error) => seen.push(w)
  silenceWarningOutput(t)
  process.on('warning', listener)
  t.teardown(() => process.off('warning', listener))
  return seen
}
