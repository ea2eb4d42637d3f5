/**
 * Formatting of access-log lines: the query policy, header selection with redaction,
 * truncation, and the JSON encoding that keeps one exchange on one safe line.
 * @module
 */

/** Most headers logged per side: a request may carry hundreds. */
export const ACCESS_LOG_MAX_HEADERS = 64

/** `'drop'`: the path alone; `'redact'`: every value replaced, names kept. */
export function stripQuery(url: string, query: 'drop' | 'redact'): string {
  const mark = url.indexOf('?')
  if (mark < 0) return url
  if (query === 'drop') return url.slice(0, mark)
  const params = url.slice(mark + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    return eq < 0 ? pair : `${pair.slice(0, eq)}=[redacted]`
  })
  return `${url.slice(0, mark)}?${params.join('&')}`
}

/** The selected headers, values redacted or truncated, at most {@link ACCESS_LOG_MAX_HEADERS}. */
export function pickHeaders(
  headers: Record<string, string | string[] | number | undefined>, selection: true | ReadonlySet<string>,
  redact: ReadonlySet<string>, maxField: number,
): Record<string, string> {
  const picked: Record<string, string> = {}
  let count = 0
  for (const name of selection === true ? Object.keys(headers) : selection) {
    const value = headers[name]
    if (value === undefined) continue
    if (++count > ACCESS_LOG_MAX_HEADERS) break
    picked[truncate(name, 128)] = redact.has(name) ? '[redacted]' : truncate(Array.isArray(value) ? value.join(', ') : String(value), maxField)
  }
  return picked
}

/** `value` cut to `max` characters, marked with `…` when cut. */
export const truncate = (value: string, max: number): string => (value.length > max ? `${value.slice(0, max)}…` : value)
/** {@link truncate} for a value that may be absent. */
export const optional = (value: string | undefined, max: number): string | undefined => (value === undefined ? undefined : truncate(value, max))
/** Milliseconds to the microsecond: more digits are noise. */
export const round = (ms: number): number => Math.round(ms * 1000) / 1000

// JSON.stringify escapes C0 controls, `"` and `\`, so a line never breaks. These it leaves
// raw: DEL and C1 controls (terminal escapes such as CSI U+009B) and U+2028/U+2029, which
// some log viewers and JavaScript tooling treat as line ends.
const UNESCAPED = /[\u007f-\u009f\u2028\u2029]/g

/** The entry as one line of JSON with nothing a terminal or a line splitter could misread. */
export function toLine(entry: object): string {
  const line = JSON.stringify(entry)
  UNESCAPED.lastIndex = 0
  return UNESCAPED.test(line)
    ? line.replace(UNESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : line
}
