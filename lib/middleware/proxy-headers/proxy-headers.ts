/**
 * proxyHeaders(): the one place that reads `Forwarded` or `X-Forwarded-*`. It walks the
 * forwarded chain from the right (the nearest proxy) to the left, only as far as the
 * proxies are trusted, and records what the last trusted proxy says about the client
 * with `setClientIdentity`; rate limits, logs, host checks and redirects read it there.
 *
 * Why so strict: a forwarded header is whatever the client sent plus what each proxy
 * appended, so only entries added by trusted proxies mean anything. Reading the
 * leftmost entry (chi's RealIP), trusting every hop by default (Werkzeug's ProxyFix
 * misconfigured) or taking the scheme from a different hop than the address are the
 * spoofing bugs this layer exists to prevent.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import {
  makeIdentity,
  markProxyHeaders,
  setClientIdentity,
  socketIp,
  socketScheme,
  requestHost,
  type ClientIdentity,
} from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import { formatHost, parseHost, parsePort } from '../../core/host.js'
import { formatIp, parseIp, type IpBytes } from '../../core/ip.js'
import { defineDefaults, expectArray, expectBoolean, expectOneOf, withDefaults } from '../../core/options.js'
import type { Middleware } from '../../core/types.js'
import {
  compileTrust,
  entryFromRight,
  ListFromRight,
  parseForwardedElement,
  parseNode,
  splitForwarded,
} from './forwarded.js'

/** A forwarded field besides the client address. */
export type ForwardedField = 'proto' | 'host' | 'port' | 'prefix'

/**
 * Who may vouch for the next hop: addresses, CIDR ranges and the named ranges
 * `loopback`, `private`, `linklocal`, `cgnat`; or a function of the hop's canonical
 * address and its distance (0 = the socket peer, 1 = the last forwarded entry, …).
 */
export type ProxyTrust = readonly string[] | ((ip: string, hop: number) => boolean)

/** Options for {@link proxyHeaders}. */
export interface ProxyHeadersOptions {
  /**
   * The proxies in front of this server. A hop is believed only when the hop after it is
   * trusted; the first untrusted hop, read from the right, is the client. Required
   * (unless `dangerouslyTrustAllProxies`): there is no safe default. A `/0` range, `'*'`
   * and a function that trusts any address at any hop are refused; ranges wider than /8
   * (IPv4) or /16 (IPv6) and trust by position draw a warning.
   * @example ['loopback', '10.0.0.0/8'] or (ip) => ip.startsWith('10.')
   */
  trustedProxies?: ProxyTrust
  /**
   * Trust every hop: the leftmost forwarded address becomes the client, i.e. any client
   * can choose its own address, scheme and host. Only for servers that no client can
   * reach except through a proxy that overwrites these headers.
   * @default false
   */
  dangerouslyTrustAllProxies?: boolean
  /**
   * Which header family your proxies write: `'x-forwarded'` (X-Forwarded-For and
   * friends: nginx, HAProxy, AWS and most load balancers) or `'forwarded'` (RFC 7239).
   * The other family is ignored: a proxy that appends to one leaves a client's forgery
   * of the other untouched, so reading both would let clients pick.
   * @default 'x-forwarded'
   */
  header?: 'x-forwarded' | 'forwarded'
  /**
   * Fields read besides the address, from the same hop as the address. Add `'host'`
   * (and `'port'`, `'prefix'`, x-forwarded only) only if your proxy sets or strips those
   * headers; otherwise a client chooses them.
   * @default ['proto']
   */
  fields?: readonly ForwardedField[]
}

export const proxyHeadersDefaults = defineDefaults<ProxyHeadersOptions, 'trustedProxies'>({
  trustedProxies: undefined,
  dangerouslyTrustAllProxies: false,
  header: 'x-forwarded',
  fields: Object.freeze(['proto'] as const),
})

