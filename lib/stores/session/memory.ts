/**
 * An in-memory session store for one process: tests, development, single-instance
 * deployments. Bounded: when full, expired sessions go first, then the least recently
 * used. Sessions do not survive a restart and are not shared between processes; use
 * `redisSessionStore()` for that.
 * @module
 */
import { defineDefaults, expectFunction, expectInteger, withDefaults } from '../../core/options.js'
import type { SessionPatch, SessionRecord, SessionStore } from './store.js'

/** Options for {@link memorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Most sessions held; beyond it the least recently used is dropped. @default 10_000 */
  maxSessions?: number
  /** Wall clock, epoch ms (tests). @default Date.now */
  now?: () => number
}

/** Defaults of {@link memorySessionStore}. */
export const memorySessionStoreDefaults = defineDefaults<MemorySessionStoreOptions>({
  maxSessions: 10_000,
  now: Date.now,
})

/** A memory session store; `size` is the number of sessions held (expired ones included until swept). */
export interface MemorySessionStore extends SessionStore {
  readonly size: number
}

interface Entry {
  createdAt: number
  seenAt: number
  expiresAt: number
  fields: Map<string, string>
}

/**
 * Keep sessions in this process's memory.
 * @example
 * const app = compose(session({ secrets: [process.env.SESSION_SECRET!], store: memorySessionStore() }))(handler)
 */
export function memorySessionStore(options: MemorySessionStoreOptions = {}): MemorySessionStore {
  const opts = withDefaults('memorySessionStore', memorySessionStoreDefaults, options)
  const max = expectInteger('memorySessionStore', 'maxSessions', opts.maxSessions, 1)
  const now = expectFunction<() => number>('memorySessionStore', 'now', opts.now)
  // Map order is recency: a session is moved to the end whenever it is used.
  const sessions = new Map<string, Entry>()
  let closed = false

  const live = (id: string): Entry | undefined => {
    const entry = sessions.get(id)
    if (entry === undefined) return undefined
    sessions.delete(id)
    if (entry.expiresAt <= now()) return undefined
    sessions.set(id, entry)
    return entry
  }

  const makeRoom = (): void => {
    if (sessions.size < max) return
    const at = now()
    for (const [id, entry] of sessions) if (entry.expiresAt <= at) sessions.delete(id)
    while (sessions.size >= max) sessions.delete(sessions.keys().next().value!)
  }

  const assertOpen = (): void => {
    if (closed) throw new Error('memorySessionStore(): the store was closed.')
  }

  return {
    kind: 'memory',
    get size() {
      return sessions.size
    },
    async load(id: string): Promise<SessionRecord | undefined> {
      assertOpen()
      const entry = live(id)
      // A copy: the caller must not see later writes of other requests, as with Redis.
      return entry && { createdAt: entry.createdAt, seenAt: entry.seenAt, fields: new Map(entry.fields) }
    },
    async save(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
      assertOpen()
      if (!(ttlMs > 0)) throw new RangeError(`memorySessionStore(): save() needs a positive ttlMs; received ${ttlMs}.`)
      let entry = live(id)
      if (entry === undefined) {
        if (patch.createdAt === undefined) return false
        makeRoom()
        entry = { createdAt: patch.createdAt, seenAt: patch.seenAt, expiresAt: 0, fields: new Map() }
        sessions.set(id, entry)
      }
      entry.seenAt = patch.seenAt
      entry.expiresAt = now() + ttlMs
      for (const [name, value] of patch.set) entry.fields.set(name, value)
      for (const name of patch.remove) entry.fields.delete(name)
      return true
    },
    async destroy(id: string): Promise<void> {
      assertOpen()
      sessions.delete(id)
    },
    async close(): Promise<void> {
      closed = true
      sessions.clear()
    },
  }
}
