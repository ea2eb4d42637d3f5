/**
 * Parsing and trust for proxyHeaders(): the RFC 7239 `Forwarded` header, the nodes of
 * `Forwarded: for=` and `X-Forwarded-For`, comma lists read from the right, and the
 * compiled `trustedProxies` setting. Parsing is strict: a value it cannot read is
 * `undefined`, and the caller fails closed instead of guessing.
 * @module
 */
import { ConfigError } from '../../core/errors.js'
import { compileRanges, inRange, namedRanges, parseCidr, parseIp, type IpBytes, type IpRange } from '../../core/ip.js'
import { expectArray, isToken } from '../../core/options.js'

/** One `Forwarded` element: the parameters one proxy reported about the hop it received. */
export interface ForwardedElement {
  readonly for?: string
  readonly by?: string
  readonly proto?: string
  readonly host?: string
}

/**
 * The element strings of a `Forwarded` value, split on commas outside quoted strings
 * (RFC 7239 §4 uses the RFC 9110 list rule). Empty elements are dropped (RFC 9110 §5.6.1),
 * as {@link ListFromRight} drops them from `X-Forwarded-For`.
 * Undefined when a quoted string is never closed: then no comma can be trusted to split
 * elements, since a client's unclosed quote would swallow what proxies appended after it.
 */
export function splitForwarded(value: string): string[] | undefined {
  const elements: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (quoted) {
      if (c === 0x5c /* \ */) i++
      else if (c === 0x22 /* " */) quoted = false
    } else if (c === 0x22) {
      quoted = true
    } else if (c === 0x2c /* , */) {
      pushTrimmed(elements, value.slice(start, i))
      start = i + 1
    }
  }
  if (quoted) return undefined
  pushTrimmed(elements, value.slice(start))
  return elements
}

const KNOWN_PARAMETERS = new Set(['for', 'by', 'proto', 'host'])

/**
 * Parse one element: `pair *( ";" pair )` with `pair = token "=" ( token / quoted-string )`
 * (RFC 7239 §4). Parameter names are case-insensitive; a parameter given twice makes
 * the element invalid (§4: "MUST NOT occur more than once"). Unknown parameters are
 * allowed and ignored (§5.5 extensions). Undefined when malformed.
 */
export function parseForwardedElement(element: string): ForwardedElement | undefined {
  const out: Record<string, string> = {}
  const seen = new Set<string>()
  let i = 0
  const n = element.length
  while (i < n) {
    while (i < n && isSpace(element.charCodeAt(i))) i++
    const eq = element.indexOf('=', i)
    if (eq < 0) return undefined
    const name = element.slice(i, eq).toLowerCase()
    if (!isToken(name) || seen.has(name)) return undefined
    seen.add(name)
    i = eq + 1
    let value: string
    if (element.charCodeAt(i) === 0x22) {
      // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
      let text = ''
      i++
      for (;;) {
        if (i >= n) return undefined
        const c = element.charCodeAt(i)
        if (c === 0x22) {
          i++
          break
        }
        if (c === 0x5c) {
          if (i + 1 >= n) return undefined
          text += element[i + 1]
          i += 2
          continue
        }
        if (c < 0x20 && c !== 0x09) return undefined
        text += element[i]
        i++
      }
      value = text
    } else {
      let end = i
      while (end < n && element.charCodeAt(end) !== 0x3b /* ; */ && !isSpace(element.charCodeAt(end))) end++
      value = element.slice(i, end)
      if (!isToken(value)) return undefined
      i = end
    }
    while (i < n && isSpace(element.charCodeAt(i))) i++
    if (i < n) {
      if (element.charCodeAt(i) !== 0x3b) return undefined
      i++
    }
    if (KNOWN_PARAMETERS.has(name)) out[name] = value
  }
  return out
}

const NODE_PORT = /^(?:[1-9]\d{0,4}|_[A-Za-z0-9._-]+)$/

/**
 * The address of a node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::1]`,
 * `[2001:db8::1]:4711`; with `bareIpv6`, also unbracketed IPv6 as X-Forwarded-For
 * carries it. Undefined for `unknown`, obfuscated identifiers (`_hidden`) and anything
 * malformed: none of them names an address to trust or to key by.
 */
export function parseNode(text: string, bareIpv6: boolean): IpBytes | undefined {
  if (text.length === 0 || text.length > 80) return undefined
  let address: string
  let port: string | undefined
  if (text.charCodeAt(0) === 0x5b /* [ */) {
    const close = text.indexOf(']')
    if (close < 0) return undefined
    address = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (rest !== '') {
      if (rest[0] !== ':') return undefined
      port = rest.slice(1)
    }
    if (!address.includes(':')) return undefined
  } else {
    const colon = text.indexOf(':')
    if (colon >= 0 && text.indexOf(':', colon + 1) >= 0) {
      if (!bareIpv6) return undefined
      address = text
    } else if (colon >= 0) {
      address = text.slice(0, colon)
      port = text.slice(colon + 1)
    } else {
      address = text
    }
    if (address.includes(':') === false && address.includes('%')) return undefined
  }
  if (port !== undefined && (!NODE_PORT.test(port) || (port[0] !== '_' && Number(port) > 65535))) return undefined
  return parseIp(address)
}

