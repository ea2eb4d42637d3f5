/**
 * Cookies: reading the `Cookie` request header and writing `Set-Cookie` (RFC 6265,
 * with the prefixes and limits of RFC 6265bis). Shared by jwtAuth (a token in a cookie)
 * and session. Attributes are validated once, when a middleware is built, and the
 * `Set-Cookie` text is precomputed, so a request only pays for joining the value in.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { clientIdentity } from './client.js'
import { ConfigError } from './errors.js'
import { defineDefaults, isToken, withNestedDefaults } from './options.js'

/** Attributes of a cookie, validated by {@link compileCookie}. */
export interface CookieAttributes {
  /** `Path`: the URL path prefix the browser sends the cookie for. @default '/' */
  path?: string
  /** `Domain`: share the cookie with subdomains of this domain. Leave unset to bind it to the exact host. */
  domain?: string
  /** `HttpOnly`: hide the cookie from page scripts. @default true */
  httpOnly?: boolean
  /**
   * `Secure`: send only over https. `'auto'` sets it when the client reached us over
   * https (the connection's scheme, or the one `proxyHeaders()` established).
   * @default 'auto'
   */
  secure?: boolean | 'auto'
  /** `SameSite`: `'lax'`, `'strict'`, `'none'` (needs `secure: true`), or false to omit it. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | false
  /** `Partitioned` (CHIPS): a third-party cookie kept per top-level site. Needs `secure: true`. @default false */
  partitioned?: boolean
  /**
   * `Max-Age` in seconds, or undefined for a cookie that lives as long as the browser
   * session. At most 400 days, the limit browsers apply (RFC 6265bis §5.6.2).
   */
  maxAge?: number
}

const ATTRIBUTE_DEFAULTS = defineDefaults<CookieAttributes, 'domain' | 'maxAge'>({
  path: '/',
  domain: undefined,
  httpOnly: true,
  secure: 'auto',
  sameSite: 'lax',
  partitioned: false,
  maxAge: undefined,
})

/** A cookie whose name and attributes were validated and precomputed. */
export interface CompiledCookie {
  /** The cookie's name. */
  readonly name: string
  /** The resolved attributes (defaults filled in). */
  readonly attributes: Readonly<Required<Omit<CookieAttributes, 'domain' | 'maxAge'>>> & {
    readonly domain?: string
    readonly maxAge?: number
  }
  /**
   * The `Set-Cookie` value for `value` (which must be cookie-octets: base64url is), for
   * the response to `req` (which decides `Secure` when it is `'auto'`). `maxAge`
   * overrides the compiled `Max-Age` for this one cookie; `null` omits it.
   */
  serialize(value: string, req: IncomingMessage, maxAge?: number | null): string
  /** A `Set-Cookie` value that makes the browser delete the cookie (empty, `Max-Age=0`). */
  clear(req: IncomingMessage): string
}

/** Longest `Max-Age` browsers keep: 400 days (RFC 6265bis §5.6.2). */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 60 * 60

/** Size limit per cookie that every browser honours: name, value and attributes (RFC 6265 §6.1). */
export const MAX_COOKIE_BYTES = 4096

// RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
// (visible ASCII except DQUOTE, comma, semicolon and backslash).
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/
// RFC 6265 §4.1.1: path-value = <any CHAR except CTLs or ";">. Non-ASCII is refused too:
// browsers compare paths byte for byte with the percent-encoded request path.
const PATH_VALUE = /^\/[\x20-\x3a\x3c-\x7e]*$/
// RFC 1034 §3.5 labels, optionally with the leading dot RFC 6265 §5.2.3 tells browsers to ignore.
const DOMAIN_VALUE = /^\.?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i

/** True when `name` can be a cookie name (an RFC 9110 token). */
export const isCookieName = (name: string): boolean => isToken(name)

/** True when `value` can be sent unquoted as a cookie value (RFC 6265 cookie-octets). */
export const isCookieValue = (value: string): boolean => COOKIE_VALUE.test(value)

/**
 * Every value the request sent for cookie `name`, in the order sent. Browsers send the
 * cookie with the longest path first (RFC 6265 §5.4), but a sibling subdomain can add one
 * of the same name, so callers that verify values should try each. Quoted values lose
 * their quotes; nothing is percent-decoded. `[]` when the cookie was not sent.
 */
