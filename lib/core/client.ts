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
// Set by every proxyHeaders() a request passes, trusted peer or not: the stack has a
// proxy configuration, so forwarded headers are its business.
const proxyConfiguredState = defineState<true>('proxyHeadersRan', 'proxyHeaders()')

/** Record the identity established by `proxyHeaders()`; every later reader sees it. */
export function setClientIdentity(req: IncomingMessage, identity: ClientIdentity): void {
  identityState.set(req, identity)
}

/** Called by `proxyHeaders()` on every request it sees: forwarded headers are then configured, not ignored. */
export function markProxyHeaders(req: IncomingMessage): void {
  proxyConfiguredState.set(req, true)
}

// Process-wide on purpose, as the other configuration warnings: one per layer name, however
// many stacks a process builds (express-rate-limit#363: its most reported problem).
const warnedLayers = new Set<string>()

/**
 * Warn once per layer name when `req` carries `X-Forwarded-For` or `Forwarded` but no
 * `proxyHeaders()` ran before `layer`, a layer keying on the client's address: behind a
 * proxy every client then has the proxy's address. Two header reads per request when
 * nothing is wrong. Warning type `SecurityWarning`, code `HTTP_ONION_PROXY_HEADERS_MISSING`.
 */
export function warnIfForwardedIgnored(req: IncomingMessage, layer: string): void {
  const headers = req.headers
  if (headers['x-forwarded-for'] === undefined && headers.forwarded === undefined) return
  if (proxyConfiguredState.has(req) || warnedLayers.has(layer)) return
  warnedLayers.add(layer)
  const header = headers['x-forwarded-for'] === undefined ? 'Forwarded' : 'X-Forwarded-For'
  process.emitWarning(
    `${layer}(): a request carried ${header}, but no proxyHeaders() ran before this layer, so it sees ` +
      `the address of the peer (${socketIp(req.socket) || 'unknown'}) as the client's: behind a proxy, every ` +
      'client shares it. Mount proxyHeaders({ trustedProxies: [...] }) before it, or, with no proxy in ' +
      'front, ignore this (the header is then forged by the client and correctly ignored).',
    { type: 'SecurityWarning', code: 'HTTP_ONION_PROXY_HEADERS_MISSING' },
  )
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
