/**
 * session(): a session per client, in a signed (optionally encrypted) cookie, or in a
 * store (`redisSessionStore()`, `memorySessionStore()`) with only a signed, unguessable
 * id in the cookie.
 *
 * - A cookie that is tampered with, truncated, unsigned, signed with an unknown secret or
 *   past its timeouts gives a fresh, empty session, never an error.
 * - Absolute and idle timeouts travel inside the signed payload (cookie sessions) or the
 *   store's record, so an old cookie replayed later is refused.
 * - `Set-Cookie` is written at response start, and only when something changed (data, id,
 *   a due touch, an old secret to replace) or `rolling` asks for it every time.
 * - A store that fails is never "no session": a request with a valid cookie gets 503 and
 *   its cookie is left alone.
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { compileCookie, getCookies, MAX_COOKIE_BYTES, type CookieAttributes } from '../../core/cookies.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, HttpError } from '../../core/errors.js'
import {
  defineDefaults,
  expectBoolean,
  expectFunction,
  expectInteger,
  expectOneOf,
  expectString,
  withDefaults,
} from '../../core/options.js'
import { reportError } from '../../core/report.js'
import { onResponseStart } from '../../core/response-start.js'
import { sendError } from '../../core/send-error.js'
import { sessionState } from '../../core/shared-state.js'
import type { Middleware, RawHandler } from '../../core/types.js'
import type { SessionRecord, SessionStore } from '../../stores/session/store.js'
import { createCookieCodec, type SessionSecret } from './cookie-codec.js'
import {
  parsePayload,
  SessionImpl,
  writeCookieSession,
  writeStoredSession,
  type Session,
  type SessionContext,
  type SessionData,
} from './session-state.js'

export { SessionTooLargeError, type RegenerateOptions, type Session, type SessionData } from './session-state.js'
export type { SessionSecret } from './cookie-codec.js'

/** Options for {@link session}. */
export interface SessionOptions {
  /** Secrets (at least 32 bytes each): the first signs, all verify. Add a new one in front to rotate; drop the last when old cookies have expired. */
  secrets: SessionSecret | readonly SessionSecret[]
  /** Keep data in this store, with only the signed id in the cookie. Without it the data is in the cookie. */
  store?: SessionStore
  /** Cookie name. Prefix it `__Host-` (with `cookie.secure: true`) to bind it to one host. @default 'session' */
  name?: string
  /** Cookie attributes, validated at construction. Secure defaults to 'auto' (on for https clients). `maxAge` defaults to the session's remaining lifetime. @default { httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto' } */
  cookie?: CookieAttributes
  /**
   * Send the cookie without `Max-Age` or `Expires`, so the browser drops it when its session
   * ends (express-session's `cookie.maxAge: null`). The server still ends the session after
   * `absoluteTimeoutSeconds` (and `idleTimeoutSeconds`), however long the browser stays open:
   * the limits live in the signed cookie or the store, not in the cookie's lifetime.
   * Excludes `cookie.maxAge`.
   * @default false
   */
  browserSessionCookie?: boolean
  /** A session ends this long after it was created, however active. @default 86_400 (one day) */
  absoluteTimeoutSeconds?: number
  /** A session ends after this long without a request; 0 for none. @default 7_200 (two hours) */
  idleTimeoutSeconds?: number
  /** An active session is touched (cookie re-issued, store expiry extended) when its last touch is older than this. @default 60 */
  touchAfterSeconds?: number
  /** Re-issue the cookie and extend the expiry on every response. @default false */
  rolling?: boolean
  /** Cookie sessions: encrypt the data (AES-256-GCM) so the client cannot read it. @default false */
  encrypt?: boolean
  /** Cookie sessions over 4 KB: `'error'` throws from `set()`; `'warn'` reports and keeps the previous cookie. @default 'error' */
  oversize?: 'error' | 'warn'
  /** A session field holding the user id, copied to `userIdState` (access logs, per-user limits). */
  userIdKey?: string
  /** Wall clock, epoch ms (tests). @default Date.now */
  now?: () => number
}

/** Defaults of {@link session}. */
export const sessionDefaults = defineDefaults<SessionOptions, 'secrets' | 'store' | 'userIdKey'>({
  secrets: undefined,
  store: undefined,
  name: 'session',
  cookie: Object.freeze({}),
  browserSessionCookie: false,
  absoluteTimeoutSeconds: 86_400,
  idleTimeoutSeconds: 7_200,
  touchAfterSeconds: 60,
  rolling: false,
  encrypt: false,
  oversize: 'error',
  userIdKey: undefined,
  now: Date.now,
})

