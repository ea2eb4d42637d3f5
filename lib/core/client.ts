/**
 * Client identity: the one answer to "who is the client, and how did it reach us".
 * Without `proxyHeaders()` it is the socket: the peer address and whether the connection
 * is TLS. With it, the forwarded chain as far as the trusted proxies vouch for it.
 * Rate limits, logs, host checks and redirects all ask here; nothing else reads
 * `X-Forwarded-For`.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { normalizeIp } from './ip.js'
import { defineState } from './state.js'

/** Who the client is and how it addressed us. */
export interface ClientIdentity {
  /** The client's address, canonical (IPv4-mapped IPv6 as IPv4, IPv6 per RFC 5952). */
  readonly ip: string
  /** The scheme the client used: the connection's, or the one a trusted proxy reported. */
  readonly scheme: 'http' | 'https'
  /** The host the client addressed (`Host`, or a trusted proxy's forwarded host), with any port. */
  readonly host: string | undefined
  /** The path prefix a trusted proxy stripped (`X-Forwarded-Prefix`), or `''`. */
  readonly prefix: string
  /** True when a trusted proxy forwarded the request (its forwarded fields were used). */
  readonly viaTrustedProxy: boolean
}

/** A class, not a literal, as every per-request record (core/listener-node.ts). */
class Identity implements ClientIdentity {
  readonly ip: string
  readonly scheme: 'http' | 'https'
  readonly host: string | undefined
  readonly prefix: string
  readonly viaTrustedProxy: boolean

  constructor(
    ip: string,
    scheme: 'http' | 'https',
    host: string | undefined,
    prefix: string,
    viaTrustedProxy: boolean,
  ) {
    this.ip = ip
    this.scheme = scheme
    this.host = host
    this.prefix = prefix
    this.viaTrustedProxy = viaTrustedProxy
  }
}

/** A {@link ClientIdentity}, for `proxyHeaders()` and the socket-derived default. */
export function makeIdentity(
  ip: string,
  scheme: 'http' | 'https',
  host: string | undefined,
  prefix: string,
  viaTrustedProxy: boolean,
): ClientIdentity {
  return new Identity(ip, scheme, host, prefix, viaTrustedProxy)
}

const identityState = defineState<ClientIdentity>('clientIdentity', 'proxyHeaders()')

/** Record the identity established by `proxyHeaders()`; every later reader sees it. */
export function setClientIdentity(req: IncomingMessage, identity: ClientIdentity): void {
  identityState.set(req, identity)
}

/** The client's address: from `proxyHeaders()` when it ran, else the socket's peer. */
export function clientIp(req: IncomingMessage): string {
  return identityState.tryGet(req)?.ip ?? socketIp(req.socket)
}

/** The full identity: from `proxyHeaders()` when it ran, else derived from the connection. */
export function clientIdentity(req: IncomingMessage): ClientIdentity {
  let identity = identityState.tryGet(req)
  if (identity === undefined) {
    identity = makeIdentity(socketIp(req.socket), socketScheme(req.socket), requestHost(req), '', false)
    identityState.set(req, identity)
  }
  return identity
}

/** The scheme of the connection itself: https for TLS sockets. */
export const socketScheme = (socket: Socket | undefined): 'http' | 'https' =>
  (socket as (Socket & { encrypted?: boolean }) | undefined)?.encrypted ? 'https' : 'http'

/** The host the request names: `Host` in HTTP/1, `:authority` in HTTP/2. */
export function requestHost(req: IncomingMessage): string | undefined {
  return req.headers.host ?? (req.headers[':authority'] as string | undefined)
}

const PEER = Symbol('http-onion.peer')
type PeerSlot = { [PEER]?: string }

/**
 * The peer address of a socket, canonical. Cached on the socket: a keep-alive connection
 * serves many requests from one peer. An unknown peer (socket already closed) is `''`.
 */
export function socketIp(socket: Socket | undefined): string {
  if (socket === undefined || socket === null) return ''
  const slot = socket as unknown as PeerSlot
  const cached = slot[PEER]
  if (cached !== undefined) return cached
  const raw = socket.remoteAddress
  if (raw === undefined) return ''
  const ip = normalizeIp(raw) ?? raw
  slot[PEER] = ip
  return ip
}