/**
 * A comma-separated list read from the right, one element at a time, by the list rule of
 * RFC 9110 §5.6.1 that `X-Forwarded-For` and its siblings share with `Forwarded`: elements
 * are trimmed of optional whitespace, and empty elements are ignored (`a, ,b,` is `a`, `b`),
 * as proxy-addr (Express) and `splitForwarded` read them. Only the elements asked for are
 * touched, however long the list. A class, not a closure (see core/listener-node.ts).
 */
export class ListFromRight {
  private readonly value: string
  private end: number

  constructor(value: string) {
    this.value = value
    this.end = value.length
  }

  /** The next non-empty element to the left, trimmed, or undefined when none is left. */
  next(): string | undefined {
    const value = this.value
    let end = this.end
    while (end > 0) {
      const comma = commaBefore(value, end)
      const element = value.slice(comma + 1, end).trim()
      end = Math.max(comma, 0)
      if (element !== '') {
        this.end = end
        return element
      }
    }
    this.end = 0
    return undefined
  }
}

/**
 * The element `index` places from the right (0 = last) of a comma-separated list such as
 * `X-Forwarded-Proto`, trimmed, counting non-empty elements only (the same rule as
 * {@link ListFromRight}); undefined when the list is shorter.
 */
export function entryFromRight(value: string, index: number): string | undefined {
  const list = new ListFromRight(value)
  for (let i = 0; i < index; i++) if (list.next() === undefined) return undefined
  return list.next()
}

/** The last comma before position `end`, or -1. (`lastIndexOf(',', -1)` would look at index 0.) */
export function commaBefore(value: string, end: number): number {
  return end === 0 ? -1 : value.lastIndexOf(',', end - 1)
}

function pushTrimmed(list: string[], text: string): void {
  const trimmed = text.trim()
  if (trimmed !== '') list.push(trimmed)
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09
}

/** `trustedProxies` compiled: a range matcher, or the user's function; `text` describes it for explain(). */
export type CompiledTrust =
  | { ranges: (ip: IpBytes) => boolean; fn?: undefined; text: string }
  | { ranges?: undefined; fn: (ip: string, hop: number) => boolean; text: string }

/**
 * Prefixes shorter than these draw a warning: an IPv4 /8 is already 16 million addresses of
 * many organisations, and IPv6 /16 spans many RIR allocations (registries hand out /12s; the
 * widest ranges a CDN or cloud publishes for its proxies are around /29). IPv6 ranges inside
 * the named non-public ranges (`fc00::/7`, `fe80::/10`) are exempt: no Internet client has
 * such an address.
 */
const WIDE_PREFIX: Readonly<Record<4 | 6, number>> = Object.freeze({ 4: 8, 6: 16 })

/**
 * Addresses a `trustedProxies` function is probed with at construction: documentation
 * ranges (RFC 5737, RFC 3849) that no real proxy has, standing for any Internet client.
 */
const TRUST_PROBES: readonly string[] = Object.freeze(['192.0.2.1', '198.51.100.1', '2001:db8::1'])
/** A hop no real chain reaches: a function trusting a probe there trusts every hop. */
const TRUST_PROBE_DEEP_HOP = 1000

const TRUST_ALL_FIX =
  'To trust every hop (any client then chooses its own address, scheme and host), say so explicitly: ' +
  'proxyHeaders({ dangerouslyTrustAllProxies: true }), without trustedProxies. Otherwise list your proxies, e.g. ["loopback"] or ["10.0.0.0/8"].'

