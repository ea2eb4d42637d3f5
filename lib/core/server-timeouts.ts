/**
 * Safe connection timeouts for a `node:http` or `node:https` server. Middleware run once a
 * request has arrived; what a client does before that (trickling its headers, its body)
 * and after (never reading the answer, idling on a kept-alive socket) is bounded only by
 * the server's own timeouts, and Node 20's defaults keep a slowloris connection open for
 * about 90 s: 60 s of `headersTimeout`, checked every 30 s.
 *
 * A plain function over a Server, applied before `listen()`, so whatever creates the
 * server (the user, an adapter, a lifespan helper) can call it.
 * @module
 */
import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { ConfigError } from './errors.js'
import { defineDefaults, expectInteger, withDefaults } from './options.js'

/** Options for {@link serverTimeouts}. Every value is in milliseconds. */
export interface ServerTimeoutsOptions {
  /**
   * Longest time a client may take to send the request line and headers (`headersTimeout`),
   * answered with 408 and a closed connection. Bounds slowloris: real clients send their
   * headers in one round trip.
   * @default 10_000
   */
  headersTimeoutMs?: number
  /**
   * Longest time a client may take to send the whole request, body included
   * (`requestTimeout`), answered with 408 unless the response has started. Bounds slow
   * bodies (R.U.D.Y.); raise it for large uploads over slow links.
   * @default 30_000
   */
  requestTimeoutMs?: number
  /**
   * How long a kept-alive connection may idle between requests (`keepAliveTimeout`). Behind
   * a load balancer, set it above the balancer's idle timeout (AWS ALB: 60 s, so 65_000),
   * or the balancer may reuse a connection the server is closing and answer 502.
   * @default 5_000
   */
  keepAliveTimeoutMs?: number
  /**
   * Longest time a connection may go without any byte read or written while a request is
   * in progress (`server.timeout`); the socket is then destroyed. Bounds clients that
   * never read the answer. Streams that stay silent longer (Server-Sent Events without
   * heartbeats, long polls) need more, or 0 to turn it off.
   * @default 120_000
   */
  inactivityTimeoutMs?: number
  /**
   * How often Node checks `headersTimeoutMs` and `requestTimeoutMs`
   * (`connectionsCheckingInterval`): a slow client is cut between the timeout and the
   * timeout plus this. Node's 30 s default would make a 10 s header timeout up to 40 s.
   * @default 1_000
   */
  checkIntervalMs?: number
}

/** Defaults of {@link serverTimeouts}. */
export const serverTimeoutsDefaults = defineDefaults<ServerTimeoutsOptions>({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  inactivityTimeoutMs: 120_000,
  checkIntervalMs: 1_000,
})

const NAME = 'serverTimeouts'
const HOUR = 3_600_000

/** A server with the HTTP/1 timeout settings: `http.Server` and `https.Server`. */
export type TimeoutServer = HttpServer | HttpsServer

/**
 * Apply safe timeouts to `server` before it listens, and return it. Throws a ConfigError
 * for a bad option or a server that already listens (Node reads the checking interval
 * only when listening starts).
 * @example
 * serverTimeouts(http.createServer(app)).listen(3000)
 * serverTimeouts(http.createServer(app), { keepAliveTimeoutMs: 65_000 }).listen(3000) // behind an AWS ALB
 */
export function serverTimeouts<S extends TimeoutServer>(server: S, options: ServerTimeoutsOptions = {}): S {
  if (
    server === null ||
    typeof server !== 'object' ||
    typeof server.listen !== 'function' ||
    typeof server.headersTimeout !== 'number'
  ) {
    throw new ConfigError(
      NAME,
      'server',
      'a node:http or node:https Server',
      server,
      "Pass the server http.createServer() returned; HTTP/2 servers have other timeouts (http2.createServer's sessionTimeout and setTimeout).",
    )
  }
  if (server.listening) {
    throw new ConfigError(
      NAME,
      'server',
      'a server that is not listening yet',
      'a listening server',
      'Call serverTimeouts(server) before server.listen(); with Express, serverTimeouts(http.createServer(app)).listen(port) instead of app.listen(port).',
    )
  }
  const opts = withDefaults(NAME, serverTimeoutsDefaults, options)
  const headers = expectInteger(
    NAME,
    'headersTimeoutMs',
    opts.headersTimeoutMs,
    100,
    120_000,
    'Real clients send their headers at once: 10_000 (the default) leaves room for slow mobile links.',
  )
  const request = expectInteger(
    NAME,
    'requestTimeoutMs',
    opts.requestTimeoutMs,
    100,
    HOUR,
    'Use 30_000 (the default), or more for large uploads over slow links; it is in ms.',
  )
  // Node refuses a headersTimeout above requestTimeout (ERR_OUT_OF_RANGE) when given at creation.
  if (request < headers) {
    throw new ConfigError(
      NAME,
      'requestTimeoutMs',
      `at least headersTimeoutMs (${headers})`,
      request,
      'The whole request includes its headers: raise requestTimeoutMs or lower headersTimeoutMs.',
    )
  }
  const keepAlive = expectInteger(
    NAME,
    'keepAliveTimeoutMs',
    opts.keepAliveTimeoutMs,
    100,
    600_000,
    "Use 5_000 (the default), or just above your load balancer's idle timeout (65_000 behind an AWS ALB).",
  )
  const inactivity =
    opts.inactivityTimeoutMs === 0
      ? 0
      : expectInteger(
          NAME,
          'inactivityTimeoutMs',
          opts.inactivityTimeoutMs,
          100,
          HOUR,
          'Use 120_000 (the default), more for silent streams, or 0 to turn it off.',
        )
  const interval = expectInteger(
    NAME,
    'checkIntervalMs',
    opts.checkIntervalMs,
    10,
    30_000,
    'Use 1_000 (the default): each check walks the open connections once.',
  )
  if (interval > headers) {
    throw new ConfigError(
      NAME,
      'checkIntervalMs',
      `at most headersTimeoutMs (${headers})`,
      interval,
      'A check interval longer than the timeout it enforces lets slow clients stay up to twice as long.',
    )
  }
  server.requestTimeout = request
  server.headersTimeout = headers
  server.keepAliveTimeout = keepAlive
  server.timeout = inactivity
  // Read by Node when listening starts, to schedule the check of the two timeouts above.
  ;(server as TimeoutServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = interval
  return server
}
