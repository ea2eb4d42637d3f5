/**
 * Formatting of access-log lines: the entry's fields, the query policy, header selection
 * with redaction, truncation, and the JSON encoding that keeps one exchange on one safe line.
 * @module
 */
import { isVouchedJsonSafe } from '../../core/json-safe.js'
import type { ResponseOutcome } from '../../core/response-end.js'

/** One access-log line, as the function sink receives it. Fields are absent when unknown. */
export interface AccessLogEntry {
  /** When the request arrived (wall clock, ISO 8601). */
  time: string
  /** `error` for 5xx and failed exchanges, `warn` for 4xx and aborted ones, else `info`. */
  level: 'info' | 'warn' | 'error'
  method: string
  /** The request target as it arrived (before any `mount` rewrote it), query per `query`. */
  path: string
  /** The status sent; 499 when the client aborted first; 500 for a failure before headers. */
  status: number
  outcome: ResponseOutcome
  /** Arrival to end of exchange, ms. */
  durationMs: number
  /** Arrival to headers written, ms; absent when no headers went out. */
  ttfbMs?: number
  /** Bytes put on the connection for this response (head, body after compression, framing). */
  bytesOut?: number
  /** Request body bytes received before the exchange ended (after de-chunking). */
  bytesIn: number
  clientIp: string
  requestId?: string
  traceId?: string
  spanId?: string
  userId?: string
  userAgent?: string
  referer?: string
  /** Message of the handler's error, or of the error the response was destroyed with. */
  error?: string
  requestHeaders?: Record<string, string>
  responseHeaders?: Record<string, string>
  /** Lines dropped under backpressure since the previous line got through. */
  droppedLines?: number
  /**
   * On WebSocket (upgrade) handshakes through `handleUpgrades()`: `'handshake'` on the line
   * of the handshake (status 101, or the refusal), `'closed'` on the line written when the
   * upgraded connection closes (option `upgradeClose`).
   */
  upgrade?: 'handshake' | 'closed'
}

/** Most headers logged per side: a request may carry hundreds. */
export const ACCESS_LOG_MAX_HEADERS = 64

/** `'drop'`: the path alone; `'redact'`: every value replaced, names kept. */
export function stripQuery(url: string, query: 'drop' | 'redact'): string {
  const mark = url.indexOf('?')
  if (mark < 0) return url
  if (query === 'drop') return url.slice(0, mark)
  const params = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      return eq < 0 ? pair : `${pair.slice(0, eq)}=[redacted]`
    })
  return `${url.slice(0, mark)}?${params.join('&')}`
}

/** The selected headers, values redacted or truncated, at most {@link ACCESS_LOG_MAX_HEADERS}. */
export function pickHeaders(
  headers: Record<string, string | string[] | number | undefined>,
  selection: true | ReadonlySet<string>,
  redact: ReadonlySet<string>,
  maxField: number,
): Record<string, string> {
  const picked: Record<string, string> = {}
  let count = 0
  for (const name of selection === true ? Object.keys(headers) : selection) {
    const value = headers[name]
    if (value === undefined) continue
    if (++count > ACCESS_LOG_MAX_HEADERS) break
    picked[truncate(name, 128)] = redact.has(name)
      ? '[redacted]'
      : truncate(Array.isArray(value) ? value.join(', ') : String(value), maxField)
  }
  return picked
}

/** `value` cut to `max` characters, marked with `…` when cut. */
export const truncate = (value: string, max: number): string => (value.length > max ? `${value.slice(0, max)}…` : value)
/** {@link truncate} for a value that may be absent. */
export const optional = (value: string | undefined, max: number): string | undefined =>
  value === undefined ? undefined : truncate(value, max)
// Lines carry the arrival time, and requests in flight together finish out of order, so
// consecutive lines rarely share a millisecond: a cache of the last one missed on most
// lines under load. They do share the second: its text is kept, and the milliseconds are
// appended from a table ("000Z" to "999Z").
let isoSecond = Number.NaN
let isoPrefix = ''
const MILLIS_SUFFIX = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, '0')}Z`)

/** `ms` since the epoch as an ISO 8601 date, to the millisecond (as `Date` truncates it). */
export function isoTime(ms: number): string {
  const whole = Math.trunc(ms)
  const second = Math.floor(whole / 1000)
  if (second !== isoSecond) {
    // "2026-12-06T23:01:02.000Z" without its "000Z" (years past 9999 have a longer prefix).
    const text = new Date(second * 1000).toISOString()
    isoPrefix = text.slice(0, -4)
    isoSecond = second
  }
  return isoPrefix + MILLIS_SUFFIX[whole - second * 1000]!
}

/** Milliseconds to the microsecond: more digits are noise. */
export const round = (ms: number): number => Math.round(ms * 1000) / 1000

// JSON.stringify escapes C0 controls, `"` and `\`, so a line never breaks. These it leaves
// raw: DEL and C1 controls (terminal escapes such as CSI U+009B) and U+2028/U+2029, which
// some log viewers and JavaScript tooling treat as line ends.
const UNESCAPED = /[\u007f-\u009f\u2028\u2029]/g

