/**
 * trustedHost(): answer only for the hosts this server is. Anything a handler builds
 * from the host (password-reset links, redirects, cache keys, tenant lookups) is
 * attacker-controlled unless the host was checked first. The host is the client
 * identity's: the `Host` header, or what a trusted proxy reported through proxyHeaders().
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { clientIdentity } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import { singleHeader } from '../../core/headers.js'
import { formatHost, parseHost, redirectPath, wildcardDomainProblem, type ParsedHost } from '../../core/host.js'
import { defineDefaults, expectBoolean, withDefaults } from '../../core/options.js'
import { sendError } from '../../core/send-error.js'
import type { Middleware } from '../../core/types.js'

/**
 * A host check of your own: gets the parsed host (lower-case, canonical, trailing dot
 * dropped; `port` undefined when the client gave none).
 */
export type HostPredicate = (host: ParsedHost) => boolean

/** Options for {@link trustedHost}. */
export interface TrustedHostOptions {
  /**
   * The hosts served. `'example.com'` (any port), `'example.com:8443'` (that port
   * only; a host sent without a port is on the scheme's default port, 80 or 443), `'*.example.com'` (any subdomain, at any depth, on a label boundary: never
   * `evil-example.com`, and never the apex `example.com`, which you list separately),
   * IP literals (`'127.0.0.1'`, `'[::1]:3000'`), `'*'` (any well-formed host), or a
   * {@link HostPredicate}. Required.
   */
  allowedHosts?: readonly (string | HostPredicate)[]
  /**
   * Redirect (308) a host that is not allowed to its `www.` form when that one is, e.g.
   * `example.com` to `www.example.com` when only the latter is listed.
   * @default false
   */
  wwwRedirect?: boolean
}

export const trustedHostDefaults = defineDefaults<TrustedHostOptions, 'allowedHosts'>({
  allowedHosts: undefined,
  wwwRedirect: false,
})

const MISSING = new HttpError(400, 'Missing Host header', { code: 'host_missing' })
const INVALID = new HttpError(400, 'Invalid Host header', { code: 'host_invalid' })
const NOT_ALLOWED = new HttpError(400, 'Host not allowed', { code: 'host_not_allowed' })

/**
 * Refuse (400) requests whose host is missing, malformed, sent twice, or not listed.
 * Mount it inside proxyHeaders() (when you use it) and outside httpsRedirect(), so no
 * redirect ever points at a host you do not serve.
 * @example
 * compose(proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] }),
 *   trustedHost({ allowedHosts: ['example.com', '*.example.com'] }), httpsRedirect())
 */
export function trustedHost(options: TrustedHostOptions = {}): Middleware {
  const opts = withDefaults('trustedHost', trustedHostDefaults, options)
  const wwwRedirect = expectBoolean('trustedHost', 'wwwRedirect', opts.wwwRedirect)
  const isAllowed = compileHosts(opts.allowedHosts)

  // The last host that passed: nearly every request names the same one, so the parse is
  // skipped when it repeats. Only for lists of strings, whose answer cannot change; a
  // predicate may answer differently tomorrow.
  const cacheable = opts.allowedHosts!.every((entry) => typeof entry === 'string')
  let lastAllowed: string | undefined
  let lastAllowedPort = 0

  /** Why `host` cannot be served, or undefined when it can. */
  function refusal(
    req: IncomingMessage,
    host: string | undefined,
    defaultPort: number,
  ): HttpError | ParsedHost | undefined {
    if (host === undefined) return req.headers.host === undefined && !req.headers[':authority'] ? MISSING : INVALID
    if (host !== lastAllowed || defaultPort !== lastAllowedPort) {
      const parsed = parseHost(host)
      if (parsed === undefined) return INVALID
      if (!isAllowed(parsed, defaultPort)) return parsed
      if (cacheable) {
        lastAllowed = host
        lastAllowedPort = defaultPort
      }
    }
    // RFC 9112 §3.2.2: with an absolute-form target the target's authority is the host,
    // whatever Host says; a router reading req.url would see it, so it is checked too.
    const url = req.url
    if (url !== undefined && url.charCodeAt(0) !== 0x2f && url !== '*') {
      const authority = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url)
      const target = authority ? parseHost(authority[1]!) : undefined
      if (target === undefined) return INVALID
      if (!isAllowed(target, /^https:/i.test(url) ? 443 : 80)) return NOT_ALLOWED
    }
    return undefined
  }

  return defineMiddleware(
    {
      name: 'trustedHost',
      detail:
        opts.allowedHosts!.map((h) => (typeof h === 'string' ? h : 'a function')).join(', ') +
        (wwwRedirect ? '; www redirect' : ''),
      security: true,
    },
    (next) =>
      function trustedHostHandler(req, res) {
        // Node keeps the first of several Host lines and drops the rest; RFC 9112 §3.2
        // says to answer 400 to more than one. singleHeader sees the raw lines.
        if (req.headers.host !== undefined && singleHeader(req, 'host') === undefined)
          return void sendError(req, res, INVALID)
        const identity = clientIdentity(req)
        const defaultPort = identity.scheme === 'https' ? 443 : 80
        const problem = refusal(req, identity.host, defaultPort)
        if (problem === undefined) return next(req, res)
        if (problem instanceof HttpError) return void sendError(req, res, problem)
        if (wwwRedirect && problem.kind === 'name' && !problem.hostname.startsWith('www.')) {
          const www: ParsedHost = { hostname: `www.${problem.hostname}`, port: problem.port, kind: 'name' }
          if (isAllowed(www, defaultPort)) {
            res.statusCode = 308
            res.setHeader('location', `${identity.scheme}://${formatHost(www, defaultPort)}${redirectPath(req.url)}`)
            res.setHeader('content-length', '0')
            res.end()
            return
          }
        }
        sendError(req, res, NOT_ALLOWED)
      },
  )
}

