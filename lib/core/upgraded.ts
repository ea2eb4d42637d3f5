/**
 * Connections that left HTTP through an upgrade (WebSocket and the like). Once upgraded, a
 * socket is no longer the HTTP server's: `server.close()` and `closeIdleConnections()` do not
 * see it. Whoever completes an upgrade records it here with a way to say goodbye, so graceful
 * shutdown can close every such connection with a going-away close and then wait for it.
 * @module
 */
import type { Duplex } from 'node:stream'

/** One upgraded connection and how to close it politely. */
export interface UpgradedConnection {
  /** The socket the upgrade took over. */
  readonly socket: Duplex
  /**
   * Ends the connection in its own protocol's way (a WebSocket close frame with status 1001,
   * "going away"). Called once, at shutdown; the socket is destroyed later if it lingers.
   */
  goAway(): void
}

const byServer = new WeakMap<object, Set<UpgradedConnection>>()

/**
 * Records `connection` as an upgraded connection of `server` until its socket closes.
 * `server` is the `http.Server` (or any object standing for it) whose upgrade it was.
 */
export function trackUpgraded(server: object, connection: UpgradedConnection): void {
  let set = byServer.get(server)
  if (set === undefined) {
    set = new Set()
    byServer.set(server, set)
  }
  const connections = set
  connections.add(connection)
  connection.socket.once('close', () => connections.delete(connection))
}

/** The upgraded connections of `server` still open, in the order they were recorded. */
export function upgradedConnections(server: object): ReadonlySet<UpgradedConnection> {
  return byServer.get(server) ?? emptySet
}

const emptySet: ReadonlySet<UpgradedConnection> = new Set()
