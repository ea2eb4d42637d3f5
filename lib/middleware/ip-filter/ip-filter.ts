/**
 * ipFilter(): allow and deny lists of addresses, CIDR ranges and named ranges, applied to
 * the one trusted client address (`clientIp`: the socket's peer, or what `proxyHeaders()`
 * established from the forwarded chain as far as trusted proxies vouch for it). It never
 * reads `X-Forwarded-For` itself. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are the
 * IPv4 address they map, in the lists and in requests alike.
 *
 * Deny wins: a request is refused when its address is in `deny`, or when `allow` is given
 * and the address is not in it. The order of entries never matters.
 * @module
 */
import { clientIp, warnIfForwardedIgnored } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { formatIp, inRange, type IpBytes, type IpRange, namedRanges, parseCidr, parseIp } from '../../core/ip.js'
import { defineDefaults, withDefaults } from '../../core/options.js'
import { sendError } from '../../core/send-error.js'
import type { Middleware } from '../../core/types.js'

const NAME = 'ipFilter'

/** Options for {@link ipFilter}. Give `allow`, `deny`, or both. */
export interface IpFilterOptions {
  /**
   * Only these may pass: addresses (`203.0.113.7`, `2001:db8::1`), CIDR ranges
   * (`10.0.0.0/8`, `2001:db8::/32`) and named ranges (`loopback`, `private`, `linklocal`,
   * `cgnat`). Unset lets every address not denied pass.
   */
  allow?: readonly string[]
  /** These are refused, even when `allow` contains them (deny wins). Same entries as `allow`. */
  deny?: readonly string[]
}

/** Defaults of {@link ipFilter}: neither list; one must be given. */
export const ipFilterDefaults = defineDefaults<IpFilterOptions, 'allow' | 'deny'>({
  allow: undefined,
  deny: undefined,
})

const NAMES = Object.keys(namedRanges).join(', ')
const DECISIONS_KEPT = 4096

/**
 * Refuse requests by client address with 403 `ip_forbidden`. Pitfall: behind a proxy,
 * mount `proxyHeaders()` before it, or every request has the proxy's address (a process
 * warning says so when forwarded headers arrive without it).
 * @example
 * const app = compose(proxyHeaders({ trustedProxies: ['loopback'] }), ipFilter({ allow: ['private'], deny: ['10.9.0.0/16'] }))(handler)
 */
export function ipFilter(options: IpFilterOptions): Middleware {
  const opts = withDefaults(NAME, ipFilterDefaults, options)
  const allow = opts.allow === undefined ? undefined : compileList('allow', opts.allow)
  const deny = opts.deny === undefined ? [] : compileList('deny', opts.deny)
  if (allow === undefined && deny.length === 0) {
    throw new ConfigError(
      NAME,
      'allow',
      'a list of addresses or ranges (or give deny)',
      undefined,
      "Give allow: ['private'] to admit only those, or deny: ['203.0.113.0/24'] to refuse those.",
    )
  }
  if (allow !== undefined) {
    // An allowed range that a denied one covers can never admit anything: a mistake.
    for (const a of allow) {
      const covering = deny.find((d) => d.range.prefix <= a.range.prefix && inRange(a.range, d.range))
      if (covering !== undefined) {
        throw new ConfigError(
          NAME,
          'allow',
          'ranges that deny does not cover entirely (deny wins)',
          a.entry,
          `deny entry "${covering.entry}" covers it, so it would never admit anyone. Remove one of the two.`,
        )
      }
    }
  }
  const allowRanges = allow?.map((e) => e.range)
  const denyRanges = deny.map((e) => e.range)
  const forbidden = new HttpError(403, 'Access from this address is not allowed', { code: 'ip_forbidden' })

  // Decisions by address text: clients come back, and a lookup is cheaper than parsing the
  // address and walking the ranges. Bounded: emptied when full, so a flood of new addresses
  // costs what it would without the cache, and memory stays flat.
  const decided = new Map<string, boolean>()

  function admits(text: string): boolean {
    const known = decided.get(text)
    if (known !== undefined) return known
    if (decided.size >= DECISIONS_KEPT) decided.clear()
    const answer = decide(text)
    decided.set(text, answer)
    return answer
  }

  /** Whether an address (canonical text from clientIp) may pass. */
  function decide(text: string): boolean {
    const ip = parseIp(text)
    // An unknown peer (the socket closed before the request was read) cannot be placed: refuse.
    if (ip === undefined) return false
    for (const range of denyRanges) if (inRange(ip, range)) return false
    if (allowRanges === undefined) return true
    for (const range of allowRanges) if (inRange(ip, range)) return true
    return false
  }

  const detail = `${allow === undefined ? '' : `allow ${allow.map((e) => e.entry).join(' ')}`}${allow && deny.length > 0 ? ', ' : ''}${deny.length > 0 ? `deny ${deny.map((e) => e.entry).join(' ')}` : ''}`

  return defineMiddleware(
    { name: NAME, detail, security: true },
    (next) =>
      function ipFilterHandler(req, res) {
        warnIfForwardedIgnored(req, NAME)
        return admits(clientIp(req)) ? next(req, res) : sendError(req, res, forbidden)
      },
  )
}

/** One range of a list and the entry it came from, for error messages and `explain()`. */
interface ListedRange {
  readonly entry: string
  readonly range: IpRange
}

function compileList(option: 'allow' | 'deny', list: readonly string[]): ListedRange[] {
  if (!Array.isArray(list)) throw new ConfigError(NAME, option, 'an array of addresses or ranges', list)
  if (list.length === 0) {
    throw new ConfigError(
      NAME,
      option,
      'a non-empty list',
      list,
      option === 'allow'
        ? 'An empty allow list would refuse everyone; leave allow unset to admit every address not denied.'
        : 'Leave deny unset to deny nothing.',
    )
  }
  const out: ListedRange[] = []
  list.forEach((entry, i) => {
    if (typeof entry !== 'string') throw new ConfigError(NAME, `${option}[${i}]`, 'an address or a range', entry)
    const named = namedRanges[entry.toLowerCase()]
    for (const text of named ?? [entry]) {
      const range = parseCidr(text.trim())
      if (range === undefined) {
        throw new ConfigError(
          NAME,
          `${option}[${i}]`,
          `an address, a CIDR range (10.0.0.0/8, 2001:db8::/32) or a named range (${NAMES})`,
          entry,
        )
      }
      if (range.prefix === 0) {
        throw new ConfigError(
          NAME,
          `${option}[${i}]`,
          'a range narrower than /0',
          entry,
          option === 'allow'
            ? `It admits every IPv${range.version} address: leave allow unset and list what to refuse in deny.`
            : `It refuses every IPv${range.version} address: list what to admit in allow instead.`,
        )
      }
      if (named === undefined && !sameNetwork(text.trim(), range)) {
        throw new ConfigError(
          NAME,
          `${option}[${i}]`,
          'a range whose address has no bits set past its prefix',
          entry,
          `Did you mean ${formatIp(range)}/${range.prefix}?`,
        )
      }
      out.push({ entry, range })
    }
  })
  return out
}

/** Whether the address written in `text` is the network address of `range` (no host bits set). */
function sameNetwork(text: string, range: IpRange): boolean {
  const slash = text.indexOf('/')
  if (slash < 0) return true
  const written = parseIp(text.slice(0, slash)) as IpBytes
  return written.bytes.every((b, i) => b === range.bytes[i])
}
