/**
 * The grammar and the decision of RFC 9110 §13: entity-tags and their two comparisons
 * (§8.8.3.2), HTTP-dates (§5.6.7), and the order in which the four precondition fields are
 * evaluated (§13.2.2). Pure functions of the request headers and the current validators:
 * `conditional()` asks at response start, `checkPreconditions()` before a handler acts.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { singleHeader } from '../../core/headers.js'

/** A parsed entity-tag: its opaque part (between the quotes) and whether it is weak (`W/`). */
export interface EntityTag {
  readonly weak: boolean
  readonly opaque: string
}

/** The validators of the current representation, parsed. */
export interface CurrentValidators {
  /** The representation's entity-tag, when it has a valid one. */
  readonly etag: EntityTag | undefined
  /** Its last modification, in whole seconds since the epoch, when known. */
  readonly lastModified: number | undefined
}

/**
 * What the preconditions decided: go on, or which field failed. A failed `if-none-match`
 * is a 304 for GET and HEAD and a 412 otherwise; a failed `if-modified-since` a 304; a
 * failed `if-match` or `if-unmodified-since` a 412.
 */
export type PreconditionOutcome = 'proceed' | 'if-match' | 'if-unmodified-since' | 'if-none-match' | 'if-modified-since'

// RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text.
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/
const ETAGC = /^[\x21\x23-\x7e\x80-\xff]*$/

/** Parse one entity-tag (a response's `ETag`); undefined when it is not one (e.g. unquoted). */
export function parseEntityTag(value: unknown): EntityTag | undefined {
  if (typeof value !== 'string') return undefined
  const m = ENTITY_TAG.exec(value.trim())
  return m === null ? undefined : { weak: m[1] !== undefined, opaque: m[2]! }
}

/**
 * Whether a list field (`If-Match`, `If-None-Match`) names `tag`, comparing strongly
 * (both strong and equal) or weakly (equal opaque parts). `*` is not handled here.
 * A member that is no entity-tag (`abc`, `"a"x`, an unterminated quote) matches nothing,
 * and the members after it are still read.
 */
export function listNames(field: string, tag: EntityTag, strong: boolean): boolean {
  if (strong && tag.weak) return false
  const n = field.length
  let i = 0
  while (i < n) {
    const c = field.charCodeAt(i)
    // OWS and empty list members (RFC 9110 §5.6.1 asks recipients to accept them).
    if (c === 0x20 || c === 0x09 || c === 0x2c) {
      i++
      continue
    }
    let weak = false
    if (c === 0x57 && field.charCodeAt(i + 1) === 0x2f) {
      weak = true
      i += 2
    }
    if (field.charCodeAt(i) === 0x22) {
      const close = field.indexOf('"', i + 1)
      if (close < 0) return false
      const opaque = field.slice(i + 1, close)
      i = close + 1
      while (i < n && (field.charCodeAt(i) === 0x20 || field.charCodeAt(i) === 0x09)) i++
      if (i >= n || field.charCodeAt(i) === 0x2c) {
        if (opaque === tag.opaque && ETAGC.test(opaque) && !(strong && weak)) return true
        continue
      }
    }
    // Not an entity-tag: skip the member.
    const comma = field.indexOf(',', i)
    i = comma < 0 ? n : comma + 1
  }
  return false
}

const isWildcard = (field: string): boolean => field.trim() === '*'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTH = MONTHS.join('|')
const DAY = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun'
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d{2}) (${MONTH}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`)
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`,
)
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`)

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms
 * recipients must accept) in whole seconds since the epoch; undefined for anything else,
 * including `Date.parse`'s liberties ("2024", "yesterday") and impossible days (31 Feb).
 */
export function parseHttpDate(value: unknown, nowSeconds = Date.now() / 1000): number | undefined {
  if (typeof value !== 'string') return undefined
  let m = IMF_FIXDATE.exec(value)
  if (m !== null) return utcSeconds(+m[3]!, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!)
  m = RFC850_DATE.exec(value)
  if (m !== null) {
    // §5.6.7: a two-digit year more than 50 years ahead is in the past century.
    const thisYear = new Date(nowSeconds * 1000).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + +m[3]!
    if (year > thisYear + 50) year -= 100
    return utcSeconds(year, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!)
  }
  m = ASCTIME_DATE.exec(value)
  if (m !== null) return utcSeconds(+m[6]!, m[1]!, +m[2]!.trim(), +m[3]!, +m[4]!, +m[5]!)
  return undefined
}

function utcSeconds(year: number, month: string, day: number, h: number, min: number, s: number): number | undefined {
  if (h > 23 || min > 59 || s > 60) return undefined
  const monthIndex = MONTHS.indexOf(month)
  const ms = Date.UTC(year, monthIndex, day, h, min, Math.min(s, 59))
  // Date.UTC rolls 31 Feb over into March: refuse what does not come back unchanged.
  const back = new Date(ms)
  if (back.getUTCDate() !== day || back.getUTCMonth() !== monthIndex) return undefined
  return ms / 1000
}

/**
 * Evaluate the preconditions of `req` against the current representation (`null`: there
 * is none) in the order of RFC 9110 §13.2.2. `nowSeconds` rejects `If-Modified-Since`
 * dates in the future.
 */
export function evaluatePreconditions(
  req: IncomingMessage,
  current: CurrentValidators | null,
  nowSeconds: number,
): PreconditionOutcome {
  const headers = req.headers
  const safe = req.method === 'GET' || req.method === 'HEAD'
  // Step 1: If-Match, strong comparison (§13.1.1). `*` asks that a representation exist.
  const ifMatch = headers['if-match']
  if (ifMatch !== undefined) {
    const holds = isWildcard(ifMatch)
      ? current !== null
      : current?.etag !== undefined && listNames(ifMatch, current.etag, true)
    if (!holds) return 'if-match'
  } else {
    // Step 2: If-Unmodified-Since, only without If-Match; an invalid date is ignored (§13.1.4).
    const since = parseHttpDate(singleHeader(req, 'if-unmodified-since'), nowSeconds)
    if (since !== undefined && current?.lastModified !== undefined && current.lastModified > since) {
      return 'if-unmodified-since'
    }
  }
  // Step 3: If-None-Match, weak comparison (§13.1.2).
  const ifNoneMatch = headers['if-none-match']
  if (ifNoneMatch !== undefined) {
    const matches = isWildcard(ifNoneMatch)
      ? current !== null
      : current?.etag !== undefined && listNames(ifNoneMatch, current.etag, false)
    return matches ? 'if-none-match' : 'proceed'
  }
  // Step 4: If-Modified-Since, GET and HEAD only and only without If-None-Match (§13.1.3).
  if (!safe) return 'proceed'
  const since = parseHttpDate(singleHeader(req, 'if-modified-since'), nowSeconds)
  // A date later than the server's clock is not one it can have sent: ignore it (RFC 7232
  // §3.3 called it invalid), or a client's skewed clock would pin a stale copy.
  if (since === undefined || since > nowSeconds) return 'proceed'
  return current?.lastModified !== undefined && current.lastModified <= since ? 'if-modified-since' : 'proceed'
}
