/**
 * Permissions-Policy and Reporting-Endpoints for securityHeaders(): two headers that are
 * dictionaries in the structured-field syntax (RFC 8941), validated and serialised once,
 * at construction. A browser drops a whole structured header it cannot parse, so one bad
 * entry (`'self'` in CSP's quotes, a path where an origin goes) would silently turn every
 * feature back on; it fails here instead.
 * @module
 */
import { ConfigError } from '../../core/errors.js'
import { expectPlainObject } from '../../core/options.js'

/**
 * Features by name (`'geolocation'` or `displayCapture`), each with its allowlist: `[]` for no
 * one, `['self']`, origins (`'https://a.example'`, `'https://*.example.com'`), or `['*']` for
 * every origin.
 */
export type PermissionsPolicy = Readonly<Record<string, readonly string[]>>

/** Reporting endpoints by name (the name CSP's `report-to` uses) → the URL reports are posted to. */
export type ReportingEndpoints = Readonly<Record<string, string>>

// RFC 8941 §3.2: key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
export const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/
// RFC 8941 §3.3.3: an sf-string holds visible ASCII and space; '"' and '\' would need escapes,
// which no origin or URL here needs, so they are refused rather than escaped.
const SF_STRING_CHARS = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * The `Permissions-Policy` value of `policy`, e.g. `camera=(), geolocation=(self "https://a.example")`
 * (W3C Permissions Policy §5.2: a dictionary of inner lists of `self`, `*` and origin strings).
 */
export function compilePermissionsPolicy(option: string, policy: unknown): string {
  const features = expectPlainObject('securityHeaders', option, policy, 'an object of features → allowlists, or false')
  const members: string[] = []
  const seen = new Set<string>()
  for (const [key, allowlist] of Object.entries(features)) {
    const where = `${option}.${key}`
    const feature = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    if (!SF_KEY.test(feature) || seen.has(feature)) {
      throw new ConfigError(
        'securityHeaders',
        where,
        seen.has(feature)
          ? 'given once'
          : 'a feature name (lower-case letters, digits, "-", "_", ".", or camelCase for the "-")',
        key,
        seen.has(feature) ? `"${key}" and "${feature}" name the same feature; keep one.` : '',
      )
    }
    seen.add(feature)
    if (!Array.isArray(allowlist)) {
      throw new ConfigError(
        'securityHeaders',
        where,
        'a list of allowed origins',
        allowlist,
        `Write [] for no one, ['self'] for this origin, or ['*'] for all.`,
      )
    }
    const items = (allowlist as unknown[]).map((entry) => allowlistItem(where, entry))
    if (items.includes('*')) {
      if (items.length > 1)
        throw new ConfigError('securityHeaders', where, `"*" alone`, allowlist.join(' '), 'Remove the other entries.')
      members.push(`${feature}=*`)
    } else members.push(`${feature}=(${items.join(' ')})`)
  }
  if (members.length === 0)
    throw new ConfigError(
      'securityHeaders',
      option,
      'at least one feature',
      policy,
      'To send no Permissions-Policy, set it to false.',
    )
  return members.join(', ')
}

/** One allowlist entry as a structured-field item: `self` and `*` are tokens, origins strings. */
function allowlistItem(where: string, entry: unknown): string {
  if (entry === 'self' || entry === '*') return entry
  const expected = `"self", "*" or an origin such as "https://a.example"`
  if (entry === "'self'" || entry === '"self"')
    throw new ConfigError('securityHeaders', where, expected, entry, 'Write self without quotes (this is not CSP).')
  if (entry === 'none' || entry === "'none'")
    throw new ConfigError('securityHeaders', where, expected, entry, 'An empty list, [], allows no one.')
  if (typeof entry !== 'string' || !SF_STRING_CHARS.test(entry)) {
    throw new ConfigError('securityHeaders', where, expected, entry)
  }
  const origin = originOf(entry)
  if (origin !== entry) {
    throw new ConfigError(
      'securityHeaders',
      where,
      expected,
      entry,
      origin ? `An allowlist holds origins, without path: write "${origin}".` : '',
    )
  }
  return `"${entry}"`
}

function originOf(value: string): string | undefined {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
  } catch {
    return undefined
  }
}

/**
 * The `Reporting-Endpoints` value of `endpoints`, e.g. `csp="https://r.example/csp"` (Reporting
 * API §3.2: a dictionary of URL strings). Absolute URLs must be https, or http on loopback:
 * browsers send reports only to potentially trustworthy URLs. Returns the value and the names.
 */
export function compileReportingEndpoints(option: string, endpoints: unknown): { value: string; names: string[] } {
  const byName = expectPlainObject('securityHeaders', option, endpoints, 'an object of endpoint names → URLs, or false')
  const members: string[] = []
  for (const [name, url] of Object.entries(byName)) {
    const where = `${option}.${name}`
    if (!SF_KEY.test(name)) {
      throw new ConfigError(
        'securityHeaders',
        where,
        'named in lower-case letters, digits, "_", "-", "." or "*" (a structured-field key)',
        name,
        `Rename it, e.g. "${name.toLowerCase().replace(/[^a-z0-9_\-.*]/g, '-')}", and use that name in report-to.`,
      )
    }
    if (typeof url !== 'string' || !SF_STRING_CHARS.test(url)) {
      throw new ConfigError('securityHeaders', where, 'a URL (visible ASCII, no quotes or backslashes)', url)
    }
    let parsed: URL
    try {
      parsed = new URL(url, 'https://relative.invalid')
    } catch {
      throw new ConfigError('securityHeaders', where, 'a URL', url)
    }
    const absolute = parsed.hostname !== 'relative.invalid'
    if (absolute && parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopback(parsed.hostname))) {
      throw new ConfigError(
        'securityHeaders',
        where,
        'an https URL (or http on localhost), or a path on this origin',
        url,
        'Browsers send reports only to potentially trustworthy URLs.',
      )
    }
    members.push(`${name}="${url}"`)
  }
  if (members.length === 0)
    throw new ConfigError(
      'securityHeaders',
      option,
      'at least one endpoint',
      endpoints,
      'To send no Reporting-Endpoints, set it to false.',
    )
  return { value: members.join(', '), names: Object.keys(byName) }
}

const isLoopback = (host: string) =>
  host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '[::1]'
