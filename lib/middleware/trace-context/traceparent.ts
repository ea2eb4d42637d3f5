/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) header grammar: parsing and
 * formatting `traceparent`, validating and bounding `tracestate`. Pure functions, no
 * request in sight, so they can be property-tested on their own.
 * @module
 */

/** A `traceparent` that passed validation. */
export interface Traceparent {
  /** Two lower-case hex digits, never `ff`. */
  readonly version: string
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string
  /** The caller's span: 16 lower-case hex digits, not all zero. */
  readonly parentId: string
  /** The trace-flags byte, 0–255. */
  readonly flags: number
  /** Bit 0 of `flags`: the caller may have recorded this trace. */
  readonly sampled: boolean
}

// §3.2.2: version "-" trace-id "-" parent-id "-" trace-flags, all lower-case hex (HEXDIGLC).
// A future version may append "-" and fields of its own after the version-00 prefix (§3.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/s
const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)

/**
 * Parse a `traceparent` value; undefined when it is not valid, in which case the receiver
 * starts a new trace (§3.2.2.3). Rejected: version `ff`; version `00` with anything beyond its
 * 55 characters; upper-case or non-hex digits; wrong field lengths or separators; an all-zero
 * trace id or parent id. A higher version is read by the version-00 layout when its prefix
 * fits it and what follows is the end or a `-` (§3.2.4).
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
 * // { version: '00', traceId: '4bf9…4736', parentId: '00f0…02b7', flags: 1, sampled: true }
 */
export function parseTraceparent(value: string | undefined): Traceparent | undefined {
  if (typeof value !== 'string' || value.length < 55) return undefined
  const match = TRACEPARENT.exec(value)
  if (match === null) return undefined
  const [, version, traceId, parentId, flagsHex, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return undefined
  const flags = parseInt(flagsHex, 16)
  return { version, traceId, parentId, flags, sampled: (flags & 1) === 1 }
}

/**
 * Format a version-00 `traceparent`. The arguments must be valid (lower-case hex of the
 * right lengths, not all zero); this is the writer of ids this library made or parsed.
 */
export function formatTraceparent(traceId: string, parentId: string, flags: number): string {
  return `00-${traceId}-${parentId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`
}

// §3.3.1.3: key = simple-key / multi-tenant-key; value = 0*255(chr) nblk-chr, where chr is
// printable ASCII but "," and "=", and nblk-chr is chr without the space.
const MEMBER = new RegExp(
  '^(?:[a-z][a-z0-9_\\-*/]{0,255}|[a-z0-9][a-z0-9_\\-*/]{0,240}@[a-z][a-z0-9_\\-*/]{0,13})' +
    '=[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,255}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]$',
)

const OWS = /^[ \t]+|[ \t]+$/g

/** Most list members a `tracestate` may have (§3.3.1.1). */
export const TRACESTATE_MAX_MEMBERS = 32
/** Length every implementation must propagate; longer values are trimmed to it (§3.3.1.5). */
export const TRACESTATE_MAX_LENGTH = 512
const LARGE_MEMBER = 128

/**
 * Validate a `tracestate` value (the joined lines of the header) and return it normalised
 * (members joined by `,`, empty members dropped), or undefined when it is empty or invalid:
 * more than 32 members, a malformed member or a repeated key discards the whole header,
 * since propagating part of a state the receiver could not read is worse than none.
 * Longer than `maxLength`, members over 128 characters go first, then members from the end,
 * as §3.3.1.5 recommends.
 */
export function parseTracestate(value: string | undefined, maxLength = TRACESTATE_MAX_LENGTH): string | undefined {
  if (typeof value !== 'string') return undefined
  const members: string[] = []
  const keys = new Set<string>()
  for (const raw of value.split(',')) {
    // OWS around members (§3.3.1.1), and empty members, are allowed.
    const member = raw.replace(OWS, '')
    if (member === '') continue
    if (members.length === TRACESTATE_MAX_MEMBERS || !MEMBER.test(member)) return undefined
    const key = member.slice(0, member.indexOf('='))
    if (keys.has(key)) return undefined
    keys.add(key)
    members.push(member)
  }
  if (members.length === 0) return undefined
  let joined = members.join(',')
  if (joined.length <= maxLength) return joined
  // Trim: large members first (from the end), then the last members until it fits.
  for (let i = members.length - 1; i >= 0 && joined.length > maxLength; i--) {
    if (members[i]!.length > LARGE_MEMBER) {
      members.splice(i, 1)
      joined = members.join(',')
    }
  }
  while (joined.length > maxLength) {
    members.pop()
    joined = members.join(',')
  }
  return joined === '' ? undefined : joined
}
