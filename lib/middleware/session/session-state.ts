/**
 * A request's session: the object handlers use (`getSession(req)`), its bookkeeping (which
 * fields changed, whether the cookie must be written, whether the store must be told), and
 * what it writes at response start (the cookie, the store's patch). One instance per
 * request; everything shared by the requests of one middleware lives in a
 * {@link SessionContext} made once.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MAX_COOKIE_BYTES, type CompiledCookie } from '../../core/cookies.js'
import { HttpError } from '../../core/errors.js'
import { reportError } from '../../core/report.js'
import { userIdState } from '../../core/shared-state.js'
import type { SessionPatch, SessionRecord, SessionStore } from '../../stores/session/store.js'
import type { CookieCodec } from './cookie-codec.js'

/** Session data: JSON-serialisable values by name. */
export type SessionData = Record<string, unknown>

/** Options of {@link Session.regenerate}. */
export interface RegenerateOptions {
  /** Carry the current fields over to the new session. @default false */
  keepData?: boolean
}

/** A request's session. Values must survive `JSON.stringify`. */
export interface Session<D extends object = SessionData> {
  /** The session id with a store; undefined for cookie sessions. */
  readonly id: string | undefined
  /** True when the session was created by this request (or regenerated, or destroyed and restarted). */
  readonly isNew: boolean
  /** When the session was created, epoch ms. */
  readonly createdAt: number
  /** The value of `key`. Objects may be changed in place: the change is detected and saved. */
  get<K extends keyof D & string>(key: K): D[K] | undefined
  /** Set `key` (undefined deletes it). Throws when a cookie session would pass 4 KB. */
  set<K extends keyof D & string>(key: K, value: D[K] | undefined): void
  /** Delete `key`. */
  delete(key: keyof D & string): void
  /** Whether `key` has a value. */
  has(key: keyof D & string): boolean
  /** The names that have values. */
  keys(): string[]
  /** Delete every field (the session itself stays). */
  clear(): void
  /** Write the cookie (and refresh the store's expiry) with this response even if nothing changed. */
  touch(): void
  /**
   * Start a new session: a new id (the old one is deleted from the store) and a new
   * creation time. Call it at login, so an id planted before login is worthless (session
   * fixation). Data is dropped unless `keepData`.
   */
  regenerate(options?: RegenerateOptions): Promise<void>
  /** End the session: delete it from the store and clear the cookie. Setting a field afterwards starts a new one. */
  destroy(): Promise<void>
  /**
   * Write the changes to the store now, instead of at response start, and learn whether
   * they landed: resolves false when the session was destroyed meanwhile (another request
   * logged out), rejects with a 503 HttpError when the store fails. No-op for cookie sessions.
   */
  save(): Promise<boolean>
}

/** Thrown by `set()` when a cookie session would exceed the 4 KB browsers keep. */
export class SessionTooLargeError extends RangeError {
  readonly code = 'ERR_SESSION_TOO_LARGE'
  constructor(bytes: number, limit: number) {
    super(
      `session(): the session cookie would be ${bytes} bytes, over the ${limit} bytes browsers keep (RFC 6265 §6.1); ` +
        'store less in it, or use a store (session({ store: redisSessionStore(...) })).',
    )
    this.name = 'SessionTooLargeError'
  }
}

/** What every session of one middleware shares: its settings, made once (no closure per request). */
export interface SessionContext {
  readonly store: SessionStore | undefined
  readonly now: () => number
  readonly absoluteMs: number
  /** 0: no idle timeout. */
  readonly idleMs: number
  readonly newId: () => string
  readonly userIdKey: string | undefined
  /** Cookie sessions: check the cookie's size on set() (oversize 'error'); else it is checked when written. */
  readonly checkCookieSize: boolean
  readonly maxCookieBytes: number
  readonly codec: CookieCodec
  readonly cookie: CompiledCookie
  /** The cookie has a configured Max-Age; otherwise it is the session's remaining life. */
  readonly fixedMaxAge: boolean
  /** The cookie carries no Max-Age: it ends with the browser session (the server's timeouts still apply). */
  readonly browserSession: boolean
  readonly rolling: boolean
  readonly touchAfterMs: number
}

