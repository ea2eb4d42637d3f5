/**
 * Origin lists, the grammar cors()'s `origins` and csrf()'s `trustedOrigins` share: a list
 * compiled once into exact strings, label-boundary wildcards and vetted regular
 * expressions, so one list can be handed to both. Peers' advisories come from this spot
 * (unanchored regexes, substring checks, `*` with credentials), so everything a list can
 * hold is validated at construction and matched byte for byte at run time.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { clientIdentity } from './client.js'
import { ConfigError } from './errors.js'
import { formatHost, parseHost, wildcardDomainProblem } from './host.js'

/** An allowed-origin entry: `'https://app.example.com'`, `'https://*.example.com'`, `'null'`, or an anchored RegExp. */
export type OriginEntry = string | RegExp

// A serialised origin as browsers send it (RFC 6454 §6.2): lower-case scheme and host,
// no trailing dot, no userinfo, no path, the port only when it is not the default.
const REQUEST_ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)(?::([1-9]\d{0,4}))?$/
const CONFIG_ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 }

/** Longest `Origin` looked at; longer ones are refused before any regex runs. */
export const MAX_ORIGIN_LENGTH = 1024

interface Wildcard {
  readonly scheme: string
  readonly suffix: string
  readonly port: number | undefined
}

/**
 * A compiled origin list: whether an origin is allowed, and the origins listed exactly, in
 * their serialised form. An origin equal to one of those was checked when the list was
 * compiled, so it can go into a response header as it is.
 */
export interface OriginMatcher {
  (origin: string): boolean
  readonly exact: ReadonlySet<string>
}

/**
 * Compile `entries` (validated now: a bad entry throws a ConfigError naming it and the
 * fix) into a test of a request's `Origin` value. Exact entries are compared as the
 * browser serialises them, so `HTTPS://APP.EXAMPLE.COM`, `https://app.example.com.`,
 * `https://app.example.com/` or `https://app.example.com:443` from a client never match.
 */
export function compileOriginList(middleware: string, option: string, entries: readonly OriginEntry[]): OriginMatcher {
  if (!Array.isArray(entries)) {
    // expressjs/cors reads `origin: true` as "reflect any origin" and `false` as "off".
    throw new ConfigError(
      middleware,
      option,
      'an origin, a list of origins, "*", a RegExp or a function',
      entries,
      typeof entries === 'boolean'
        ? middleware === 'cors'
          ? 'To switch CORS off, do not mount cors(); to reflect origins, list them or pass a predicate that decides.'
          : `List the origins, e.g. ["https://app.example.com"], or leave ${option} unset.`
        : 'List the origins allowed, e.g. ["https://app.example.com"].',
    )
  }
  if (entries.length === 0) {
    throw new ConfigError(
      middleware,
      option,
      'a non-empty list of origins',
      entries,
      'List the origins allowed, e.g. ["https://app.example.com"].',
    )
  }
  const exact = new Set<string>()
  const wildcards: Wildcard[] = []
  const regexes: RegExp[] = []
  for (const entry of entries as readonly unknown[]) {
    if (entry instanceof RegExp) {
      const problem = regexProblem(entry)
      if (problem !== undefined) {
        throw new ConfigError(
          middleware,
          option,
          'RegExps anchored with ^ and $, without g, y or m flags',
          entry,
          `This one ${problem}; an unanchored origin pattern also matches https://attacker.example/?https://app.example.com. ` +
            'Write it like /^https:\\/\\/(?:app|admin)\\.example\\.com$/.',
        )
      }
      regexes.push(entry)
    } else if (typeof entry === 'string') {
      const compiled = compileEntry(middleware, option, entry)
      if (typeof compiled === 'string') exact.add(compiled)
      else wildcards.push(compiled)
    } else {
      throw new ConfigError(
        middleware,
        option,
        'origins (strings) or RegExps',
        entry,
        middleware === 'cors'
          ? 'Pass a function as `origins` itself, not inside a list.'
          : 'Write each origin as a string.',
      )
    }
  }
  // The common case, a few exact origins, is one Set lookup.
  if (wildcards.length === 0 && regexes.length === 0)
    return Object.assign((origin: string) => exact.has(origin), { exact })
  return Object.assign(matchesOrigin, { exact })
  function matchesOrigin(origin: string): boolean {
    if (exact.has(origin)) return true
    if (origin.length > MAX_ORIGIN_LENGTH) return false
    if (wildcards.length > 0) {
      const parts = REQUEST_ORIGIN.exec(origin)
      if (parts !== null) {
        const host = parts[2]!
        const port = parts[3] === undefined ? undefined : Number(parts[3])
        for (const w of wildcards) {
          if (w.scheme === parts[1] && w.port === port && host.length > w.suffix.length && host.endsWith(w.suffix))
            return true
        }
      }
    }
    for (const regex of regexes) if (regex.test(origin)) return true
    return false
  }
}