/** Validate and compile the trust settings of proxyHeaders(); throws a ConfigError naming the fix. */
export function compileTrust(
  value: readonly string[] | ((ip: string, hop: number) => boolean) | undefined,
  trustAll: boolean,
): CompiledTrust {
  if (trustAll) {
    if (value !== undefined) {
      throw new ConfigError(
        'proxyHeaders',
        'trustedProxies',
        'absent when dangerouslyTrustAllProxies is true',
        value,
        'Keep one: the list (recommended) or dangerouslyTrustAllProxies.',
      )
    }
    return { ranges: () => true, text: 'DANGEROUSLY trusting every hop' }
  }
  if (typeof value === 'function') {
    probeTrustFunction(value)
    return { fn: value, text: 'trust by function' }
  }
  if ((value as unknown) === true)
    throw new ConfigError(
      'proxyHeaders',
      'trustedProxies',
      'a list of proxy addresses or a function',
      value,
      TRUST_ALL_FIX,
    )
  const fix =
    'List the addresses or CIDR ranges of your proxies, e.g. trustedProxies: ["loopback"] for a proxy on this machine, ' +
    'or ["10.0.0.0/8"]; named ranges: loopback, private, linklocal, cgnat.'
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    throw new ConfigError(
      'proxyHeaders',
      'trustedProxies',
      'a non-empty list of proxy addresses or a function',
      value,
      fix,
    )
  }
  const entries = expectArray('proxyHeaders', 'trustedProxies', value, (entry) => {
    if (typeof entry !== 'string')
      throw new ConfigError('proxyHeaders', 'trustedProxies', 'a list of strings', entry, fix)
    if (entry.trim() === '*')
      throw new ConfigError(
        'proxyHeaders',
        'trustedProxies',
        'addresses, CIDR ranges or named ranges',
        entry,
        TRUST_ALL_FIX,
      )
    return entry
  })
  const { match, invalid } = compileRanges(entries)
  if (invalid.length > 0) {
    throw new ConfigError('proxyHeaders', 'trustedProxies', 'addresses, CIDR ranges or named ranges', invalid[0], fix)
  }
  for (const entry of entries) {
    if (namedRanges[entry.toLowerCase()] !== undefined) continue
    const range = parseCidr(entry.trim())!
    // 0.0.0.0/0, ::/0 (and ::ffff:0.0.0.0/96, which is IPv4's /0) trust every address
    // of the family: the '*' that is refused above, spelled as a range.
    if (range.prefix === 0) {
      throw new ConfigError(
        'proxyHeaders',
        'trustedProxies',
        'ranges narrower than /0',
        entry,
        `A /0 range trusts every address. ${TRUST_ALL_FIX}`,
      )
    }
    if (range.prefix < WIDE_PREFIX[range.version] && !insideNamedRange(range)) {
      warnOnce(
        `proxyHeaders(): trustedProxies entry "${entry}" is wider than /${WIDE_PREFIX[range.version]}: every client with an address in it ` +
          "chooses its own address, scheme and host. List your proxies' own addresses or ranges.",
      )
    }
  }
  return { ranges: match, text: `trust ${entries.join(', ')}` }
}

/**
 * Call a `trustedProxies` function with documentation addresses, which stand for any
 * client. Trusting one even at a hop no chain reaches means trusting every hop: refused,
 * as `'*'` is. Trusting one only near the server (trust by position, such as
 * `(ip, hop) => hop < 2`) is safe only while no client can reach the server but through
 * the proxies: warned about once. Errors the function throws are its own business here.
 */
function probeTrustFunction(fn: (ip: string, hop: number) => boolean): void {
  const trusts = (ip: string, hop: number): boolean => {
    try {
      return Boolean(fn(ip, hop))
    } catch {
      return false
    }
  }
  const everywhere = TRUST_PROBES.find((ip) => trusts(ip, TRUST_PROBE_DEEP_HOP))
  if (everywhere !== undefined) {
    throw new ConfigError(
      'proxyHeaders',
      'trustedProxies',
      'a function that trusts only your proxies',
      fn,
      `It trusts ${everywhere} (a documentation address no proxy has, standing for any client) even ${TRUST_PROBE_DEEP_HOP} hops away, ` +
        `so every hop of every chain is believed. ${TRUST_ALL_FIX}`,
    )
  }
  for (const hop of [0, 1]) {
    const near = TRUST_PROBES.find((ip) => trusts(ip, hop))
    if (near !== undefined) {
      warnOnce(
        `proxyHeaders(): the trustedProxies function trusts ${near} (a documentation address, standing for any client) at hop ${hop}: ` +
          'trust by position is safe only if no client can reach this server except through your proxies; one that can chooses its own ' +
          "address, scheme and host. Prefer checking the hop's address.",
      )
      return
    }
  }
}

/** Whether `range` lies inside one of the named ranges, none of which an Internet client can have. */
function insideNamedRange(range: IpRange): boolean {
  return Object.values(namedRanges).some((texts) =>
    texts.some((text) => {
      const named = parseCidr(text)!
      return named.version === range.version && range.prefix >= named.prefix && inRange(range, named)
    }),
  )
}

// Process-wide on purpose, as compose's ordering warnings: a stack built per test or per
// tenant must not repeat the same warning.
const warned = new Set<string>()

function warnOnce(message: string): void {
  if (warned.has(message)) return
  warned.add(message)
  process.emitWarning(message, { type: 'SecurityWarning', code: 'HTTP_ONION_WIDE_PROXY_TRUST' })
}
