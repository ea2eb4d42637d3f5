/**
 * The response side of session(): what is written at response start (the cookie, the
 * store's patch), and the cookie payload's format. Pure functions of the session and of
 * settings made once per middleware.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { MAX_COOKIE_BYTES, type CompiledCookie } from '../../core/cookies.js'
import { reportError } from '../../core/report.js'
import type { SessionRecord } from '../../stores/session/store.js'
import type { CookieCodec } from './cookie-codec.js'
import type { SessionImpl } from './session-object.js'

/** Per-middleware settings the response-start listener needs (one object, no closure per request). */
export interface Writer {
  readonly codec: CookieCodec
  readonly cookie: CompiledCookie
  readonly fixedMaxAge: boolean
  readonly rolling: boolean
  readonly touchAfterMs: number
  readonly oversize: 'error' | 'warn'
}

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

/** The cookie's Max-Age: the session's remaining life, or the configured one. */
function maxAgeFor(writer: Writer, s: SessionImpl, at: number): number | undefined {
  return writer.fixedMaxAge ? undefined : Math.floor(s.ttlMs(at) / 1000)
}

function isTouchDue(writer: Writer, s: SessionImpl, at: number): boolean {
  return writer.rolling || s.touched || (s.ctx.idleMs > 0 && at - s.seenAt >= writer.touchAfterMs)
}

/** Response start, cookie sessions: write the cookie when the data or its times changed. */
export function writeCookieSession(res: ServerResponse, s: SessionImpl, writer: Writer): void {
  const at = s.ctx.now()
  if (s.values.size === 0) {
    // An empty session needs no cookie; one the browser holds is cleared.
    if (s.hadCookie) appendSetCookie(res, writer.cookie.clear(s.req))
    return
  }
  const json = s.changedJson()
  if (json === undefined && !s.resign && !isTouchDue(writer, s, at)) return
  const line = writer.cookie.serialize(
    writer.codec.seal(`${s.createdAt}|${at}|${json ?? s.json()}`),
    s.req,
    maxAgeFor(writer, s, at),
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
export function writeStoredSession(res: ServerResponse, s: SessionImpl, writer: Writer): void {
  const at = s.ctx.now()
  const due = isTouchDue(writer, s, at)
  const creating = s.isNew && s.values.size > 0
  if (creating || (!s.isNew && (due || s.hasChanges()))) {
    // The write is sent to Redis before the response's headers: a client's next request,
    // one round trip later at least, sees it. Its failure is reported; await
    // session.save() in the handler to learn of it.
    s.commit(at).catch((err: unknown) => reportError('session(): saving a session failed', err))
  }
  if (s.isNew) {
    // Nothing stored: a cookie the browser holds names a session that no longer exists.
    if (s.hadCookie) appendSetCookie(res, writer.cookie.clear(s.req))
    return
  }
  if (s.cookieDue || due || s.resign)
    appendSetCookie(res, writer.cookie.serialize(writer.codec.sign(s.id!), s.req, maxAgeFor(writer, s, at)))
}

/** Add a Set-Cookie line, keeping those of other layers and the handler. */
function appendSetCookie(res: ServerResponse, line: string): void {
  res.appendHeader('set-cookie', line)
  // A shared cache must never store a response that sets a session cookie (RFC 9111 §5.2.2.7).
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'private')
}