/** An exact origin in its serialised form, or a wildcard. Throws on anything else. */
function compileEntry(middleware: string, option: string, entry: string): string | Wildcard {
  if (entry === 'null') return 'null'
  const expected = 'origins like "https://app.example.com", "https://*.example.com" or "null"'
  if (entry === '*')
    throw new ConfigError(
      middleware,
      option,
      expected,
      entry,
      middleware === 'cors' ? 'To allow every origin, pass origins: "*" itself, not in a list.' : 'List each origin.',
    )
  const lower = entry.toLowerCase()
  const parts = CONFIG_ORIGIN.exec(lower)
  if (parts === null)
    throw new ConfigError(middleware, option, expected, entry, `An origin has a scheme: write "https://${entry}".`)
  const scheme = parts[1]!
  const rest = parts[2]!
  const slash = rest.indexOf('/')
  if (slash >= 0) {
    throw new ConfigError(
      middleware,
      option,
      expected,
      entry,
      `An origin has no path, not even a trailing slash (browsers never send one): write "${scheme}://${rest.slice(0, slash)}".`,
    )
  }
  const wildcard = rest.startsWith('*.')
  const hostPort = wildcard ? rest.slice(2) : rest
  const host = parseHost(hostPort)
  const bare = hostPort.replace(/:\d+$/, '')
  if (host === undefined || hostPort.includes('*') || hostPort.includes('@') || bare.endsWith('.')) {
    throw new ConfigError(
      middleware,
      option,
      expected,
      entry,
      '"*" may only be the whole first label ("https://*.example.com").',
    )
  }
  if (host.port !== undefined && host.port === DEFAULT_PORTS[scheme]) {
    throw new ConfigError(
      middleware,
      option,
      expected,
      entry,
      `Browsers leave the default port out of the Origin header: write "${scheme}://${formatHost(host, host.port)}".`,
    )
  }
  if (!wildcard) return `${scheme}://${formatHost(host)}`
  const problem = host.kind === 'name' ? wildcardDomainProblem(host.hostname) : undefined
  if (host.kind !== 'name' || problem !== undefined) {
    throw new ConfigError(
      middleware,
      option,
      expected,
      entry,
      problem ??
        'A wildcard needs a domain of two labels or more, or one reserved for local use, under it ("https://*.example.com", "http://*.test").',
    )
  }
  return { scheme, suffix: `.${host.hostname}`, port: host.port }
}

/**
 * What is wrong with an origin RegExp, or undefined: it must start with `^`, end with an
 * unescaped `$`, have no top-level `|` (`^a|b$` anchors `a` only at the start and `b`
 * only at the end), no `g`/`y` (stateful `test`) or `m` flag, and no unescaped `.`
 * between letters (`app.example.com` also matches `appxexample.com`).
 */
export function regexProblem(regex: RegExp): string | undefined {
  if (regex.global || regex.sticky) return 'has the g or y flag (test() then keeps state between requests)'
  if (regex.multiline) return 'has the m flag (^ and $ then match at line breaks)'
  const source = regex.source
  if (!source.startsWith('^')) return 'is not anchored at the start'
  let depth = 0
  let inClass = false
  let endsAnchored = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!
    endsAnchored = false
    if (c === '\\') {
      i++
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      continue
    }
    if (c === '[') inClass = true
    else if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === '|' && depth === 0) return 'has a top-level | (wrap the alternatives in a group: ^(?:a|b)$)'
    else if (c === '$') endsAnchored = true
    else if (c === '.' && /[a-z0-9]/i.test(source[i - 1] ?? '') && /[a-z]/i.test(source[i + 1] ?? '')) {
      return `has an unescaped "." in "${source.slice(Math.max(0, i - 8), i + 8)}" (it matches any character; write \\.)`
    }
  }
  return endsAnchored ? undefined : 'is not anchored at the end'
}

const SAME_ORIGIN_CANDIDATE = /^(https?):\/\/([^/?#@\\]+)$/
const SAME_ORIGIN_PORTS = { http: 80, https: 443 } as const

/**
 * Whether `origin` is the origin the client addressed (csrf()'s own-origin row, cors()'s
 * same-origin WebSocket handshakes): the identity's scheme and host,
 * ports compared after defaulting (`https://example.com` is `example.com:443` over TLS).
 * Unlike Go, which knows no scheme and lets `http://` post to `https://`, the scheme must
 * match too: a page served over plain http can be rewritten by anyone on the path.
 */
export function isSameOrigin(req: IncomingMessage, origin: string): boolean {
  const { scheme, host } = clientIdentity(req)
  if (host === undefined || origin.length > MAX_ORIGIN_LENGTH) return false
  // The common case, byte for byte: "http://" + Host.
  if (
    origin.length === scheme.length + 3 + host.length &&
    origin.startsWith(scheme) &&
    origin.startsWith('://', scheme.length) &&
    origin.endsWith(host)
  )
    return true
  const parts = SAME_ORIGIN_CANDIDATE.exec(origin)
  if (parts === null || parts[1] !== scheme) return false
  const from = parseHost(parts[2]!)
  const to = parseHost(host)
  if (from === undefined || to === undefined || from.hostname !== to.hostname) return false
  return (from.port ?? SAME_ORIGIN_PORTS[scheme]) === (to.port ?? SAME_ORIGIN_PORTS[scheme])
}