/** The session of `req`; throws, naming what to mount, when session() has not run for it. */
export const getSession = <D extends object = SessionData>(req: IncomingMessage): Session<D> =>
  sessionState.get(req) as unknown as Session<D>
/** The session of `req`, or `undefined` when session() has not run for it. */
export const tryGetSession = <D extends object = SessionData>(req: IncomingMessage): Session<D> | undefined =>
  sessionState.tryGet(req) as unknown as Session<D> | undefined

/** What session() returns: a middleware that also reads its sessions with their type. */
export interface SessionMiddleware<D extends object> extends Middleware {
  /** The session of `req`, as {@link getSession}: throws, naming what to mount, when session() did not run for it. */
  get(req: IncomingMessage): Session<D>
  /** The session of `req`, or undefined, as {@link tryGetSession}. */
  tryGet(req: IncomingMessage): Session<D> | undefined
}

// Session ids: 192 bits from the CSPRNG, above the 128 bits OWASP asks for, as 32 base64url characters.
const ID_BYTES = 24
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/
const newId = (): string => randomBytes(ID_BYTES).toString('base64url')

/**
 * Sessions for every request, available through {@link getSession}. Pitfalls: call
 * `regenerate()` at login; cookie sessions cannot be revoked before their timeouts (a
 * copied cookie works until then), so keep them short or use a store; mount inside
 * `proxyHeaders()` so `Secure` follows the client's real scheme.
 * @example
 * const sessions = session<{ userId: string }>({ secrets: [process.env.SESSION_SECRET!], store: redisSessionStore({ client: redis }) })
 * http.createServer(compose(sessions)((req, res) => res.end(sessions.get(req).get('userId') ?? 'anonymous')))
 */
