/**
 * The rate-limit response headers of {@link rateLimit}, in the format the limiter is told:
 * - `'draft-11'`: `RateLimit-Policy` and `RateLimit` of draft-ietf-httpapi-ratelimit-headers-11,
 *   Structured Field lists of one item per policy, so several limiters share the fields;
 * - `'draft-7'`: `RateLimit-Policy: 100;w=60` and one combined field,
 *   `RateLimit: limit=100, remaining=99, reset=60` (draft 07);
 * - `'draft-6'`: `RateLimit-Policy` and three fields, `RateLimit-Limit`, `RateLimit-Remaining`,
 *   `RateLimit-Reset` (draft 06, which most client libraries still parse);
 * and, on request, the legacy `X-RateLimit-*` trio. The draft-6/7 and legacy fields hold one
 * policy: with several limiters, the one with the least left wins.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { readHeader, setOwnHeader } from '../../core/headers.js'
import { integerText } from '../../core/integer-text.js'

/** Which standard rate-limit fields a limiter sends. */
export type RateLimitHeaderFormat = 'draft-11' | 'draft-7' | 'draft-6'

/** What a response says about one policy. */
export interface RateLimitHeaderValues {
  /** The quota (`q`). */
  readonly limit: number
  /** Units left (`r`). */
  readonly remaining: number
  /** Seconds until the quota is restored (`t`); on a refusal, until the retry may succeed. */
  readonly resetSeconds: number
}

/** Whole seconds of a window, rounded up, at least 1 (draft-11 §3.1.3 allows no fraction). */
const windowSeconds = (windowMs: number): number => Math.max(1, Math.ceil(windowMs / 1000))

/** `"name";q=100;w=60`: the draft-11 policy item (§3). */
export function policyField(name: string, limit: number, windowMs: number): string {
  return `"${name}";q=${limit};w=${windowSeconds(windowMs)}`
}

/**
 * Add `item` to the Structured Field list in header `name`: with several limiters on one
 * request (an address limit and a per-user one), each adds its own policy item
 * (draft-11 §3 and §4 allow one list to carry several policies).
 */
function addItem(res: ServerResponse, name: string, item: string): void {
  const existing = readHeader(res, name)
  // Policy names match a pattern when the limiter is built; the rest are numbers.
  setOwnHeader(res, name, typeof existing === 'string' && existing !== '' ? `${existing}, ${item}` : item)
}

/** Headers a limiter sets, precomputed where they do not depend on the request. */
export interface HeaderWriter {
  /** Set the headers for a decision; `policy` is the precomputed `RateLimit-Policy` value, if the limit is fixed. */
  write(res: ServerResponse, values: RateLimitHeaderValues, policy: string | undefined): void
  /** Set only what does not depend on the store's answer (after a store failure). */
  writePolicy(res: ServerResponse, limit: number, policy: string | undefined): void
}

// Where the draft-6/7 fields record the remaining units of the policy they describe, so a
// second limiter on the request can tell whether it has less left.
const DRAFT7_REMAINING = /remaining=(\d+)/

/** A writer for policy `name` with window `windowMs`: `format` false for no standard fields. */
export function headerWriter(
  name: string,
  windowMs: number,
  format: RateLimitHeaderFormat | false,
  legacy: boolean,
  now: () => number,
): HeaderWriter {
  const prefix = `"${name}";r=`
  const w = windowSeconds(windowMs)
  // draft-6 and draft-7 name no policy: `RateLimit-Policy: 100;w=60`.
  const unnamedPolicy = (limit: number) => `${limit};w=${w}`
  return {
    write(res, values, policy) {
      if (format === 'draft-11') {
        addItem(res, 'ratelimit-policy', policy ?? policyField(name, values.limit, windowMs))
        // draft-11 §4: r is the available quota, t the effective window in delay-seconds.
        // The units left differ on every request: integerText keeps them out of V8's number cache.
        addItem(res, 'ratelimit', `${prefix}${integerText(values.remaining)};t=${values.resetSeconds}`)
      } else if (format === 'draft-6') {
        if (!(Number(readHeader(res, 'ratelimit-remaining')) < values.remaining)) {
          res.setHeader('ratelimit-policy', unnamedPolicy(values.limit))
          res.setHeader('ratelimit-limit', String(values.limit))
          res.setHeader('ratelimit-remaining', integerText(values.remaining))
          // draft-6 §3.3: RateLimit-Reset is delay-seconds, not a timestamp.
          res.setHeader('ratelimit-reset', String(values.resetSeconds))
        }
      } else if (format === 'draft-7') {
        const existing = DRAFT7_REMAINING.exec(String(readHeader(res, 'ratelimit') ?? ''))
        if (existing === null || !(Number(existing[1]) < values.remaining)) {
          res.setHeader('ratelimit-policy', unnamedPolicy(values.limit))
          res.setHeader(
            'ratelimit',
            `limit=${values.limit}, remaining=${integerText(values.remaining)}, reset=${values.resetSeconds}`,
          )
        }
      }
      // The legacy fields hold one policy only: the one with the least left wins.
      if (legacy && !(Number(readHeader(res, 'x-ratelimit-remaining')) < values.remaining)) {
        res.setHeader('x-ratelimit-limit', String(values.limit))
        res.setHeader('x-ratelimit-remaining', integerText(values.remaining))
        // The legacy convention (GitHub, express-rate-limit): the reset as epoch seconds.
        res.setHeader('x-ratelimit-reset', String(Math.ceil(now() / 1000) + values.resetSeconds))
      }
    },
    writePolicy(res, limit, policy) {
      if (format === 'draft-11') addItem(res, 'ratelimit-policy', policy ?? policyField(name, limit, windowMs))
      else if (format !== false && readHeader(res, 'ratelimit-policy') === undefined)
        res.setHeader('ratelimit-policy', unnamedPolicy(limit))
      if (format === 'draft-6' && readHeader(res, 'ratelimit-limit') === undefined)
        res.setHeader('ratelimit-limit', String(limit))
      if (legacy && readHeader(res, 'x-ratelimit-limit') === undefined)
        res.setHeader('x-ratelimit-limit', String(limit))
    },
  }
}
