/**
 * http-onion: the public surface. Re-exports only.
 * @module
 */
export type { Middleware, RawHandler } from './core/types.js'
export { compose, type ComposedMiddleware, type ComposeOptions } from './core/compose.js'
export { defineMiddleware, middlewareInfo, type MiddlewareInfo, type OrderingRule } from './core/define.js'
export { checkOrdering, type CheckedRule, type OrderingViolation } from './core/ordering.js'
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
  type BodyDecider,
  type BodyDecision,
  type BodyInfo,
  type BodyTransform,
  type TransformBodyOptions,
} from './core/transform-body.js'
export { defineState, type StateKey } from './core/state.js'
export {
  requestIdState,
  traceState,
  userIdState,
  corsPreflightState,
  getUserId,
  tryGetUserId,
  type TraceInfo,
} from './core/shared-state.js'
export { runInContext, currentContext, currentRequest, type RequestContext } from './core/context.js'
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
export {
  normalizePath,
  matchablePath,
  compilePathPatterns,
  AMBIGUOUS_PATH_ERROR,
  type PathPattern,
  type PathMatchOptions,
  type AmbiguousPaths,
} from './core/path.js'
export { parseQualityList, mediaTypeQuality, type Preference } from './core/negotiate.js'
export { appendVary, singleHeader } from './core/headers.js'
export { arrivalTime, monotonicNow } from './core/clock.js'
export {
  serverTimeouts,
  serverTimeoutsDefaults,
  type ServerTimeoutsOptions,
  type TimeoutServer,
} from './core/server-timeouts.js'
export { ConfigError, HttpError, OrderingError, type HttpErrorOptions } from './core/errors.js'
export { sendError, type ErrorBody } from './core/send-error.js'
export { reportError } from './core/report.js'
export { withDefaults } from './core/options.js'
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
export {
  jwtAuth,
  jwtAuthDefaults,
  getJwtClaims,
  tryGetJwtClaims,
  type JwtAuthOptions,
  type JwtAuthMiddleware,
  type JwtSecret,
  type JwtPublicKey,
} from './middleware/jwt-auth/jwt-auth.js'
export {
  requestId,
  requestIdDefaults,
  getRequestId,
  tryGetRequestId,
  isRequestId,
  REQUEST_ID_MAX_LENGTH,
  type RequestIdOptions,
} from './middleware/request-id/request-id.js'
export {
  timing,
  timingDefaults,
  addServerTiming,
  SERVER_TIMING_MAX_METRICS,
  type TimingOptions,
  type ServerTimingMetric,
} from './middleware/timing/timing.js'
export {
  accessLog,
  accessLogDefaults,
  ACCESS_LOG_MAX_HEADERS,
  type AccessLogOptions,
  type AccessLogEntry,
  type AccessLogSinkFunction,
} from './middleware/access-log/access-log.js'
export {
  traceContext,
  traceContextDefaults,
  getTrace,
  tryGetTrace,
  propagationHeaders,
  parseTraceparent,
  formatTraceparent,
  parseTracestate,
  type TraceContextOptions,
  type PropagationOptions,
  type Traceparent,
} from './middleware/trace-context/trace-context.js'
export {
  requestContext,
  requestContextDefaults,
  type RequestContextOptions,
} from './middleware/request-context/request-context.js'
export { parseHost, formatHost, redirectPath, type ParsedHost } from './core/host.js'
export {
  proxyHeaders,
  proxyHeadersDefaults,
  type ProxyHeadersOptions,
  type ProxyTrust,
  type ForwardedField,
} from './middleware/proxy-headers/proxy-headers.js'
export {
  trustedHost,
  trustedHostDefaults,
  type TrustedHostOptions,
  type HostPredicate,
} from './middleware/trusted-host/trusted-host.js'
export {
  httpsRedirect,
  httpsRedirectDefaults,
  type HttpsRedirectOptions,
} from './middleware/https-redirect/https-redirect.js'
export {
  cors,
  corsDefaults,
  MAX_REQUEST_HEADERS_LENGTH,
  type CorsOptions,
  type OriginPredicate,
} from './middleware/cors/cors.js'
export { type OriginEntry, MAX_ORIGIN_LENGTH } from './middleware/cors/origin.js'
export {
  securityHeaders,
  securityHeadersDefaults,
  type SecurityHeadersOptions,
  type CspOptions,
  type HstsOptions,
  type ReferrerPolicyValue,
} from './middleware/security-headers/security-headers.js'
export { cspApiDefaults, cspSiteDefaults, type CspDirectives } from './middleware/security-headers/csp.js'
export { discardHeldBody } from './core/transform-body.js'
export {
  compression,
  compressionDefaults,
  compressibleTypes,
  flushResponse,
  negotiateEncoding,
  zstdSupported,
  type CompressionOptions,
  type Encoding,
  type EncodingChoice,
  type MediaTypePattern,
} from './middleware/compression/compression.js'
export {
  rateLimit,
  rateLimitDefaults,
  type PerRequest,
  type RateLimitOptions,
  type RateLimiter,
  type RateLimitStats,
} from './middleware/rate-limit/rate-limit.js'
export type {
  RateLimitAlgorithm,
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
} from './stores/rate-limit/store.js'
export {
  memoryStore,
  memoryStoreDefaults,
  type MemoryStore,
  type MemoryStoreOptions,
  type MemoryStoreStats,
} from './stores/rate-limit/memory.js'
export { redisStore, redisStoreDefaults, type RedisStore, type RedisStoreOptions } from './stores/rate-limit/redis.js'
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
export {
  apiKey,
  apiKeyDefaults,
  getApiKeyIdentity,
  tryGetApiKeyIdentity,
  type ApiKeyOptions,
  type ApiKeyMiddleware,
  type ApiKeyIdentity,
  type NamedApiKey,
  type HashedApiKey,
} from './middleware/api-key/api-key.js'
export { detachResponse, isDetached } from './core/detach-response.js'
export { onRequestBody, type RequestBodyListener } from './core/request-body.js'
export { originalUrlState, getOriginalUrl, tryGetOriginalUrl } from './core/shared-state.js'
export {
  errorBoundary,
  errorBoundaryDefaults,
  type ErrorBoundaryOptions,
  type ErrorReport,
  type ErrorAction,
} from './middleware/error-boundary/error-boundary.js'
export {
  timeout,
  timeoutDefaults,
  getRequestSignal,
  tryGetRequestSignal,
  RequestAbortError,
  type TimeoutOptions,
  type TimeoutRoute,
  type TimeoutTimers,
  type RequestAbortKind,
} from './middleware/timeout/timeout.js'
export {
  bodyLimit,
  bodyLimitDefaults,
  decodedSizeLimit,
  type BodyLimitOptions,
} from './middleware/body-limit/body-limit.js'
export {
  bodyCapture,
  bodyCaptureDefaults,
  getCapturedBody,
  tryGetCapturedBody,
  type BodyCaptureOptions,
  type CapturedBody,
} from './middleware/body-capture/body-capture.js'
export {
  loadShedding,
  loadSheddingDefaults,
  type LoadShedding,
  type LoadSheddingOptions,
  type LoadStats,
  type ShedReason,
} from './middleware/load-shedding/load-shedding.js'
export {
  hooks,
  hooksDefaults,
  type HooksOptions,
  type BeforeHook,
  type AfterHook,
  type TeardownHook,
} from './middleware/hooks/hooks.js'
export { when, unless, type RequestCondition, type RequestFilter } from './middleware/when/when.js'
export { mount, mountDefaults, getMountPath, tryGetMountPath, type MountOptions } from './middleware/mount/mount.js'
export {
  session,
  sessionDefaults,
  getSession,
  tryGetSession,
  SessionTooLargeError,
  type SessionOptions,
  type SessionMiddleware,
  type Session,
  type SessionData,
  type RegenerateOptions,
  type SessionSecret,
} from './middleware/session/session.js'
export type { SessionStore, SessionRecord, SessionPatch } from './stores/session/store.js'
export {
  memorySessionStore,
  memorySessionStoreDefaults,
  type MemorySessionStore,
  type MemorySessionStoreOptions,
} from './stores/session/memory.js'
export { redisSessionStore, redisSessionStoreDefaults, type RedisSessionStoreOptions } from './stores/session/redis.js'
