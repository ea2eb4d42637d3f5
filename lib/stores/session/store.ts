/**
 * The session store interface: where `session({ store })` keeps session data when it is
 * not in the cookie (`memorySessionStore()`, `redisSessionStore()`, or your own).
 *
 * A session is a set of fields, each a JSON text, plus two timestamps. Writes are
 * per-field patches applied atomically: concurrent requests of one session that change
 * different fields never lose each other's updates (a request writes only the fields it
 * changed), and the same field written twice keeps the last write. A patch never
 * recreates a session another request destroyed, so a logout cannot be undone by a
 * request that was still running.
 *
 * Every member returns a Promise and rejects (never throws synchronously) when the
 * backend cannot answer; the middleware then answers 503 instead of treating the
 * session as absent. The contract suite (`test/stores/session-contract.ts`) runs against
 * every store.
 * @module
 */

/** A stored session. */
export interface SessionRecord {
  /** When the session was created, epoch ms: the absolute timeout counts from here. */
  readonly createdAt: number
  /** When the session was last touched, epoch ms: the idle timeout counts from here. */
  readonly seenAt: number
  /** The session's fields: name → JSON text. */
  readonly fields: ReadonlyMap<string, string>
}

/** A change to one session, applied atomically. */
export interface SessionPatch {
  /**
   * Create the session with this creation time (epoch ms) if it does not exist. Absent:
   * apply the patch only to an existing session, and report false when there is none.
   */
  readonly createdAt?: number
  /** The new last-touched time, epoch ms. */
  readonly seenAt: number
  /** Fields to write: name → JSON text. */
  readonly set: ReadonlyMap<string, string>
  /** Fields to remove. */
  readonly remove: readonly string[]
}

/** A backend for server-side sessions. */
export interface SessionStore {
  /** A short name for `explain()` and messages, e.g. `'memory'` or `'redis'`. */
  readonly kind: string
  /** The session `id`, or undefined when there is none (never created, expired, destroyed). */
  load(id: string): Promise<SessionRecord | undefined>
  /**
   * Apply `patch` to session `id` and make it expire `ttlMs` from now. Resolves true when
   * applied, false when the session does not exist and the patch does not create it.
   */
  save(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean>
  /** Delete session `id`. Deleting a missing session succeeds. */
  destroy(id: string): Promise<void>
  /** Release timers (and connections the store opened itself). Called once, by whoever created the store. */
  close(): Promise<void>
}
