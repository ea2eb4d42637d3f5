/**
 * Which content types are worth compressing: a filter compiled once from media-type
 * patterns, for `compression({ types })`.
 *
 * Pattern forms, matched against the bare, lower-cased media type (parameters such as
 * `charset` dropped):
 * - `'application/json'`: that type exactly;
 * - `'text/*'`: every subtype of a top-level type;
 * - `'*\/*+json'`: every type with that structured-syntax suffix (RFC 6838 §4.2.8), so
 *   `application/ld+json`, `application/problem+json` and `image/svg+xml` need no entry each;
 * - an anchored RegExp, for anything else.
 * @module
 */
import { ConfigError } from '../../core/errors.js'

/** One pattern of a media-type filter. */
export type MediaTypePattern = string | RegExp

/**
 * Types that compress well. Everything else is left alone: images, audio, video, archives
 * and WOFF fonts are compressed already, and compressing them again costs CPU for nothing.
 */
export const compressibleTypes: readonly string[] = Object.freeze([
  'text/*',
  '*/*+json',
  '*/*+xml',
  '*/*+yaml',
  '*/*+text',
  'application/json',
  'application/x-ndjson',
  'application/jsonl',
  'application/geo+json',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/xml',
  'application/xhtml+xml',
  'application/rss+xml',
  'application/atom+xml',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/sql',
  'application/graphql',
  'application/x-www-form-urlencoded',
  'application/rtf',
  'application/x-sh',
  'application/x-tar',
  'application/wasm',
  'application/vnd.ms-fontobject',
  'application/x-font-ttf',
  'application/x-font-otf',
  'application/postscript',
  'application/x-httpd-php',
  // TrueType and OpenType fonts are not compressed inside (WOFF and WOFF2 are).
  'font/ttf',
  'font/otf',
  'font/collection',
  'font/sfnt',
  // Bitmaps and icons stored raw.
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'image/x-ms-bmp',
])

// RFC 6838 §4.2: type and subtype names are restricted tokens.
const NAME = '[a-z0-9][a-z0-9!#$&^_.+-]*'
const EXACT = new RegExp(`^${NAME}/${NAME}$`)
const ANY_SUBTYPE = new RegExp(`^${NAME}/\\*$`)
const SUFFIX = /^\*\/\*\+([a-z0-9][a-z0-9!#$&^_.-]*)$/

/**
 * Compile `patterns` into a predicate over bare media types (lower-case, no parameters).
 * Throws a `ConfigError` naming `middleware` and `option` for a pattern it cannot read.
 */
export function compileMediaTypeFilter(
  middleware: string,
  option: string,
  patterns: readonly MediaTypePattern[],
): (mediaType: string) => boolean {
  const exact = new Set<string>()
  const types = new Set<string>()
  const suffixes = new Set<string>()
  const expressions: RegExp[] = []
  for (const pattern of patterns) {
    if (pattern instanceof RegExp) {
      // An unanchored expression matches more than its author meant ('json' inside
      // 'application/x-jsonish'); a stateful one answers differently on every call.
      if (!pattern.source.startsWith('^') || !pattern.source.endsWith('$') || pattern.global || pattern.sticky) {
        throw new ConfigError(
          middleware,
          option,
          'patterns such as "text/*", "*/*+json", "application/json" or an anchored RegExp without g or y',
          pattern,
          'Anchor the expression with ^ and $, e.g. /^application\\/vnd\\.acme\\.[a-z]+$/.',
        )
      }
      expressions.push(pattern)
      continue
    }
    const text = typeof pattern === 'string' ? pattern.trim().toLowerCase() : ''
    const suffix = SUFFIX.exec(text)
    if (suffix) suffixes.add(suffix[1]!)
    else if (ANY_SUBTYPE.test(text)) types.add(text.slice(0, -2))
    else if (EXACT.test(text)) exact.add(text)
    else {
      throw new ConfigError(
        middleware,
        option,
        'patterns such as "text/*", "*/*+json", "application/json" or an anchored RegExp',
        pattern,
      )
    }
  }
  return function isCompressibleType(mediaType: string): boolean {
    if (exact.has(mediaType)) return true
    const slash = mediaType.indexOf('/')
    if (slash > 0 && types.has(mediaType.slice(0, slash))) return true
    const plus = mediaType.lastIndexOf('+')
    if (plus > slash && suffixes.has(mediaType.slice(plus + 1))) return true
    for (const expression of expressions) if (expression.test(mediaType)) return true
    return false
  }
}

/** The bare media type of a `Content-Type` value: lower-cased, parameters dropped; '' when absent. */
export function mediaTypeOf(contentType: unknown): string {
  if (typeof contentType !== 'string') return ''
  const semicolon = contentType.indexOf(';')
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
}
