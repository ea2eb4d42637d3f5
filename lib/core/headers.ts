/**
 * Header helpers several layers need: merging `Vary`, reading one request header that
 * must appear exactly once, telling a CORS preflight, text safe inside a quoted-string.
 * @module
 */
import {
  type IncomingMessage,
  OutgoingMessage,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http'

/**
 * Add `fields` to the response's `Vary`, keeping what is there, never duplicating a field
 * (compared case-insensitively) and leaving `Vary: *` alone (it already covers everything).
 */
export function appendVary(res: ServerResponse, ...fields: string[]): void {
  const current = readHeader(res, 'vary')
  if (current === undefined) {
    res.setHeader('vary', fields.length === 1 ? fields[0]! : fields.join(', '))
    return
  }
  // One field already there and one to add, decided without splitting or allocating sets.
  if (fields.length === 1 && typeof current === 'string' && !current.includes(',')) {
    const merged = withVaryField(current, fields[0]!)
    if (merged !== undefined) res.setHeader('vary', merged)
    return
  }
  const existing = (Array.isArray(current) ? current.join(',') : String(current))
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
  if (existing.includes('*')) return
  const lower = new Set(existing.map((f) => f.toLowerCase()))
  const added = fields.filter((f) => {
    const key = f.toLowerCase()
    if (lower.has(key)) return false
    lower.add(key)
    return true
  })
  if (added.length > 0) res.setHeader('vary', [...existing, ...added].join(', '))
}

/**
 * {@link appendVary} for one field a layer names itself, a literal (cors's `Origin`,
 * compression's `Accept-Encoding`), on the hot path: no argument list, and the value written
 * straight into Node's map as {@link setOwnHeader} writes. Both parts are valid: the field is
 * a literal, and what is there passed setHeader's checks or is the library's own.
 */
export function appendOwnVary(res: ServerResponse, field: string): void {
  const current = readHeader(res, 'vary')
  if (current === undefined) {
    setOwnHeader(res, 'vary', field)
    return
  }
  if (typeof current !== 'string' || current.includes(',')) {
    appendVary(res, field)
    return
  }
  const merged = withVaryField(current, field)
  if (merged !== undefined) setOwnHeader(res, 'vary', merged)
}

/**
 * `Vary` after adding `field` to `current`, a value of one field at most; undefined when
 * `current` already covers it (`*`, or the same name in any case). Names are lower-cased
 * only when their lengths agree.
 */
function withVaryField(current: string, field: string): string | undefined {
  const present = current.trim()
  if (present === '*') return undefined
  if (present.length === field.length && (present === field || present.toLowerCase() === field.toLowerCase()))
    return undefined
  return present === '' ? field : `${present}, ${field}`
}

// Headers of which Node keeps the first line and silently drops repeats (_http_incoming.js).
const FIRST_ONLY = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
])

/**
 * The value of a request header sent exactly once (`name` lower-case), or undefined when it is missing or was
 * sent on several lines. Node joins repeated lines with `, `, which hides the repetition;
 * the raw header list does not.
 */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const joined = req.headers[name]
  if (typeof joined !== 'string') return undefined
  // Most requests carry a header once; only scan the raw list when the value could be a
  // join, or when Node keeps the first of repeated lines and drops the rest.
  if (!joined.includes(',') && !FIRST_ONLY.has(name)) return joined
  let seen = 0
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name && ++seen > 1) return undefined
  }
  return joined
}

/**
 * Whether `req` has the shape of a CORS preflight (Fetch §3.2.2): `OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`. The shape is for cors() to decide how to answer; it is
 * never a reason to skip authentication, since any client can send it. Authenticating
 * layers exempt only the preflights cors() validated (`corsPreflightState`).
 */
export function isCorsPreflight(req: IncomingMessage): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  )
}

// RFC 9110 §5.6.4 qdtext without obs-text and without the two characters that need a
// quoted-pair (DQUOTE, backslash): RFC 6750 §3 restricts challenge parameters to exactly this.
const QUOTE_SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/**
 * True when `text` can go between double quotes in a header (a `WWW-Authenticate` realm or
 * `error_description`) as it is: printable ASCII and space, no `"`, no backslash, nothing to escape.
 */
export const isQuotedStringSafe = (text: string): boolean => QUOTE_SAFE.test(text)

/**
 * Response header fields whose names and values are fixed when a middleware is built
 * (securityHeaders' set, cors's constants), validated once then with Node's own checks, so
 * that {@link addFixedHeaders} can put them on each response without validating again.
 */
export class FixedHeaders {
  /** Lower-case names, the keys of Node's header map. */
  readonly names: readonly string[]
  readonly values: readonly string[]
  /** The same names, to ask whether a field already on a response is one of them. */
  readonly nameSet: ReadonlySet<string>

  constructor(fields: ReadonlyArray<readonly [string, string]>) {
    for (const [name, value] of fields) {
      validateHeaderName(name)
      validateHeaderValue(name, value)
    }
    this.names = fields.map(([name]) => name.toLowerCase())
    this.values = fields.map(([, value]) => value)
    this.nameSet = new Set(this.names)
  }
}

// Node keeps a response's headers under this symbol: `{ [lower-case name]: [name, value] }`,
// or null until the first setHeader (lib/_http_outgoing.js). test/core/headers.test.ts pins it.
const OUT_HEADERS = Object.getOwnPropertySymbols(new OutgoingMessage()).find((s) => s.description === 'kOutHeaders')
const nodeSetHeader = OutgoingMessage.prototype.setHeader

type HeaderMap = Record<string, [string, string | number | readonly string[]]>
type OutHeadersSlot = Record<symbol, HeaderMap | null | undefined>

