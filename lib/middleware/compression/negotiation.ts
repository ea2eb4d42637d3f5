/**
 * `Accept-Encoding` negotiation for `compression()`, per RFC 9110 §12.5.3, on the core's
 * one weighted-list parser (so `gzip;q=0` is a refusal here as everywhere).
 *
 * Rules, in order:
 * - no header: identity. RFC 9110 lets a server pick any coding then, but a client that
 *   sent nothing (curl without `--compressed`, many scripts) cannot be trusted to decode.
 * - each coding the server offers gets its own weight, else the weight of `*`, else 0
 *   (not acceptable). `x-gzip` counts as `gzip` (RFC 9110 §8.4.1.3) and is echoed back
 *   to a client that named only `x-gzip`. Tokens match whole: `bgzip` is not `gzip`.
 * - the heaviest acceptable coding wins; ties go to the server's order of preference.
 * - identity competes too when the client weighed it (`identity;q=…` or `*;q=…`): a client
 *   that prefers identity gets it. Unweighed, it is the fallback, never the preference.
 * - nothing acceptable, identity included (`identity;q=0`, `*;q=0`): identity, with
 *   `acceptable` false. RFC 9110 §12.5.3 allows both that and a 406, and the HTTP working
 *   group chose unencoded content as the interoperable answer (httpwg/http-core#980), so
 *   identity is compression()'s default; its `notAcceptable: 'refuse'` answers 406.
 * @module
 */
import { parseQualityList } from '../../core/negotiate.js'

/** A content coding `compression()` can produce. */
export type Encoding = 'br' | 'zstd' | 'gzip' | 'deflate'

/** The outcome of negotiating one `Accept-Encoding` value. */
export interface EncodingChoice {
  /** The coding to apply; undefined for identity (no coding). */
  readonly encoding: Encoding | undefined
  /** The `Content-Encoding` token to send: the coding's name, or `x-gzip` for a client that named only that. */
  readonly token: string
  /**
   * The client refused identity (`identity;q=0`, or `*;q=0` without an identity entry).
   * With an `encoding`: compress whatever may be compressed, below the threshold too.
   */
  readonly identityRefused: boolean
  /**
   * False when nothing the server offers is acceptable, identity included (`identity;q=0`,
   * or `*;q=0` without an identity entry, and no coding weighed above 0): the 406 case.
   */
  readonly acceptable: boolean
}

/** Longest `Accept-Encoding` value looked at; real browsers send under 40 bytes. */
const MAX_HEADER = 1024
/** Distinct header values remembered; past that the memo starts over (bounded memory). */
const MEMO_SIZE = 256

/**
 * Negotiate `header` against `offered` (the server's codings, most preferred first).
 */
export function negotiateEncoding(header: string | undefined, offered: readonly Encoding[]): EncodingChoice {
  if (header === undefined || header.length > MAX_HEADER) return IDENTITY
  let star: number | undefined
  let identity: number | undefined
  let xgzip: number | undefined
  const weights = new Map<string, number>()
  for (const entry of parseQualityList(header)) {
    // A coding listed twice keeps its first weight, as for every list in this library.
    if (entry.value === '*') star ??= entry.q
    else if (entry.value === 'identity') identity ??= entry.q
    else if (entry.value === 'x-gzip') xgzip ??= entry.q
    else if (!weights.has(entry.value)) weights.set(entry.value, entry.q)
  }
  let best: Encoding | undefined
  let bestWeight = 0
  let viaXgzip = false
  for (const encoding of offered) {
    let weight = weights.get(encoding)
    let alias = false
    if (weight === undefined && encoding === 'gzip' && xgzip !== undefined) {
      weight = xgzip
      alias = true
    }
    weight ??= star ?? 0
    // Strictly heavier: on a tie the earlier (server-preferred) coding stays.
    if (weight > bestWeight) {
      best = encoding
      bestWeight = weight
      viaXgzip = alias
    }
  }
  const identityWeight = identity ?? star
  if (best === undefined) return identityWeight === 0 ? NOT_ACCEPTABLE : IDENTITY
  if (identityWeight !== undefined && identityWeight > bestWeight) return IDENTITY
  return choice(best, viaXgzip, identityWeight === 0)
}

/**
 * A memoised negotiator: `make` turns each distinct choice into what the caller keeps per
 * choice (built once), and header values seen before cost one map lookup.
 */
export function createNegotiator<T>(
  offered: readonly Encoding[],
  make: (choice: EncodingChoice) => T,
): (header: string | undefined) => T {
  const byChoice = new Map<EncodingChoice, T>()
  const memo = new Map<string, T>()
  const made = (c: EncodingChoice): T => {
    let value = byChoice.get(c)
    if (value === undefined) {
      value = make(c)
      byChoice.set(c, value)
    }
    return value
  }
  const none = made(IDENTITY)
  return function negotiate(header: string | undefined): T {
    if (header === undefined) return none
    let value = memo.get(header)
    if (value === undefined) {
      value = made(negotiateEncoding(header, offered))
      if (memo.size >= MEMO_SIZE) memo.clear()
      memo.set(header, value)
    }
    return value
  }
}

const IDENTITY: EncodingChoice = Object.freeze({
  encoding: undefined,
  token: 'identity',
  identityRefused: false,
  acceptable: true,
})
const NOT_ACCEPTABLE: EncodingChoice = Object.freeze({
  encoding: undefined,
  token: 'identity',
  identityRefused: true,
  acceptable: false,
})

// Every possible choice, made once: callers may key maps by identity.
const CHOICES = new Map<string, EncodingChoice>()
function choice(encoding: Encoding, viaXgzip: boolean, identityRefused: boolean): EncodingChoice {
  const token = viaXgzip ? 'x-gzip' : encoding
  const key = `${token} ${identityRefused}`
  let made = CHOICES.get(key)
  if (made === undefined) {
    made = Object.freeze({ encoding, token, identityRefused, acceptable: true })
    CHOICES.set(key, made)
  }
  return made
}
