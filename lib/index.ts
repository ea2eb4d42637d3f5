/**
 * http-onion: the public surface. Re-exports only.
 * @module
 */
export type { Middleware, RawHandler } from './core/types.js'
export { compose, type ComposedMiddleware, type ComposeOptions } from './core/compose.js'
export { defineMiddleware, middlewareInfo, type MiddlewareInfo, type OrderingRule } from './core/define.js'
export { checkOrdering, type CheckedRule, type OrderingViolation } from './core/ordering.js'
export { onResponseStart, responseStarted, type ResponseStartListener } from './core/response-start.js'
export { onResponseEnd, type ResponseEndInfo, type ResponseEndListener, type ResponseOutcome } from './core/response-end.js'
export {
  transformBody, responseHasBody,
  type BodyDecider, type BodyDecision, type BodyInfo, type BodyTransform, type TransformBodyOptions,
} from './core/transform-body.js'
export { defineState, type StateKey } from './core/state.js'
export { requestIdState, traceState, userIdState, type TraceInfo } from './core/shared-state.js'
export { runInContext, currentContext, currentRequest, type RequestContext } from './core/context.js'
export { clientIp, clientIdentity, setClientIdentity, socketIp, type ClientIdentity } from './core/client.js'
export { parseIp, normalizeIp, formatIp, parseCidr, inRange, compileRanges, ipPrefixKey, namedRanges, type IpBytes, type IpRange } from './core/ip.js'
export { normalizePath, compilePathPatterns, type PathPattern, type PathMatchOptions } from './core/path.js'
export { parseQualityList, mediaTypeQuality, type Preference } from './core/negotiate.js'
export { appendVary, singleHeader } from './core/headers.js'
export { arrivalTime, monotonicNow } from './core/clock.js'
export { ConfigError, HttpError, OrderingError, type HttpErrorOptions } from './core/errors.js'
export { sendError, type ErrorBody } from './core/send-error.js'
export { reportError } from './core/report.js'
export { withDefaults } from './core/options.js'
export {
  getCookie, getCookies, parseCookies, compileCookie, isCookieName, isCookieValue, MAX_COOKIE_AGE_SECONDS, MAX_COOKIE_BYTES,
  type CookieAttributes, type CompiledCookie,
} from './core/cookies.js'
