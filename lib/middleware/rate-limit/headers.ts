/**
 * The rate-limit response headers of {@link rateLimit}: the IETF `RateLimit-Policy` and
 * `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-11, Structured Field lists of
 * one item per policy) and, on request, the legacy `X-RateLimit-*` trio.
 * @module
 */
import type { ServerResponse } from 'node:http'

/** What a response says about one policy. */
export interface RateLimitHeaderValues {
  /** The quota (`q`). */
  readonly limit: number
  /** Units left (`r`). */
  readonly remaining: number
  /** Seconds until the quota is restored (`t`); on a refusal, until the retry may succeed. */
  readonly resetSeconds: number
}

/**
 * `"name";q=100;w=60`: the policy item (draft-11 §3). `w` is whole seconds (§3.1.3 allows no
 * fraction), rounded up, and at least 1.
 */
export function policyField(name: string, limit: number, windowMs: number): string {
  return `"${name}";q=${limit};w=${Math.max(1, Math.ceil(windowMs / 1000))}`
}

/**
 * Add `item` to the Structured Field list in header `name`: with several limiters on one
 * request (an address limit and a per-user one), each adds its own policy item
 * (draft-11 §3 and §4 allow one list to carry several policies).
 */
function addItem(res: ServerResponse, name: string, item: string): void {
  const existing = res.getHeader(name)
  res.setHeader(name, typeof existing === 'string' && existing !== '' ? `${existing}, ${item}` : item)
}

/** Headers a limiter sets, precomputed where they do not depend on the request. */
export interface HeaderWriter {
  /** Set the headers for a decision; `policy` is the precomputed `RateLimit-Policy` value, if the limit is fixed. */
  write(res: ServerResponse, values: RateLimitHeaderValues, policy: string | undefined): void
  /** Set only what does not depend on the store's answer (after a store failure). */
  writePolicy(res: ServerResponse, limit: number, policy: string | undefined): void
}

/** A writer for policy `name` with window `windowMs`, per the options chosen. */
export function headerWriter(
  name: string,
  windowMs: number,
  standard: boolean,
  legacy: boolean,
  now: () => number,
): HeaderWriter {
  const prefix = `"${name}";r=`
  return {
    write(res, values, policy) {
      if (standard) {
        addItem(res, 'ratelimit-policy', policy ?? policyField(name, values.limit, windowMs))
        // draft-11 §4: r is the available quota, t the effective window in delay-seconds.
        addItem(res, 'ratelimit', `${prefix}${values.remaining};t=${values.resetSeconds}`)
      }
      // The legacy fields hold one policy only: the one with the least left wins.
      if (legacy && !(Number(res.getHeader('x-ratelimit-remaining')) < values.remaining)) {
        res.setHeader('x-ratelimit-limit', String(values.limit))
        res.setHeader('x-ratelimit-remaining', String(values.remaining))
        // The legacy convention (GitHub, express-rate-limit): the reset as epoch seconds.
        res.setHeader('x-ratelimit-reset', String(Math.ceil(now() / 1000) + values.resetSeconds))
      }
    },
    writePolicy(res, limit, policy) {
      if (standard) addItem(res, 'ratelimit-policy', policy ?? policyField(name, limit, windowMs))
      if (legacy && !res.hasHeader('x-ratelimit-limit')) res.setHeader('x-ratelimit-limit', String(limit))
    },
  }
}