export function getCookies(req: IncomingMessage, name: string): string[] {
  const found: string[] = []
  const header = req.headers.cookie
  if (header === undefined || header.length === 0) return found
  let at = 0
  while (at < header.length) {
    let end = header.indexOf(';', at)
    if (end < 0) end = header.length
    const value = valueIfNamed(header, at, end, name)
    if (value !== undefined) found.push(value)
    at = end + 1
  }
  return found
}

/**
 * The first value the request sent for cookie `name`, or `undefined` when it sent none. A
 * lookup by name, not a state accessor: a missing cookie is an answer, not a mistake, so
 * it never throws. HTTP/2 `Cookie` crumbs arrive joined by Node.
 * @example
 * const theme = getCookie(req, 'theme') ?? 'light'
 */
export function getCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (header === undefined || header.length === 0) return undefined
  let at = 0
  while (at < header.length) {
    let end = header.indexOf(';', at)
    if (end < 0) end = header.length
    const value = valueIfNamed(header, at, end, name)
    if (value !== undefined) return value
    at = end + 1
  }
  return undefined
}

/**
 * Every cookie of a `Cookie` header value, the first value of each name winning: the parser
 * for a header that is not a request's (one read from a log, a test, a proxied call).
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined) return cookies
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim()
    if (name.length === 0 || cookies.has(name)) continue
    cookies.set(name, unquote(pair.slice(eq + 1).trim()))
  }
  return cookies
}

/**
 * Validate a cookie's name and attributes and precompute its `Set-Cookie` text. Throws a
 * `ConfigError` naming `middleware` and `option` for anything a browser would reject or
 * that could inject attributes: `;`, CR, LF or other control characters anywhere,
 * `SameSite=None` or `Partitioned` without `Secure`, and the rules of the `__Secure-` and
 * `__Host-` name prefixes (RFC 6265bis §4.1.3).
 * @example
 * const cookie = compileCookie('session', 'cookie', 'sid', { sameSite: 'strict' })
 * res.appendHeader('set-cookie', cookie.serialize(value, req))
 */
