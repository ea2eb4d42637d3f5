/**
 * Authentication schemes as values: what an authenticating layer (jwtAuth, apiKey,
 * basicAuth) does to a request, apart from answering it. A scheme looks for its credential
 * and reports one of three outcomes without touching the response:
 *
 * - `undefined`: the request carries no credential of this scheme;
 * - an `HttpError`: it carries one, and it is refused (401 with this scheme's challenge,
 *   403, or 503 when the credential cannot be checked right now);
 * - any other value: accepted; `admit(req, value)` records it (identity, user id).
 *
 * The layer itself answers through {@link runScheme}; `anyOf()` asks several schemes the
 * same question and answers once. Keeping the decision apart from the answer is what lets
 * a request be tried against several schemes without ever being answered twice.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError } from './errors.js'
import { sendError } from './send-error.js'
import { isThenable } from './thenable.js'
import type { Middleware, RawHandler } from './types.js'

/** What a scheme's check found: nothing (`undefined`), a refusal, or an accepted value. */
export type AuthOutcome<V> = V | HttpError | undefined

/** One authentication scheme, usable alone (through its layer) or inside `anyOf()`. */
export interface AuthScheme<V = unknown> {
  /** A name for errors and `explain()`, e.g. `'basicAuth'` or `'session'`. */
  readonly name: string
  /**
   * The `WWW-Authenticate` challenge sent when the request carries no credential, e.g.
   * `Basic realm="api", charset="UTF-8"` (RFC 9110 §11.6.1). Schemes without one (a session
   * cookie) add none to `anyOf()`'s 401.
   */
  readonly challenge?: string
  /** Look for this scheme's credential on `req` and judge it; never answers, never throws for client input. */
  check(req: IncomingMessage): AuthOutcome<V> | Promise<AuthOutcome<V>>
  /** Record an accepted value on `req` (identity state, `userIdState`). */
  admit?(req: IncomingMessage, value: V): void
}

const SCHEME = Symbol('http-onion.authScheme')

/** How a layer's own configuration bears on `anyOf()`. */
export interface SchemeLayerInfo {
  /** Options of the layer that let requests through without credentials (publicPaths, optional), if set. */
  readonly exemptions: readonly string[]
}

type WithScheme = Middleware & { [SCHEME]?: { scheme: AuthScheme; info: SchemeLayerInfo } }

/** Attach `scheme` to an authenticating layer, so `anyOf()` can ask it without running it. */
export function attachScheme<M extends Middleware, V>(layer: M, scheme: AuthScheme<V>, info: SchemeLayerInfo): M {
  ;(layer as WithScheme)[SCHEME] = { scheme: scheme as unknown as AuthScheme, info }
  return layer
}

/** The scheme attached to `layer` by {@link attachScheme}, if any. */
export function schemeOf(layer: Middleware): { scheme: AuthScheme; info: SchemeLayerInfo } | undefined {
  return (layer as WithScheme)[SCHEME]
}

/**
 * Answer `req` as a single authenticating layer does: a refusal is sent, no credential is
 * `missing` (or passes when `optional`), an accepted value is admitted and `next` runs.
 */
export function runScheme<V>(
  scheme: AuthScheme<V>,
  missing: HttpError,
  optional: boolean,
  next: RawHandler,
  req: IncomingMessage,
  res: ServerResponse,
): unknown {
  const outcome = scheme.check(req)
  if (isThenable(outcome))
    return (outcome as Promise<AuthOutcome<V>>).then((found) =>
      settle(scheme, missing, optional, next, req, res, found),
    )
  return settle(scheme, missing, optional, next, req, res, outcome)
}

function settle<V>(
  scheme: AuthScheme<V>,
  missing: HttpError,
  optional: boolean,
  next: RawHandler,
  req: IncomingMessage,
  res: ServerResponse,
  outcome: AuthOutcome<V>,
): unknown {
  if (outcome === undefined) return optional ? next(req, res) : sendError(req, res, missing)
  if (outcome instanceof HttpError) return sendError(req, res, outcome)
  scheme.admit?.(req, outcome)
  return next(req, res)
}