/** One test for every allowed-host entry, validated now. */
function compileHosts(entries: TrustedHostOptions['allowedHosts']): (host: ParsedHost, defaultPort: number) => boolean {
  const example = 'e.g. allowedHosts: ["example.com", "*.example.com"]'
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ConfigError(
      'trustedHost',
      'allowedHosts',
      'a non-empty array of hosts',
      entries,
      `List the hosts you serve, ${example}.`,
    )
  }
  let any = false
  // hostname -> allowed ports (null: any port)
  const exact = new Map<string, Set<number> | null>()
  const wildcards: Array<{ suffix: string; port: number | undefined }> = []
  const predicates: HostPredicate[] = []
  for (const entry of entries as readonly unknown[]) {
    if (typeof entry === 'function') {
      predicates.push(entry as HostPredicate)
      continue
    }
    if (typeof entry !== 'string')
      throw new ConfigError('trustedHost', 'allowedHosts', 'hosts (strings) or functions', entry, example)
    if (entry === '*') {
      any = true
      continue
    }
    const wildcard = entry.startsWith('*.')
    const parsed = parseHost(wildcard ? entry.slice(2) : entry)
    if (parsed === undefined || entry.includes('*', wildcard ? 1 : 0) || (wildcard && parsed.kind !== 'name')) {
      throw new ConfigError(
        'trustedHost',
        'allowedHosts',
        'hosts like "example.com", "example.com:8443", "*.example.com", "[::1]" or "*"',
        entry,
        entry.includes('://') || entry.includes('/')
          ? 'Give the host alone, without scheme or path.'
          : '"*" is allowed only as the whole first label ("*.example.com"); IPv6 needs brackets.',
      )
    }
    if (wildcard) {
      // "*.com" would accept every host under a public suffix: surely a typo.
      const problem = wildcardDomainProblem(parsed.hostname)
      if (problem !== undefined) {
        throw new ConfigError(
          'trustedHost',
          'allowedHosts',
          'wildcards under a domain of two labels or more ("*.example.com") or a label reserved for local use ("*.test")',
          entry,
          problem,
        )
      }
      wildcards.push({ suffix: `.${parsed.hostname}`, port: parsed.port })
      continue
    }
    const ports = exact.get(parsed.hostname)
    if (parsed.port === undefined) exact.set(parsed.hostname, null)
    else if (ports !== null) exact.set(parsed.hostname, (ports ?? new Set<number>()).add(parsed.port))
  }
  return function isAllowed(host: ParsedHost, defaultPort: number): boolean {
    if (any) return true
    const port = host.port ?? defaultPort
    const ports = exact.get(host.hostname)
    if (ports === null || ports?.has(port)) return true
    if (host.kind === 'name') {
      for (const w of wildcards) {
        // The suffix starts with a dot, and the host's labels are valid: a match is a subdomain.
        if (
          host.hostname.length > w.suffix.length &&
          host.hostname.endsWith(w.suffix) &&
          (w.port === undefined || w.port === port)
        )
          return true
      }
    }
    for (const predicate of predicates) if (predicate(host) === true) return true
    return false
  }
}
