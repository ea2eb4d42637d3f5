/**
 * Hosts and redirect targets: strict parsing of a `Host` value (or a forwarded host),
 * one canonical text per host, and the safe path-and-query of a request for a redirect
 * to the same resource elsewhere. proxyHeaders, trustedHost and httpsRedirect share it,
 * so `Example.COM.:443`, `[0::1]` and `[::1]evil.example.com` mean the same thing (or
 * nothing) in all three.
 * @module
 */
import { formatIp, parseIp } from './ip.js'

/** A parsed host. */
export interface ParsedHost {
  /** Lower-case name without trailing dot, dotted IPv4, or canonical IPv6 text without brackets. */
  readonly hostname: string
  /** The port, when one was given. */
  readonly port: number | undefined
  /** What `hostname` is. */
  readonly kind: 'name' | 'ipv4' | 'ipv6'
}

// RFC 1123 §2.1 labels: letters, digits, hyphens, not starting or ending with a hyphen.
// Underscores are accepted (service names, some internal hosts); percent-escapes and the
// other RFC 3986 sub-delims are not: no browser sends them, and `@` or `!` in a host is
// how parser-differential attacks start.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/
const PORT = /^[1-9]\d{0,4}$/
const DOTTED_NUMBERS = /^[0-9.]+$/

/**
 * Parse `host[:port]` as sent in `Host`, `X-Forwarded-Host` or `Forwarded: host=`.
 * Case is folded and one trailing dot dropped; IPv6 must be bracketed (`[::1]:8080`).
 * Undefined for anything else: empty, userinfo (`a.com@b.com`), text after the bracket
 * (`[::1]evil.com`), zone ids, a port that is empty, zero, padded or above 65535,
 * a numeric last label that is not a valid IPv4 address (`1.2.3`, `0x7f.1` are IPv4 to
 * a browser's URL parser).
 */
export function parseHost(text: string): ParsedHost | undefined {
  if (text.length === 0 || text.length > 261) return undefined
  let name: string
  let portText: string | undefined
  if (text.charCodeAt(0) === 0x5b /* [ */) {
    const close = text.indexOf(']')
    if (close < 0) return undefined
    const rest = text.slice(close + 1)
    if (rest !== '' && rest[0] !== ':') return undefined
    portText = rest === '' ? undefined : rest.slice(1)
    const inner = text.slice(1, close)
    if (inner.includes('%') || !inner.includes(':')) return undefined
    const ip = parseIp(inner)
    if (!ip) return undefined
    const port = optionalPort(portText)
    if (port === null) return undefined
    // An IPv4-mapped literal is the IPv4 host; it keeps no brackets.
    return { hostname: formatIp(ip), port, kind: ip.version === 6 ? 'ipv6' : 'ipv4' }
  }
  const colon = text.indexOf(':')
  if (colon >= 0) {
    if (text.indexOf(':', colon + 1) >= 0) return undefined // bare IPv6 or two ports
    name = text.slice(0, colon)
    portText = text.slice(colon + 1)
  } else {
    name = text
  }
  const port = optionalPort(portText)
  if (port === null) return undefined
  name = name.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  if (name.length === 0 || name.length > 253) return undefined
  const labels = name.split('.')
  for (const label of labels) if (!LABEL.test(label)) return undefined
  if (DOTTED_NUMBERS.test(name) || /^\d+$/.test(labels[labels.length - 1]!) || /^0x/.test(labels[labels.length - 1]!)) {
    const ip = parseIp(name)
    return ip && ip.version === 4 ? { hostname: formatIp(ip), port, kind: 'ipv4' } : undefined
  }
  return { hostname: name, port, kind: 'name' }
}

/**
 * The text of `host` for a URL or a `Host` value: IPv6 bracketed, the port appended
 * unless it is missing or equals `defaultPort`.
 */
export function formatHost(host: ParsedHost, defaultPort?: number): string {
  const name = host.kind === 'ipv6' ? `[${host.hostname}]` : host.hostname
  return host.port === undefined || host.port === defaultPort ? name : `${name}:${host.port}`
}

/**
 * The path and query of request target `target`, safe to append to `scheme://host` in a
 * redirect: always starting with exactly one `/` (a leading `//` would make a
 * scheme-relative URL, i.e. another host, wherever the result is used as a relative
 * reference), backslashes percent-encoded (browsers read `\` as `/` in http URLs),
 * absolute-form targets reduced to their path, `*` read as `/`, and anything outside
 * visible ASCII percent-encoded.
 */
export function redirectPath(target: string | undefined): string {
  if (target === undefined || target === '' || target === '*') return '/'
  let path = target
  if (path.charCodeAt(0) !== 0x2f /* / */) {
    // Absolute-form (RFC 9112 §3.2.2): keep what follows the authority.
    const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#\\]*/.exec(path)
    if (absolute) path = path.slice(absolute[0].length)
  }
  if (/[^\x21-\x7e]|\\/.test(path)) {
    path = path.replace(/[^\x21-\x7e]|\\/g, (c) => {
      const code = c.charCodeAt(0)
      return code <= 0xff ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c)
    })
  }
  // Fold every leading slash into one; keep a query that came without a path.
  let start = 0
  while (path.charCodeAt(start) === 0x2f) start++
  return '/' + path.slice(start)
}

/**
 * A port as written in a `Host` value or `X-Forwarded-Port`: decimal digits, 1 to 65535,
 * no sign, no leading zero; undefined for anything else.
 */
export function parsePort(text: string): number | undefined {
  if (!PORT.test(text)) return undefined
  const port = Number(text)
  return port <= 65535 ? port : undefined
}

/** `undefined` for no port, `null` for an invalid one. */
function optionalPort(text: string | undefined): number | undefined | null {
  return text === undefined ? undefined : (parsePort(text) ?? null)
}

/**
 * Single labels reserved for local or private use, never delegated in the public DNS:
 * `localhost`, `test`, `example`, `invalid` (RFC 6761), `local` (mDNS, RFC 6762),
 * `internal` (ICANN, 2024), and `lan`, which RFC 6762 Appendix G lists among the names in
 * private use. A wildcard over one of these cannot match a stranger's site.
 */
export const LOCAL_USE_LABELS: readonly string[] = Object.freeze([
  'localhost',
  'test',
  'example',
  'invalid',
  'local',
  'internal',
  'lan',
])

/**
 * The rule for the domain under a host wildcard (`*.<domain>`), shared by trustedHost and
 * cors: two labels or more (`*.example.com`, `*.home.arpa`), or one label reserved for local
 * use (`*.test`). Returns the reason and fix when `domain` breaks it, else undefined.
 */
export function wildcardDomainProblem(domain: string): string | undefined {
  if (domain.includes('.') || LOCAL_USE_LABELS.includes(domain.toLowerCase())) return undefined
  return (
    'A wildcard needs a domain of two labels or more, or a single label reserved for local use, under it: ' +
    `"*.${domain}" accepts every host under "${domain}", a name that may be delegated publicly. Write the hosts in ` +
    `full ("app.${domain}"), put the wildcard under two labels ("*.app.${domain}"), or use a suffix reserved for ` +
    `local use: ${LOCAL_USE_LABELS.map((l) => `"*.${l}"`).join(', ')}.`
  )
}
