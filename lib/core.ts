/**
 * http-onion/core: the building blocks for writing middleware and stores, the ones the
 * toolkit's own middleware are made of. Re-exports only, grouped by concern. Applications
 * need none of this: they import from `http-onion` (lib/index.ts). A middleware author
 * imports from both; only the few values both audiences use daily are in both entries
 * (`HttpError`, `ConfigError`, `sendError`, `clientIp`, `clientIdentity`).
 * @module
 */

// Declaring a middleware and checking an order
export { defineMiddleware, middlewareInfo, type MiddlewareInfo, type OrderingRule } from './core/define.js'
export { checkOrdering, type CheckedRule, type OrderingViolation } from './core/ordering.js'

// The response: hooks, body transforms, handing the socket over
export { onResponseStart, responseStarted, type ResponseStartListener } from './core/response-start.js'
export {
  onResponseEnd,
  type ResponseEndInfo,
  type ResponseEndListener,
  type ResponseOutcome,
} from './core/response-end.js'
export {
  transformBody,
  responseHasBody,
  discardHeldBody,
  type BodyDecider,
  type BodyDecision,
  type BodyInfo,
  type BodyTransform,
  type TransformBodyOptions,
  type WholeBodyCallback,
  type WholeBodyTransform,
} from './core/transform-body.js'
export { detachResponse, isDetached } from './core/detach-response.js'
export { trackUpgraded, upgradedConnections, type UpgradedConnection } from './core/upgraded.js'
export { registerFlushable, flushAll, type Flushable } from './core/flush.js'
export { isUpgradeRequest, webSocketGoAway } from './core/upgrade.js'
export {
  onRequestBody,
  bufferedBody,
  redirectRequestBody,
  type RequestBodyListener,
  type RequestBodyOutlet,
} from './core/request-body.js'

// Request state, shared keys and the request context
export { defineState, type StateKey } from './core/state.js'
export { requestIdState, traceState, userIdState, originalUrlState, corsPreflightState } from './core/shared-state.js'
export { runInContext } from './core/context.js'
export { setRoute, setRouteReader, routeTemplate, type RouteReader } from './core/route.js'
export { mountPathState, refusalState } from './core/shared-state.js'

// Client identity and addresses
export { clientIp, clientIdentity, setClientIdentity, socketIp, type ClientIdentity } from './core/client.js'
export {
  parseIp,
  normalizeIp,
  formatIp,
  parseCidr,
  inRange,
  compileRanges,
  ipPrefixKey,
  namedRanges,
  type IpBytes,
  type IpRange,
} from './core/ip.js'
export { parseHost, formatHost, parsePort, redirectPath, type ParsedHost } from './core/host.js'

// Authentication schemes: a decision apart from the answer, so anyOf() can ask a layer
export {
  attachScheme,
  schemeOf,
  runScheme,
  type AuthScheme,
  type AuthOutcome,
  type SchemeLayerInfo,
} from './core/auth-scheme.js'

// Paths
export {
  normalizePath,
  matchablePath,
  compilePathPatterns,
  AMBIGUOUS_PATH_ERROR,
  type PathPattern,
  type PathMatchOptions,
  type AmbiguousPaths,
} from './core/path.js'

// Headers and negotiation
export { appendVary, singleHeader, isQuotedStringSafe } from './core/headers.js'
export { parseQualityList, mediaTypeQuality, type Preference } from './core/negotiate.js'
export { negotiateEncoding, type Encoding, type EncodingChoice } from './middleware/compression/negotiation.js'
export {
  parseTraceparent,
  formatTraceparent,
  parseTracestate,
  type Traceparent,
} from './middleware/trace-context/traceparent.js'

// Cookies
export {
  getCookie,
  getCookies,
  parseCookies,
  compileCookie,
  isCookieName,
  isCookieValue,
  MAX_COOKIE_AGE_SECONDS,
  MAX_COOKIE_BYTES,
  type CookieAttributes,
  type CompiledCookie,
} from './core/cookies.js'

// Time
export { arrivalTime, monotonicNow } from './core/clock.js'

// Options, errors and reporting
export {
  withDefaults,
  expectInteger,
  expectNumber,
  expectBoolean,
  expectFunction,
  expectOneOf,
  expectString,
  expectHeaderName,
  expectArray,
  isToken,
} from './core/options.js'
export { ConfigError, HttpError, type HttpErrorOptions } from './core/errors.js'
export { sendError } from './core/send-error.js'
export { loggerReporter, loggerState, reportError, reportErrorTo, type Logger } from './core/report.js'

// Redis plumbing for stores of your own
export {
  defineRedisScript,
  redisCall,
  withTimeout,
  hashTagKey,
  isValidKeyPrefix,
  isRedisClient,
  isRedisConnected,
  clusterKeySlot,
  RedisGate,
  DOWN_MASTER_PROBE_MS,
  RedisBusyError,
  RedisTimeoutError,
  RedisUnavailableError,
  type RedisArgument,
  type RedisCallOptions,
  type RedisClient,
  type RedisScript,
} from './stores/redis-client.js'
