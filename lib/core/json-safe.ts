/**
 * A string a layer has checked needs no JSON escaping, remembered so that a log line written
 * for the same request moments later can quote it without scanning it again.
 *
 * Only the last one is kept: a layer vouches for a value on the request path (requestId, for
 * the id it validated or minted), and the access-log line of that request is usually written
 * before another request is decided. A miss costs the scan it would have cost anyway, and a
 * hit is never wrong: equal strings are equally safe, whoever vouched for them.
 * @module
 */

let vouched: string | undefined

/** Note that `value` holds only characters JSON writes as they are (no quote, backslash or control). */
export function vouchJsonSafe(value: string): void {
  vouched = value
}

/** Whether `value` is the string last vouched for with {@link vouchJsonSafe}. */
export function isVouchedJsonSafe(value: string): boolean {
  return value === vouched
}
