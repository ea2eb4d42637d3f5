/**
 * Request ids: keep a trusted, valid incoming id or mint a time-ordered one, expose it to
 * every layer (error responses, access log, outgoing calls) and echo it on every response.
 *
 * The id is written at response start, so a 401 from an inner auth layer, a 429 from a
 * limiter or the error boundary's 500 carries it as much as the handler's own answer.
 * A client's value is kept only when it is trusted and passes {@link isRequestId}; any other
 * value is replaced, and is never echoed, logged or stored.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { v7 as uuidv7 } from 'uuid'
import { clientIdentity } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError, describeValue } from '../../core/errors.js'
import { setOwnHeader, singleHeader } from '../../core/headers.js'
import {
  defineDefaults,
  expectArray,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectOneOf,
  withDefaults,
} from '../../core/options.js'
import { reportError } from '../../core/report.js'
import { attachRequestIdSource } from '../../core/request-id-source.js'
import { onResponseStart } from '../../core/response-start.js'
import { requestIdState } from '../../core/shared-state.js'
import { vouchJsonSafe } from '../../core/json-safe.js'
import { pooledUuidv7 } from './uuid-v7.js'
import type { Middleware } from '../../core/types.js'

/** Options for {@link requestId}. */
export interface RequestIdOptions {
  /**
   * Response header carrying the id, and the first request header read for one.
   * Change it to match what your proxy or log pipeline uses.
   * @default 'x-request-id'
   */
  header?: string
  /**
   * Request headers read for an incoming id, in order of preference; the first one present
   * decides (a present but invalid one is replaced, not skipped). List `x-correlation-id`
   * here to accept it as well.
   * @default [header]
   */
  incomingHeaders?: readonly string[]
  /**
   * When to keep an incoming id: `'proxy'` only when a trusted proxy forwarded the request
   * (`proxyHeaders()`, read through the client identity), `true` always (a service called
   * only by trusted peers), `false` never. An untrusted client could otherwise choose the id
   * that ends up in your logs, e.g. one colliding with another request's.
   * @default 'proxy'
   */
  trustIncoming?: boolean | 'proxy'
  /**
   * Longest incoming id kept, up to 128; longer ones are replaced. Lower it when your log
   * pipeline indexes a shorter field.
   * @default 128
   */
  maxLength?: number
  /**
   * Mints an id when none is kept. It must return ids that {@link isRequestId} accepts; one
   * that throws or returns anything else is reported once and replaced by a UUID v7.
   * @default uuid v7 (time-ordered, so ids sort by creation time in logs)
   */
  generate?: () => string
  /**
   * Echo the id in `header` on every response. Turn off only when a proxy in front of you
   * adds the header itself.
   * @default true
   */
  echo?: boolean
}

/** Defaults of {@link requestId}; `incomingHeaders` defaults to `[header]`. */
export const requestIdDefaults = defineDefaults<RequestIdOptions, 'incomingHeaders'>({
  header: 'x-request-id',
  incomingHeaders: undefined,
  trustIncoming: 'proxy',
  maxLength: 128,
  generate: uuidv7,
  echo: true,
})

/** The longest id ever kept, whatever `maxLength` says: ids go into every log line. */
export const REQUEST_ID_MAX_LENGTH = 128

// The accepted alphabet: enough for UUIDs, ULIDs, base64url without padding, AWS
// ("Root=1-…") and GCP ("…/…;o=1" minus the separators) trace ids; nothing that can break
// a header, a log line or a terminal (no CR/LF, controls, escapes, spaces, quotes, commas).
const ID_PATTERN = /^[A-Za-z0-9._:=-]+$/

/**
 * Whether `value` is acceptable as a request id: 1 to `maxLength` (at most 128) characters
 * of `A-Z a-z 0-9 . _ : = -`.
 * @example
 * isRequestId('01890a5d-ac96-774b-bcce-b302099a8057') // true
 * isRequestId('a b') // false
 */
export function isRequestId(value: unknown, maxLength = REQUEST_ID_MAX_LENGTH): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= Math.min(maxLength, REQUEST_ID_MAX_LENGTH) &&
    ID_PATTERN.test(value)
  )
}

/** The id of `req`; throws, naming what to mount, when `requestId()` has not run for it. */
export const getRequestId = (req: IncomingMessage): string => requestIdState.get(req)

/** The id of `req`, or `undefined` when `requestId()` has not run for it. */
export const tryGetRequestId = (req: IncomingMessage): string | undefined => requestIdState.tryGet(req)

/**
 * Give every request an id, readable with {@link getRequestId}, sent back in `x-request-id`,
 * and included by `sendError()` in every error body.
 *
 * Mount it inside `proxyHeaders()` when ids from your proxy should be kept (the default
 * `trustIncoming: 'proxy'` asks the client identity it sets), and outside `accessLog()` and
 * every layer that can refuse a request, so their answers and log lines carry the id.
 * @example
 * const app = compose(proxyHeaders({ trust: ['10.0.0.0/8'] }), requestId(), accessLog())(router)
 */