export function session<D extends object = SessionData>(options: SessionOptions): SessionMiddleware<D> {
  const opts = withDefaults('session', sessionDefaults, options)
  const name = expectString(
    'session',
    'name',
    opts.name,
    false,
    'Give the cookie a name, e.g. "session" (the default) or "__Host-session".',
  )
  const cookie = compileCookie('session', 'cookie', name, opts.cookie)
  const encrypt = expectBoolean('session', 'encrypt', opts.encrypt)
  const store = opts.store
  if (
    store !== undefined &&
    (store === null ||
      typeof store !== 'object' ||
      typeof store.load !== 'function' ||
      typeof store.save !== 'function' ||
      typeof store.destroy !== 'function')
  ) {
    throw new ConfigError(
      'session',
      'store',
      'a session store (memorySessionStore(), redisSessionStore() or your own SessionStore)',
      store,
      'Leave store unset to keep the (signed) data in the cookie itself.',
    )
  }
  if (store !== undefined && encrypt)
    throw new ConfigError(
      'session',
      'encrypt',
      'false with a store',
      encrypt,
      'The cookie then holds only a signed id; the data stays in the store.',
    )
  const codec = createCookieCodec('session', name, opts.secrets, encrypt)
  const absoluteSeconds = expectInteger('session', 'absoluteTimeoutSeconds', opts.absoluteTimeoutSeconds, 1)
  const idleSeconds = expectInteger('session', 'idleTimeoutSeconds', opts.idleTimeoutSeconds, 0)
  const touchAfterSeconds = expectInteger('session', 'touchAfterSeconds', opts.touchAfterSeconds, 0)
  if (idleSeconds > 0 && touchAfterSeconds >= idleSeconds) {
    throw new ConfigError(
      'session',
      'touchAfterSeconds',
      `less than idleTimeoutSeconds (${idleSeconds})`,
      touchAfterSeconds,
      'Active sessions would otherwise expire while in use.',
    )
  }
  const rolling = expectBoolean('session', 'rolling', opts.rolling)
  const browserSession = expectBoolean('session', 'browserSessionCookie', opts.browserSessionCookie)
  if (browserSession && opts.cookie.maxAge !== undefined) {
    throw new ConfigError(
      'session',
      'cookie.maxAge',
      'absent when browserSessionCookie is true',
      opts.cookie.maxAge,
      'A browser-session cookie has no Max-Age: keep one of the two.',
    )
  }
  const oversize = expectOneOf('session', 'oversize', opts.oversize, ['error', 'warn'] as const)
  const userIdKey = opts.userIdKey === undefined ? undefined : expectString('session', 'userIdKey', opts.userIdKey)
  const now = expectFunction<() => number>('session', 'now', opts.now)

  const ctx: SessionContext = {
    store,
    now,
    absoluteMs: absoluteSeconds * 1000,
    idleMs: idleSeconds * 1000,
    newId,
    userIdKey,
    checkCookieSize: store === undefined && oversize === 'error',
    maxCookieBytes: MAX_COOKIE_BYTES,
    codec,
    cookie,
    fixedMaxAge: opts.cookie.maxAge !== undefined,
    browserSession,
    rolling,
    touchAfterMs: touchAfterSeconds * 1000,
  }
  const unavailable = new HttpError(503, 'The session store is unavailable', {
    code: 'session_unavailable',
    headers: { 'retry-after': '5' },
  })

  /** A fresh session, or the one the cookie carries; for stores this only verifies the id. */
  function fromCookies(
    values: string[],
    req: IncomingMessage,
  ): SessionImpl | { readonly id: string; readonly key: number } {
    for (const value of values) {
      if (store !== undefined) {
        const verified = codec.verify(value)
        if (verified !== undefined && ID_PATTERN.test(verified.body)) return { id: verified.body, key: verified.key }
        continue
      }
      const opened = codec.open(value)
      if (opened === undefined) continue
      const record = parsePayload(opened.plain)
      if (record === undefined || expired(record, now())) continue
      const s = new SessionImpl(ctx, req, record.session, undefined)
      s.originalJson = record.json
      s.resign = opened.key > 0
      s.hadCookie = true
      return s
    }
    const fresh = new SessionImpl(ctx, req, undefined, undefined)
    fresh.hadCookie = values.length > 0
    return fresh
  }

  function expired(record: { session: SessionRecord }, at: number): boolean {
    return (
      at >= record.session.createdAt + ctx.absoluteMs || (ctx.idleMs > 0 && at >= record.session.seenAt + ctx.idleMs)
    )
  }

  function start(next: RawHandler, req: IncomingMessage, res: ServerResponse, s: SessionImpl): unknown {
    sessionState.set(req, s as Session<SessionData>)
    onResponseStart(res, store === undefined ? writeCookieSession : writeStoredSession, s)
    return next(req, res)
  }

  async function loadThenStart(
    next: RawHandler,
    req: IncomingMessage,
    res: ServerResponse,
    { id, key }: { id: string; key: number },
  ): Promise<unknown> {
    let record: SessionRecord | undefined
    try {
      record = await store!.load(id)
    } catch (err) {
      // Never "no session": that would log every user out during an outage. The cookie is
      // left alone (no Set-Cookie), and the client may retry.
      reportError('session(): loading a session failed', err, req)
      return sendError(req, res, unavailable)
    }
    const live = record !== undefined && !expired({ session: record }, now())
    const s = new SessionImpl(ctx, req, live ? record : undefined, id)
    s.hadCookie = true
    s.resign = live && key > 0
    if (record !== undefined && !live)
      store!.destroy(id).catch((err: unknown) => reportError('session(): deleting an expired session failed', err, req))
    return start(next, req, res, s)
  }

  const middleware = defineMiddleware(
    {
      name: 'session',
      detail: `${store === undefined ? `cookie${encrypt ? ', encrypted' : ''}` : `store ${store.kind}`}, ${absoluteSeconds}s absolute, ${idleSeconds > 0 ? `${idleSeconds}s idle` : 'no idle timeout'}${rolling ? ', rolling' : ''}`,
      security: true,
    },
    (next) =>
      function sessionHandler(req, res) {
        const values = getCookies(req, name)
        const found = fromCookies(values, req)
        if (found instanceof SessionImpl) return start(next, req, res, found)
        return loadThenStart(next, req, res, found)
      },
  )

  return Object.assign(middleware, {
    get: (req: IncomingMessage): Session<D> => sessionState.get(req) as unknown as Session<D>,
    tryGet: (req: IncomingMessage): Session<D> | undefined =>
      sessionState.tryGet(req) as unknown as Session<D> | undefined,
  })
}