/** `value` as one line of JSON with nothing a terminal or a line splitter could misread. */
export function toLine(value: unknown): string {
  const line = JSON.stringify(value)
  UNESCAPED.lastIndex = 0
  return UNESCAPED.test(line)
    ? line.replace(UNESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : line
}

// What JSON.stringify would escape (quote, backslash, C0 controls, lone surrogates: any
// surrogate, to keep the test simple) or toLine would: a string with none of these is
// written between quotes as it is.
const NEEDS_ESCAPING = /["\\\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/

/** `value` as a JSON string, escaped as {@link toLine} escapes. */
export function jsonString(value: string): string {
  return NEEDS_ESCAPING.test(value) ? toLine(value) : `"${value}"`
}

/**
 * {@link jsonString} of the value last asked for, kept: a field whose value repeats from
 * line to line (the method, the path of a busy route, a client behind one proxy) is then
 * compared, not scanned and quoted again. A class, not a literal (see core/listener-node.ts).
 */
class RepeatedJsonString {
  #value = ''
  #json = '""'

  of(value: string): string {
    if (value !== this.#value) {
      this.#json = jsonString(value)
      this.#value = value
    }
    return this.#json
  }
}

const methodJson = new RepeatedJsonString()
const pathJson = new RepeatedJsonString()
const clientIpJson = new RepeatedJsonString()

// The fractions of a millisecond a rounded duration can have, as JavaScript prints them:
// "" for none, then ".001" to ".999" without trailing zeros (".5", ".25").
const THOUSANDTHS = Array.from({ length: 1000 }, (_, k) =>
  k === 0 ? '' : `.${String(k).padStart(3, '0').replace(/0+$/, '')}`,
)

/** A number as JSON writes it: `null` for NaN and the infinities. */
export function jsonNumber(value: number): string {
  // Durations rounded to the microsecond ({@link round}) are printed from two integers, which
  // V8 turns into text from a cache, instead of by the shortest-double algorithm (about
  // 0.2 µs a number, two numbers a line). A whole number of thousandths below 2^31 prints
  // the same either way: its shortest decimal is exactly those three digits.
  const thousandths = Math.round(value * 1000)
  if (thousandths >= 0 && thousandths < 2_147_483_648 && thousandths / 1000 === value) {
    const whole = Math.floor(thousandths / 1000)
    return `${whole}${THOUSANDTHS[thousandths - whole * 1000]!}`
  }
  return Number.isFinite(value) ? `${value}` : 'null'
}

/**
 * The entry as {@link toLine} would write it, with the fields in the order of
 * {@link AccessLogEntry}, absent ones left out. Built by hand because this runs once per
 * request, and JSON.stringify of the whole object took several times as long.
 */
export function entryLine(entry: AccessLogEntry): string {
  // time is an ISO date, level and outcome come from fixed sets: none needs escaping.
  let line =
    `{"time":"${entry.time}","level":"${entry.level}","method":${methodJson.of(entry.method)},"path":${pathJson.of(entry.path)}` +
    `,"status":${jsonNumber(entry.status)},"outcome":"${entry.outcome}","durationMs":${jsonNumber(entry.durationMs)}`
  if (entry.ttfbMs !== undefined) line += `,"ttfbMs":${jsonNumber(entry.ttfbMs)}`
  if (entry.bytesOut !== undefined) line += `,"bytesOut":${jsonNumber(entry.bytesOut)}`
  line += `,"bytesIn":${jsonNumber(entry.bytesIn)},"clientIp":${clientIpJson.of(entry.clientIp)}`
  const requestId = entry.requestId
  if (requestId !== undefined) {
    // The id requestId() decided is vouched for: one comparison instead of a scan per line.
    line += isVouchedJsonSafe(requestId) ? `,"requestId":"${requestId}"` : `,"requestId":${jsonString(requestId)}`
  }
  if (entry.traceId !== undefined) line += `,"traceId":${jsonString(entry.traceId)}`
  if (entry.spanId !== undefined) line += `,"spanId":${jsonString(entry.spanId)}`
  if (entry.userId !== undefined) line += `,"userId":${jsonString(entry.userId)}`
  if (entry.userAgent !== undefined) line += `,"userAgent":${jsonString(entry.userAgent)}`
  if (entry.referer !== undefined) line += `,"referer":${jsonString(entry.referer)}`
  if (entry.error !== undefined) line += `,"error":${jsonString(entry.error)}`
  if (entry.requestHeaders !== undefined) line += `,"requestHeaders":${toLine(entry.requestHeaders)}`
  if (entry.responseHeaders !== undefined) line += `,"responseHeaders":${toLine(entry.responseHeaders)}`
  if (entry.droppedLines !== undefined) line += `,"droppedLines":${jsonNumber(entry.droppedLines)}`
  if (entry.upgrade !== undefined) line += `,"upgrade":"${entry.upgrade}"`
  return `${line}}`
}
