/**
 * IP addresses: strict parsing, one canonical text per address, CIDR ranges, and the
 * grouping of IPv6 addresses by prefix. Every layer that compares or keys by address
 * (proxy trust, rate limiting, logs) goes through here, so `::ffff:10.0.0.1`, `10.0.0.1`
 * and `fe80::1%eth0` / `FE80:0::1` are each one address everywhere.
 * @module
 */

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export interface IpBytes {
  readonly version: 4 | 6
  readonly bytes: Uint8Array
}

/** A CIDR range. */
export interface IpRange extends IpBytes {
  readonly prefix: number
}

const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/**
 * Parse an IPv4 or IPv6 address. Zone ids (`%eth0`) are dropped, IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) becomes IPv4. Leading zeros in IPv4 parts are refused (they are
 * octal to some parsers, decimal to others). Brackets are not accepted here.
 */
export function parseIp(text: string): IpBytes | undefined {
  if (text.length === 0 || text.length > 64) return undefined
  if (text.includes(':')) return parseIpv6(text)
  const v4 = parseIpv4(text)
  return v4 && { version: 4, bytes: v4 }
}

/** The canonical text of an address (RFC 5952 for IPv6), or undefined when it is not one. */
export function normalizeIp(text: string): string | undefined {
  // Fast path: the socket gives plain IPv4 and IPv6 text; most of it is already canonical.
  const parsed = parseIp(text)
  return parsed && formatIp(parsed)
}

/** Format bytes as canonical text: dotted IPv4, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: IpBytes): string {
  const b = ip.bytes
  if (ip.version === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!)
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/** Parse `10.0.0.0/8`, `2001:db8::/32`, or a single address (a full-length range). */
export function parseCidr(text: string): IpRange | undefined {
  const slash = text.indexOf('/')
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash))
  if (!ip) return undefined
  const max = ip.version === 4 ? 32 : 128
  if (slash < 0) return { ...ip, prefix: max }
  const prefixText = text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText)) return undefined
  // An IPv4-mapped range (::ffff:10.0.0.0/104) became IPv4: its prefix shrinks by 96.
  const written = Number(prefixText)
  const prefix = ip.version === 4 && text.includes(':') ? written - 96 : written
  if (prefix < 0 || prefix > max) return undefined
  return { version: ip.version, bytes: maskBytes(ip.bytes, prefix), prefix }
}

/** Whether `ip` lies in `range`. */
export function inRange(ip: IpBytes, range: IpRange): boolean {
  if (ip.version !== range.version) return false
  const full = range.prefix >> 3
  for (let i = 0; i < full; i++) if (ip.bytes[i] !== range.bytes[i]) return false
  const rest = range.prefix & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (ip.bytes[full]! & mask) === range.bytes[full]
}

/** Named ranges usable wherever a list of addresses is configured. */
export const namedRanges: Readonly<Record<string, readonly string[]>> = Object.freeze({
  loopback: ['127.0.0.0/8', '::1/128'],
  /** RFC 1918 and RFC 4193 unique local addresses. */
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  /** RFC 6598 carrier-grade NAT, where some cloud load balancers live. */
  cgnat: ['100.64.0.0/10'],
})

/**
 * Compile a list of addresses, CIDR ranges and named ranges into a matcher.
 * Returns the entries it could not parse instead of throwing, so a factory can name them.
 */
export function compileRanges(entries: readonly string[]): { match: (ip: IpBytes) => boolean; invalid: string[] } {
  const ranges: IpRange[] = []
  const invalid: string[] = []
  for (const entry of entries) {
    const named = namedRanges[entry.toLowerCase()]
    for (const text of named ?? [entry]) {
      const range = parseCidr(text.trim())
      if (range) ranges.push(range)
      else invalid.push(entry)
    }
  }
  return { match: (ip) => ranges.some((range) => inRange(ip, range)), invalid }
}

/**
 * A key grouping addresses that one client controls: IPv6 by its first `v6Prefix` bits
 * (a home or a VM gets a /64, and can spray every address in it), IPv4 by `v4Prefix`.
 * Text that is not an address is returned unchanged.
 */
export function ipPrefixKey(text: string, v6Prefix = 64, v4Prefix = 32): string {
  const ip = parseIp(text)
  if (!ip) return text
  const prefix = ip.version === 4 ? v4Prefix : v6Prefix
  const masked = formatIp({ version: ip.version, bytes: maskBytes(ip.bytes, prefix) })
  return prefix === (ip.version === 4 ? 32 : 128) ? masked : `${masked}/${prefix}`
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length)
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8))
    out[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff)
  }
  return out
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const bytes = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i]!)) return undefined
    bytes[i] = Number(parts[i])
  }
  return bytes
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/

function parseIpv6(input: string): IpBytes | undefined {
  const zone = input.indexOf('%')
  const text = zone < 0 ? input : input.slice(0, zone)
  if (zone === 0 || (zone > 0 && zone === input.length - 1)) return undefined
  const double = text.indexOf('::')
  if (double >= 0 && text.indexOf('::', double + 1) >= 0) return undefined
  const head = double < 0 ? text : text.slice(0, double)
  const tail = double < 0 ? '' : text.slice(double + 2)
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = tail === '' ? [] : tail.split(':')
  const all = [...headParts, ...tailParts]
  let embedded: Uint8Array | undefined
  if (all.length > 0 && all[all.length - 1]!.includes('.')) {
    embedded = parseIpv4(all[all.length - 1]!)
    if (!embedded) return undefined
    if (tailParts.length > 0) tailParts.pop()
    else if (double < 0) headParts.pop()
    else return undefined // "1.2.3.4::": an IPv4 tail must come last
  }
  const groupCount = headParts.length + tailParts.length + (embedded ? 2 : 0)
  if (double < 0 ? groupCount !== 8 : groupCount > 7) return undefined
  const groups: number[] = []
  for (const part of headParts) {
    if (!HEXTET.test(part)) return undefined
    groups.push(parseInt(part, 16))
  }
  const fill = 8 - groupCount
  for (let i = 0; i < fill; i++) groups.push(0)
  for (const part of tailParts) {
    if (!HEXTET.test(part)) return undefined
    groups.push(parseInt(part, 16))
  }
  if (embedded) groups.push((embedded[0]! << 8) | embedded[1]!, (embedded[2]! << 8) | embedded[3]!)
  const bytes = new Uint8Array(16)
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8
    bytes[i * 2 + 1] = g & 0xff
  })
  // IPv4-mapped (::ffff:a.b.c.d): the same host as a.b.c.d, so the same address here.
  if (bytes.subarray(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return { version: 4, bytes: bytes.slice(12) }
  }
  return { version: 6, bytes }
}
