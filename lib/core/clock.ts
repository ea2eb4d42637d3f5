/**
 * Monotonic time for durations, and the moment a request arrived. Wall-clock time
 * (`Date.now()`) jumps with NTP and must never measure a duration.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { performance } from 'node:perf_hooks'

/** Milliseconds from an arbitrary origin, never going backwards. */
export const monotonicNow = (): number => performance.now()

const ARRIVAL = Symbol('http-onion.arrival')
type ArrivalSlot = { [ARRIVAL]?: number }

/**
 * When `req` arrived, on the monotonic clock: the moment the first layer that cares
 * (timing, accessLog, onResponseEnd) asked. Later askers get the same instant, so
 * every layer measures from one origin.
 */
export function arrivalTime(req: IncomingMessage): number {
  const slot = req as unknown as ArrivalSlot
  let arrival = slot[ARRIVAL]
  if (arrival === undefined) {
    arrival = performance.now()
    slot[ARRIVAL] = arrival
  }
  return arrival
}