/** The cookie payload of a cookie session: `created|seen|json`. */
const payload = (createdAt: number, seenAt: number, json: string): string => `${createdAt}|${seenAt}|${json}`

/** `created|seen|json` → the record and the data's JSON text, or undefined when malformed. */
export function parsePayload(plain: string): { session: SessionRecord; json: string } | undefined {
  const first = plain.indexOf('|')
  const second = plain.indexOf('|', first + 1)
  if (first < 0 || second < 0) return undefined
  const createdAt = Number(plain.slice(0, first))
  const seenAt = Number(plain.slice(first + 1, second))
  const json = plain.slice(second + 1)
  if (!Number.isSafeInteger(createdAt) || !Number.isSafeInteger(seenAt)) return undefined
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch {
    return undefined
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined
  const fields = new Map<string, string>()
  for (const [key, value] of Object.entries(data)) fields.set(key, JSON.stringify(value))
  return { session: { createdAt, seenAt, fields }, json }
}

const unavailable = (cause: unknown): HttpError =>
  new HttpError(503, 'The session store is unavailable', {
    code: 'session_unavailable',
    headers: { 'retry-after': '5' },
    cause,
  })

/** The implementation of {@link Session}; the middleware reads its bookkeeping. */
export class SessionImpl implements Session<SessionData> {
  readonly ctx: SessionContext
  readonly req: IncomingMessage
  id: string | undefined
  isNew: boolean
  createdAt: number
  seenAt: number
  readonly values = new Map<string, unknown>()
  /** Store sessions: the JSON text of each field as stored, to find what changed. */
  texts = new Map<string, string>()
  /** Cookie sessions: the data's JSON as it came in the cookie ('' when new). */
  originalJson = ''
  /** Fields set or deleted since the last save, and object fields read (maybe changed in place). */
  readonly dirty = new Set<string>()
  /** The request carried a cookie of this middleware (valid or not). */
  hadCookie = false
  /** The cookie verified with an older secret: re-issue it signed with the current one. */
  resign = false
  /** A new id was minted (new session, regenerate, destroy): the cookie must carry it. */
  cookieDue: boolean
  /** touch() was called. */
  touched = false

  constructor(ctx: SessionContext, req: IncomingMessage, record: SessionRecord | undefined, id: string | undefined) {
    this.ctx = ctx
    this.req = req
    const now = ctx.now()
    this.isNew = record === undefined
    this.cookieDue = record === undefined
    this.id = ctx.store === undefined ? undefined : record === undefined ? ctx.newId() : id
    this.createdAt = record?.createdAt ?? now
    this.seenAt = record?.seenAt ?? now
    if (record !== undefined) {
      for (const [name, text] of record.fields) {
        this.values.set(name, JSON.parse(text))
        this.texts.set(name, text)
      }
      this.publishUserId()
    }
  }

  get<K extends string>(key: K): unknown {
    const value = this.values.get(key)
    if (value !== null && typeof value === 'object') this.dirty.add(key)
    return value
  }

  set(key: string, value: unknown): void {
    if (value === undefined) {
      this.delete(key)
      return
    }
    // Fail here, at the call, for values JSON cannot carry (BigInt, cycles).
    const text = JSON.stringify(value)
    if (text === undefined)
      throw new TypeError(
        `session(): the value of "${key}" cannot be stored: JSON.stringify gives nothing for a ${typeof value}.`,
      )
    const previous = this.values.get(key)
    this.values.set(key, value)
    this.dirty.add(key)
    if (this.ctx.checkCookieSize) {
      const bytes = this.cookieBytes()
      if (bytes > this.ctx.maxCookieBytes) {
        if (previous === undefined) this.values.delete(key)
        else this.values.set(key, previous)
        throw new SessionTooLargeError(bytes, this.ctx.maxCookieBytes)
      }
    }
    if (key === this.ctx.userIdKey) this.publishUserId()
  }

  delete(key: string): void {
    if (this.values.delete(key)) this.dirty.add(key)
  }

  has(key: string): boolean {
    return this.values.has(key)
  }

  keys(): string[] {
    return [...this.values.keys()]
  }

  clear(): void {
    for (const key of this.values.keys()) this.dirty.add(key)
    this.values.clear()
  }

  touch(): void {
    this.touched = true
  }

  async regenerate(options: RegenerateOptions = {}): Promise<void> {
    await this.dropStored()
    if (options.keepData !== true) this.clear()
    this.restart()
    for (const key of this.values.keys()) this.dirty.add(key)
  }

  async destroy(): Promise<void> {
    await this.dropStored()
    this.clear()
    this.restart()
  }

  async save(): Promise<boolean> {
    if (this.ctx.store === undefined || (this.isNew && this.values.size === 0)) return true
    try {
      return await this.commit(this.ctx.now())
    } catch (err) {
      throw unavailable(err)
    }
  }

  /** Store sessions: whether any field differs from what the store holds. */
  hasChanges(): boolean {
    for (const key of this.dirty) {
      const text = this.values.has(key) ? JSON.stringify(this.values.get(key)) : undefined
      if (text !== this.texts.get(key)) return true
    }
    return false
  }

  /** Cookie sessions: the data's JSON when it differs from what came in, else undefined. */
  changedJson(): string | undefined {
    if (this.dirty.size === 0 && this.originalJson !== '') return undefined
    const json = this.json()
    return json === this.originalJson ? undefined : json
  }

  json(): string {
    return JSON.stringify(Object.fromEntries(this.values))
  }

  /**
   * Store sessions: send the changed fields (and the new expiry) to the store. What is
   * sent counts as stored at once, so a later commit sends only newer changes.
   */
  commit(now: number): Promise<boolean> {
    const store = this.ctx.store!
    const set = new Map<string, string>()
    const remove: string[] = []
    for (const key of this.dirty) {
      if (this.values.has(key)) {
        const text = JSON.stringify(this.values.get(key))
        if (text !== this.texts.get(key)) {
          set.set(key, text)
          this.texts.set(key, text)
        }
      } else if (this.texts.delete(key)) {
        remove.push(key)
      }
    }
    this.dirty.clear()
    const patch: SessionPatch = this.isNew
      ? { createdAt: this.createdAt, seenAt: now, set, remove }
      : { seenAt: now, set, remove }
    this.isNew = false
    this.seenAt = now
    return store.save(this.id!, patch, this.ttlMs(now))
  }

  /** Milliseconds the session may live from `now`: the idle timeout, capped by the absolute one. */
  ttlMs(now: number): number {
    const absolute = this.createdAt + this.ctx.absoluteMs - now
    return this.ctx.idleMs > 0 ? Math.min(this.ctx.idleMs, absolute) : absolute
  }

  /**
   * The cookie's exact length with the current data, computed without encrypting: the
   * payload sealed, plus the name and the attributes (with the widest Max-Age).
   */
  cookieBytes(): number {
    const ctx = this.ctx
    return (
      ctx.codec.sealedLength(Buffer.byteLength(payload(this.createdAt, ctx.now(), this.json()))) +
      ctx.cookie.serialize('', this.req, 34_560_000).length
    )
  }

  /** Response start, cookie sessions: write the cookie when the data or its times changed. */
  writeCookie(res: ServerResponse): void {
    const ctx = this.ctx
    const at = ctx.now()
    if (this.values.size === 0) {
      // An empty session needs no cookie; one the browser holds is cleared.
      if (this.hadCookie) appendSetCookie(res, ctx.cookie.clear(this.req))
      return
    }
    const json = this.changedJson()
    if (json === undefined && !this.resign && !this.isTouchDue(at)) return
    const line = ctx.cookie.serialize(
      ctx.codec.seal(payload(this.createdAt, at, json ?? this.json())),
      this.req,
      this.maxAgeAt(at),
    )
    if (Buffer.byteLength(line) > MAX_COOKIE_BYTES) {
      // Reached in 'warn' mode, or when a value grew in place after set() checked it:
      // throwing here would fail a response the handler believes sent, so report instead.
      reportError(
        'session()',
        new Error(
          `the session cookie would be ${Buffer.byteLength(line)} bytes, over the ${MAX_COOKIE_BYTES} bytes browsers keep; it was not sent, and the previous cookie stays.`,
        ),
      )
      return
    }
    appendSetCookie(res, line)
  }

  /** Response start, store sessions: save what changed (in the background) and write the id cookie when needed. */
  writeStored(res: ServerResponse): void {
    const ctx = this.ctx
    const at = ctx.now()
    const due = this.isTouchDue(at)
    const creating = this.isNew && this.values.size > 0
    if (creating || (!this.isNew && (due || this.hasChanges()))) {
      // The write is sent to Redis before the response's headers: a client's next request,
      // one round trip later at least, sees it. Its failure is reported; await
      // session.save() in the handler to learn of it.
      this.commit(at).catch((err: unknown) => reportError('session(): saving a session failed', err, this.req))
    }
    if (this.isNew) {
      // Nothing stored: a cookie the browser holds names a session that no longer exists.
      if (this.hadCookie) appendSetCookie(res, ctx.cookie.clear(this.req))
      return
    }
    if (this.cookieDue || due || this.resign)
      appendSetCookie(res, ctx.cookie.serialize(ctx.codec.sign(this.id!), this.req, this.maxAgeAt(at)))
  }

  /** The cookie's Max-Age: none (null, a browser-session cookie), the configured one (undefined), or the session's remaining life. */
  private maxAgeAt(at: number): number | null | undefined {
    if (this.ctx.browserSession) return null
    return this.ctx.fixedMaxAge ? undefined : Math.floor(this.ttlMs(at) / 1000)
  }

  private isTouchDue(at: number): boolean {
    const ctx = this.ctx
    return ctx.rolling || this.touched || (ctx.idleMs > 0 && at - this.seenAt >= ctx.touchAfterMs)
  }

  private async dropStored(): Promise<void> {
    const store = this.ctx.store
    if (store === undefined || this.isNew || this.id === undefined) return
    try {
      await store.destroy(this.id)
    } catch (err) {
      throw unavailable(err)
    }
  }

  private restart(): void {
    const now = this.ctx.now()
    this.id = this.ctx.store === undefined ? undefined : this.ctx.newId()
    this.isNew = true
    this.cookieDue = true
    this.createdAt = now
    this.seenAt = now
    this.texts = new Map()
    // A cookie session's new creation time must reach the cookie even with the same data.
    this.originalJson = '\0restarted'
  }

  private publishUserId(): void {
    const key = this.ctx.userIdKey
    if (key === undefined) return
    const id = this.values.get(key)
    if (typeof id === 'string' && id.length > 0) userIdState.set(this.req, id)
  }
}

/** Response-start listener of cookie sessions; the session is its context, so no closure per request. */
export function writeCookieSession(res: ServerResponse, s: SessionImpl): void {
  s.writeCookie(res)
}

/** Response-start listener of store sessions. */
export function writeStoredSession(res: ServerResponse, s: SessionImpl): void {
  s.writeStored(res)
}

/** Add a Set-Cookie line, keeping those of other layers and the handler. */
function appendSetCookie(res: ServerResponse, line: string): void {
  res.appendHeader('set-cookie', line)
  // A shared cache must never store a response that sets a session cookie (RFC 9111 §5.2.2.7).
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'private')
}