export function compileCookie(
  middleware: string,
  option: string,
  name: unknown,
  attributes: CookieAttributes = {},
): CompiledCookie {
  if (typeof name !== 'string' || !isCookieName(name)) {
    throw new ConfigError(
      middleware,
      `${option}.name`,
      'a cookie name (RFC 9110 token characters: no spaces, ";", "=" or control characters)',
      name,
      'Use letters, digits, "-" and "_", e.g. "session", or "__Host-session" to bind it to one host.',
    )
  }
  const { path, domain, httpOnly, secure, sameSite, partitioned, maxAge } = withNestedDefaults(
    middleware,
    option,
    ATTRIBUTE_DEFAULTS,
    attributes,
    'an object of cookie attributes',
  )

  if (typeof path !== 'string' || !PATH_VALUE.test(path)) {
    throw new ConfigError(
      middleware,
      `${option}.path`,
      'a path starting with "/" without ";" or control characters',
      path,
      'Use "/" (the whole site, the default) or a path prefix such as "/app"; percent-encode other characters.',
    )
  }
  if (domain !== undefined && (typeof domain !== 'string' || domain.length > 253 || !DOMAIN_VALUE.test(domain))) {
    throw new ConfigError(
      middleware,
      `${option}.domain`,
      'a domain name (letters, digits, "-" and dots)',
      domain,
      'Leave it unset to bind the cookie to the exact host.',
    )
  }
  if (
    maxAge !== undefined &&
    (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_COOKIE_AGE_SECONDS)
  ) {
    throw new ConfigError(
      middleware,
      `${option}.maxAge`,
      `an integer number of seconds from 0 to ${MAX_COOKIE_AGE_SECONDS} (400 days)`,
      maxAge,
      'It is in seconds, not ms: 86_400 is one day. Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5).',
    )
  }
  if (typeof httpOnly !== 'boolean') throw new ConfigError(middleware, `${option}.httpOnly`, 'true or false', httpOnly)
  if (secure !== true && secure !== false && secure !== 'auto')
    throw new ConfigError(middleware, `${option}.secure`, 'true, false or "auto"', secure)
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none' && sameSite !== false) {
    throw new ConfigError(middleware, `${option}.sameSite`, '"lax", "strict", "none" or false', sameSite)
  }
  if (typeof partitioned !== 'boolean')
    throw new ConfigError(middleware, `${option}.partitioned`, 'true or false', partitioned)
  // Browsers drop these cookies when Secure is missing; 'auto' would make that depend on the request.
  if (sameSite === 'none' && secure !== true) {
    throw new ConfigError(
      middleware,
      `${option}.secure`,
      'true when sameSite is "none"',
      secure,
      'Browsers reject SameSite=None cookies without Secure.',
    )
  }
  if (partitioned && secure !== true) {
    throw new ConfigError(
      middleware,
      `${option}.secure`,
      'true when partitioned is true',
      secure,
      'Browsers reject Partitioned cookies without Secure.',
    )
  }
  if (/^__(secure|host)-/i.test(name) && secure !== true) {
    throw new ConfigError(
      middleware,
      `${option}.secure`,
      `true for a cookie named "${name}"`,
      secure,
      'Browsers reject __Secure- and __Host- cookies without Secure.',
    )
  }
  if (/^__host-/i.test(name) && (domain !== undefined || path !== '/')) {
    throw new ConfigError(
      middleware,
      domain !== undefined ? `${option}.domain` : `${option}.path`,
      `unset (domain) and "/" (path) for a cookie named "${name}"`,
      domain ?? path,
      'RFC 6265bis §4.1.3: __Host- cookies are bound to one host and the whole site.',
    )
  }

  // Everything after the value except Max-Age (which may change per cookie), for both Secure choices.
  const common = `${domain === undefined ? '' : `; Domain=${domain}`}; Path=${path}`
  const tail = `${httpOnly ? '; HttpOnly' : ''}${sameSite ? `; SameSite=${sameSite[0]!.toUpperCase()}${sameSite.slice(1)}` : ''}${partitioned ? '; Partitioned' : ''}`
  const plainSuffix = `${common}${tail}`
  const secureSuffix = `${common}; Secure${tail}`
  const prefix = `${name}=`

  const isSecure = secure === 'auto' ? (req: IncomingMessage) => clientIdentity(req).scheme === 'https' : () => secure

  return Object.freeze({
    name,
    attributes: Object.freeze({
      path,
      httpOnly,
      secure,
      sameSite,
      partitioned,
      ...(domain === undefined ? {} : { domain }),
      ...(maxAge === undefined ? {} : { maxAge }),
    }),
    serialize(value: string, req: IncomingMessage, age: number | null | undefined = maxAge): string {
      if (!COOKIE_VALUE.test(value))
        throw new TypeError(
          `${middleware}(): cookie "${name}" value contains characters a cookie cannot carry (RFC 6265 §4.1.1); encode it (base64url).`,
        )
      const ageText =
        age === null || age === undefined
          ? ''
          : `; Max-Age=${Math.max(0, Math.min(MAX_COOKIE_AGE_SECONDS, Math.floor(age)))}`
      return `${prefix}${value}${ageText}${isSecure(req) ? secureSuffix : plainSuffix}`
    },
    clear(req: IncomingMessage): string {
      // RFC 6265 §5.3 step 11: a cookie replaces the one with the same name, domain and
      // path, so the deletion must repeat them; Max-Age=0 expires it at once.
      return `${prefix}; Max-Age=0${isSecure(req) ? secureSuffix : plainSuffix}`
    },
  })
}

/** The value of the pair `header[start, end)` if its name is `name`, else undefined. */
function valueIfNamed(header: string, start: number, end: number, name: string): string | undefined {
  // Optional whitespace around pairs (RFC 6265 §5.4 uses "; "; older clients vary).
  while (start < end && (header.charCodeAt(start) === 0x20 || header.charCodeAt(start) === 0x09)) start++
  if (end - start <= name.length || !header.startsWith(name, start)) return undefined
  let at = start + name.length
  while (at < end && header.charCodeAt(at) === 0x20) at++
  if (header.charCodeAt(at) !== 0x3d /* = */) return undefined
  return unquote(header.slice(at + 1, end).trim())
}

function unquote(value: string): string {
  return value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22
    ? value.slice(1, -1)
    : value
}