export function requestId(options: RequestIdOptions = {}): Middleware {
  const opts = withDefaults('requestId', requestIdDefaults, options)
  const header = expectHeaderName(
    'requestId',
    'header',
    opts.header,
    'Give a header name such as "x-request-id" (the default) or "x-correlation-id".',
  )
  const incoming = expectArray('requestId', 'incomingHeaders', opts.incomingHeaders ?? [header], (name, i) =>
    expectHeaderName('requestId', `incomingHeaders[${i}]`, name),
  )
  if (incoming.length === 0) {
    throw new ConfigError(
      'requestId',
      'incomingHeaders',
      'a non-empty array of header names',
      opts.incomingHeaders,
      'To never keep an incoming id, set trustIncoming: false instead.',
    )
  }
  const trust = expectOneOf('requestId', 'trustIncoming', opts.trustIncoming, [true, false, 'proxy'])
  const maxLength = expectInteger(
    'requestId',
    'maxLength',
    opts.maxLength,
    1,
    REQUEST_ID_MAX_LENGTH,
    'Ids longer than 128 characters are never kept.',
  )
  const generate = expectFunction<() => string>('requestId', 'generate', opts.generate)
  const echo = opts.echo
  if (typeof echo !== 'boolean') throw new ConfigError('requestId', 'echo', 'true or false', echo)
  // Fail at startup, not on the first request, when the generator cannot work.
  checkGenerator(generate)

  let generatorReported = false
  const mint =
    generate === uuidv7
      ? pooledUuidv7()
      : function mintChecked(): string {
          let id: unknown
          let failure: unknown
          try {
            id = generate()
          } catch (err) {
            failure = err
          }
          if (isRequestId(id)) return id
          if (!generatorReported) {
            generatorReported = true
            reportError(
              'requestId() generate',
              failure ?? new Error(`returned ${describeValue(id)}, not a valid request id; using a UUID v7 instead`),
            )
          }
          return uuidv7()
        }

  // One listener for every request: the id travels as the listener's context.
  // An id this layer decided on the request path matches ID_PATTERN, and `header` was
  // checked and lower-cased: it goes straight into the header map. An id found in state
  // (requestIdState is public: other code, or a framework that asked first) goes through
  // setHeader's checks, since Node writes its map into the head without checking it again.
  const echoOwnId = (res: ServerResponse, id: string): void => setOwnHeader(res, header, id)
  const echoId = (res: ServerResponse, id: string): void => {
    res.setHeader(header, id)
  }

  // The id of `req`, decided once: a second requestId() (a mounted sub-app) and a framework
  // that asked before the stack ran (Fastify's genReqId) keep what was decided first.
  const decide = function decideRequestId(req: IncomingMessage): string {
    let id = requestIdState.tryGet(req)
    if (id === undefined) {
      id = trusted(req, trust) ? incomingId(req, incoming, maxLength) : undefined
      if (id === undefined) id = mint()
      requestIdState.set(req, id)
      // Validated or minted: only ID_PATTERN's alphabet, so the access log quotes it unscanned.
      vouchJsonSafe(id)
    }
    return id
  }

  const trustMode = trust === 'proxy' ? 'proxy' : trust ? 'always' : 'never'
  const layer = defineMiddleware(
    {
      name: 'requestId',
      detail: `${header}, trust ${trustMode}`,
      // Only 'trust proxy' reads the client identity, so only it must sit inside proxyHeaders.
      variant: `trust ${trustMode}`,
    },
    (next) =>
      function requestIdHandler(req, res) {
        const found = requestIdState.tryGet(req)
        const id = found ?? decide(req)
        if (echo) onResponseStart(res, found === undefined ? echoOwnId : echoId, id)
        return next(req, res)
      },
  )
  return attachRequestIdSource(layer, decide)
}

function trusted(req: IncomingMessage, trust: boolean | 'proxy'): boolean {
  return trust === 'proxy' ? clientIdentity(req).viaTrustedProxy : trust
}

/**
 * The id from the first of `names` the request carries, if that one is valid. Sent on several
 * lines, it is refused (the lines disagree, or someone appended one).
 */
function incomingId(req: IncomingMessage, names: readonly string[], maxLength: number): string | undefined {
  for (const name of names) {
    if (req.headers[name] === undefined) continue
    const value = singleHeader(req, name)
    return isRequestId(value, maxLength) ? value : undefined
  }
  return undefined
}

function checkGenerator(generate: () => string): void {
  let id: unknown
  try {
    id = generate()
  } catch (err) {
    throw new ConfigError(
      'requestId',
      'generate',
      'a function returning an id',
      generate,
      `It threw when called once at construction: ${err instanceof Error ? err.message : String(err)}`,
    )
  }
  if (!isRequestId(id)) {
    throw new ConfigError(
      'requestId',
      'generate',
      'a function returning 1 to 128 characters of A-Z a-z 0-9 . _ : = -',
      id,
      'Ids go into headers and log lines, so they are restricted to that alphabet.',
    )
  }
}
