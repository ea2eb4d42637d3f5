/**
 * Parsing of weighted header lists (RFC 9110 §12.4.2): `Accept`, `Accept-Encoding`,
 * `Accept-Language`. One parser, so `gzip;q=0` means "never gzip" everywhere.
 * @module
 */

/** One entry of a weighted list. */
export interface Preference {
  /** The value, lower-cased, without parameters: `gzip`, `text/html`, `*`. */
  readonly value: string
  /** Its weight, 0 to 1; 0 means "not acceptable". */
  readonly q: number
  /** Its position in the header, for ties. */
  readonly order: number
}

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/**
 * Parse `br;q=1.0, gzip;q=0.5, *;q=0`. Entries with a malformed weight are dropped
 * (guessing a weight could turn a refusal into a preference). At most `maxEntries` are
 * read, so a hostile header costs bounded work.
 */
export function parseQualityList(header: string | undefined, maxEntries = 64): Preference[] {
  const list: Preference[] = []
  if (!header) return list
  const entries = header.split(',', maxEntries)
  for (let order = 0; order < entries.length; order++) {
    const params = entries[order]!.split(';')
    const value = params[0]!.trim().toLowerCase()
    if (value === '') continue
    let q = 1
    let valid = true
    for (let i = 1; i < params.length; i++) {
      const param = params[i]!.trim()
      const eq = param.indexOf('=')
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const weight = param.slice(eq + 1).trim()
      if (!QVALUE.test(weight)) {
        valid = false
        break
      }
      q = Number(weight)
    }
    if (valid) list.push({ value, q, order })
  }
  return list
}

/**
 * The weight `accept` gives `mediaType` (`type/subtype`): the most specific matching range
 * decides (RFC 9110 §12.5.1). A missing header accepts everything (1); no match gives 0.
 */
export function mediaTypeQuality(accept: string | undefined, mediaType: string): number {
  if (accept === undefined || accept.trim() === '') return 1
  const [type] = mediaType.split('/')
  let best = -1
  let specificity = -1
  for (const entry of parseQualityList(accept)) {
    const level = entry.value === mediaType ? 2 : entry.value === `${type}/*` ? 1 : entry.value === '*/*' ? 0 : -1
    if (level > specificity) {
      specificity = level
      best = entry.q
    }
  }
  return Math.max(best, 0)
}