const PREFIX = /^(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+\/?$|^\/$/
const HTTP_SCHEME = /^https?$/i

/**
 * Establish the client's address, scheme and host from trusted proxies' headers.
 * Mount it first (inside only an error boundary): every layer that reads the client
 * identity must run inside it. Malformed or unparseable entries on the walk make it fall
 * back to the socket, never to a guess.
 * @example
 * compose(proxyHeaders({ trustedProxies: ['loopback', 'private'], fields: ['proto', 'host'] }), rateLimit())
 */
export function proxyHeaders(options: ProxyHeadersOptions = {}): Middleware {
  const opts = withDefaults('proxyHeaders', proxyHeadersDefaults, options)
  const trustAll = expectBoolean('proxyHeaders', 'dangerouslyTrustAllProxies', opts.dangerouslyTrustAllProxies)
  const header = expectOneOf('proxyHeaders', 'header', opts.header, ['x-forwarded', 'forwarded'] as const)
  const fields = new Set(
    expectArray('proxyHeaders', 'fields', opts.fields, (f) =>
      expectOneOf('proxyHeaders', 'fields', f, ['proto', 'host', 'port', 'prefix'] as const),
    ),
  )
  if (header === 'forwarded') {
    for (const field of ['port', 'prefix'] as const) {
      if (fields.has(field)) {
        throw new ConfigError(
          'proxyHeaders',
          'fields',
          `"proto" or "host" with header "forwarded" (RFC 7239 has no ${field} parameter)`,
          field,
          `Remove "${field}", or use header: "x-forwarded" if your proxy sends X-Forwarded-${field === 'port' ? 'Port' : 'Prefix'}.`,
        )
      }
    }
  }
  const trust = compileTrust(opts.trustedProxies, trustAll)
  const readProto = fields.has('proto')
  const readHost = fields.has('host')
  const readPort = fields.has('port')
  const readPrefix = fields.has('prefix')
  // One slot per instance: a socket's peer is trusted or not for the connection's life.
  const peerSlot = Symbol('proxyHeaders.peerTrusted')

  function isTrusted(ip: IpBytes, hop: number): boolean {
    return trust.ranges ? trust.ranges(ip) : trust.fn(formatIp(ip), hop)
  }

  function peerTrusted(socket: Socket, peer: string): boolean {
    if (!trust.ranges) {
      const ip = parseIp(peer)
      return ip !== undefined && trust.fn(peer, 0)
    }
    const slot = socket as unknown as Record<symbol, boolean | undefined>
    let trusted = slot[peerSlot]
    if (trusted === undefined) {
      const ip = parseIp(peer)
      trusted = ip !== undefined && trust.ranges(ip)
      if (peer !== '') slot[peerSlot] = trusted
    }
    return trusted
  }

  /** The identity per X-Forwarded-*, or undefined to keep the socket's. */
  function fromXForwarded(req: IncomingMessage): ClientIdentity | undefined {
    const chain = req.headers['x-forwarded-for']
    if (typeof chain !== 'string' || chain.length === 0) return undefined
    // Walk from the right; `hop` counts entries passed, and is also the index (from the
    // right) of this hop's report in the other X-Forwarded lists: the proxy that appended
    // the client's address appended its proto/host at the same position. Empty elements
    // are no entries, in every one of these lists (RFC 9110 §5.6.1).
    const list = new ListFromRight(chain)
    let text = list.next()
    if (text === undefined) return undefined
    let hop = 0
    let client: IpBytes
    for (;;) {
      const ip = parseNode(text, true)
      if (ip === undefined) return undefined
      const left = list.next()
      if (left === undefined || !isTrusted(ip, hop + 1)) {
        client = ip
        break
      }
      text = left
      hop++
    }
    let scheme = socketScheme(req.socket)
    if (readProto) {
      const proto = field(req, 'x-forwarded-proto', hop)
      if (proto !== undefined) {
        if (!HTTP_SCHEME.test(proto)) return undefined
        scheme = proto.toLowerCase() as 'http' | 'https'
      }
    }
    let host = requestHost(req)
    if (readHost) {
      const forwarded = field(req, 'x-forwarded-host', hop)
      if (forwarded !== undefined) {
        const parsed = parseHost(forwarded)
        if (parsed === undefined) return undefined
        host = formatHost(parsed)
      }
    }
    if (readPort) {
      const port = field(req, 'x-forwarded-port', hop)
      if (port !== undefined) {
        const portNumber = parsePort(port)
        if (portNumber === undefined) return undefined
        const parsed = host === undefined ? undefined : parseHost(host)
        // A port already in the forwarded host wins; the scheme's default port is implied.
        if (parsed !== undefined && parsed.port === undefined) {
          host = formatHost({ ...parsed, port: portNumber }, scheme === 'https' ? 443 : 80)
        }
      }
    }
    let prefix = ''
    if (readPrefix) {
      const forwarded = field(req, 'x-forwarded-prefix', hop)
      if (forwarded !== undefined) {
        if (!PREFIX.test(forwarded) || /\/\.\.?(?:\/|$)/.test(forwarded)) return undefined
        prefix = forwarded.endsWith('/') ? forwarded.slice(0, -1) : forwarded
      }
    }
    return makeIdentity(formatIp(client), scheme, host, prefix, true)
  }

  /** The identity per RFC 7239 `Forwarded`, or undefined to keep the socket's. */
  function fromForwarded(req: IncomingMessage): ClientIdentity | undefined {
    const value = req.headers.forwarded
    if (typeof value !== 'string') return undefined
    const elements = splitForwarded(value)
    if (elements === undefined || elements.length === 0) return undefined
    for (let hop = 0; hop < elements.length; hop++) {
      const element = parseForwardedElement(elements[elements.length - 1 - hop]!)
      if (element === undefined || element.for === undefined) return undefined
      const ip = parseNode(element.for, false)
      if (ip === undefined) return undefined
      if (hop === elements.length - 1 || !isTrusted(ip, hop + 1)) {
        // RFC 7239 §5: one element holds what one proxy saw of one hop, so address,
        // proto and host come from the same element by construction.
        let scheme = socketScheme(req.socket)
        if (readProto && element.proto !== undefined) {
          if (!HTTP_SCHEME.test(element.proto)) return undefined
          scheme = element.proto.toLowerCase() as 'http' | 'https'
        }
        let host = requestHost(req)
        if (readHost && element.host !== undefined) {
          const parsed = parseHost(element.host)
          if (parsed === undefined) return undefined
          host = formatHost(parsed)
        }
        return makeIdentity(formatIp(ip), scheme, host, '', true)
      }
    }
    /* c8 ignore next */
    return undefined
  }

  const resolve = header === 'forwarded' ? fromForwarded : fromXForwarded
  const detail = `${trust.text} via ${header}${fields.size > 0 ? ` (${[...fields].join(', ')})` : ''}`

  return defineMiddleware(
    { name: 'proxyHeaders', detail, security: true },
    (next) =>
      function proxyHeadersHandler(req, res) {
        markProxyHeaders(req)
        const socket = req.socket
        // An untrusted peer is the client, whatever its headers say.
        if (socket && peerTrusted(socket, socketIp(socket))) {
          const identity = resolve(req)
          if (identity !== undefined) setClientIdentity(req, identity)
        }
        return next(req, res)
      },
  )
}

/** A forwarded list header's entry at `hop` from the right, or undefined if absent or too short. */
function field(req: IncomingMessage, name: string, hop: number): string | undefined {
  const value = req.headers[name]
  return typeof value === 'string' ? entryFromRight(value, hop) : undefined
}