// Node makes the map on the first setHeader as `{ __proto__: null }`, which V8 keeps in
// dictionary mode: a hash table that grows as the ~20 fields of a response arrive. Objects of
// a constructor are kept in fast mode (shared hidden classes, fields in the object), which
// take about half the memory and time to fill and to walk when Node writes the head; their
// prototype is an empty frozen object with no prototype, so no name ("constructor",
// "__proto__", "toString") is ever found on it, as with Node's map. V8 keeps about 22 fields
// this way, then turns the object into a dictionary: no worse than Node's own map.
// Measured on the production stack's 1 KB route: 18.3 → 16.5 KB allocated per request.
const EMPTY_PROTOTYPE = Object.freeze(Object.create(null) as object)
function FastHeaderMap(): void {}
FastHeaderMap.prototype = EMPTY_PROTOTYPE
const newHeaderMap = (): HeaderMap => new (FastHeaderMap as unknown as new () => HeaderMap)()

/**
 * Give `res` an empty header map in V8's fast mode, before anything sets a header: the core
 * calls it when a middleware first registers on a response. Does nothing once the response
 * has a map, or when Node keeps its headers elsewhere (an HTTP/2 compatibility response).
 */
export function prepareHeaderMap(res: ServerResponse): void {
  if (OUT_HEADERS === undefined) return
  const slot = res as unknown as OutHeadersSlot
  if (slot[OUT_HEADERS] === null) slot[OUT_HEADERS] = newHeaderMap()
}

/**
 * Add `fixed` to the response's headers, each one only where the response has none of that
 * name unless `override`; what `setHeader` does after its checks, in one pass over Node's
 * header map (securityHeaders' eleven hasHeader + setHeader cost about 2 µs a response).
 * Falls back to `hasHeader`/`setHeader` when the map is not there (an HTTP/2 compatibility
 * response, a future Node) or when `setHeader` was replaced, so that a wrapper still sees
 * every call.
 */
export function addFixedHeaders(res: ServerResponse, fixed: FixedHeaders, override: boolean): void {
  const { names, values } = fixed
  const headers = writableHeaderMap(res)
  if (headers === undefined) {
    for (let i = 0; i < names.length; i++) {
      if (override || !res.hasHeader(names[i]!)) res.setHeader(names[i]!, values[i]!)
    }
    return
  }
  // A fresh entry per response: appendHeader changes an entry's value in place.
  if (!override && holdsAnyOf(headers, fixed.nameSet)) {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (headers[name] === undefined) headers[name] = [name, values[i]!]
    }
    return
  }
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    headers[name] = [name, values[i]!]
  }
}

/**
 * Whether the map holds any of `names`. Asked of the few fields a response has when its
 * headers go out (seven on the production stack's route when securityHeaders adds its
 * ten), not of the map once per name: a lookup in Node's map by a name that varies is
 * a megamorphic load, and for a name that is not there, the most expensive kind. Measured
 * on the production stack's 1 KB route: securityHeaders' megamorphic loads were 124 samples
 * of 15,178 in perf (100,000 requests).
 */
function holdsAnyOf(headers: HeaderMap, names: ReadonlySet<string>): boolean {
  for (const name in headers) if (names.has(name)) return true
  return false
}

/**
 * `res.setHeader(name, value)` for a header a layer makes per response from parts it knows
 * to be valid: `name` lower-case, a literal or checked when the layer was built; `value` a
 * number (kept a number, as setHeader keeps it), or text made of numbers, tokens and text
 * that passed a pattern (a request id, a policy name). Written
 * straight into Node's map, without the checks and lower-casing setHeader repeats on every
 * call (about 0.1 µs a header). Falls back to setHeader as {@link addFixedHeaders} does, so
 * a wrapper still sees the call and a call after the headers went out throws Node's error.
 */
export function setOwnHeader(res: ServerResponse, name: string, value: string | number): void {
  const headers = writableHeaderMap(res)
  if (headers === undefined) res.setHeader(name, value)
  else headers[name] = [name, value]
}

const nodeGetHeader = OutgoingMessage.prototype.getHeader

/**
 * `res.getHeader(name)` for a `name` already in lower case: read straight from Node's map,
 * without the argument check and lower-casing getHeader repeats on every call (the layers of
 * the production stack ask about a dozen times per response). Falls back to getHeader when the
 * map is not there (an HTTP/2 compatibility response, a future Node) or getHeader was
 * replaced, so that a wrapper still sees every call.
 */
export function readHeader(res: ServerResponse, name: string): ReturnType<ServerResponse['getHeader']> {
  if (OUT_HEADERS === undefined || res.getHeader !== nodeGetHeader) return res.getHeader(name)
  const map = (res as unknown as OutHeadersSlot)[OUT_HEADERS]
  if (map === null || map === undefined) return undefined
  return map[name]?.[1] as ReturnType<ServerResponse['getHeader']>
}

/**
 * Node's header map of `res`, made (in fast mode) when it has none yet; undefined where a
 * layer must go through `setHeader`: no map slot (an HTTP/2 compatibility response, a
 * future Node), `setHeader` replaced (a wrapper must see every call), or headers already out
 * (so that Node throws its own error).
 */
function writableHeaderMap(res: ServerResponse): HeaderMap | undefined {
  if (OUT_HEADERS === undefined || res.setHeader !== nodeSetHeader || res.headersSent) return undefined
  const slot = res as unknown as OutHeadersSlot
  const map = slot[OUT_HEADERS]
  if (map !== null) return map
  const made = newHeaderMap()
  slot[OUT_HEADERS] = made
  return made
}
