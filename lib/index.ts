/**
 * http-onion: the public surface for applications. Re-exports only, grouped as the
 * catalogue is (observability, edge, traffic, identity, flow), then the stores, then what
 * every application needs besides (compose, the handler types, errors, serverTimeouts).
 * Building blocks for writing middleware are in `http-onion/core` (lib/core.ts).
 * @module
 */

// Observability
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
  type AccessLogMiddleware,
} from './middleware/access-log/access-log.js'
export {
  traceContext,
  traceContextDefaults,
  getTrace,
  tryGetTrace,
  propagationHeaders,
  type TraceContextOptions,
  type PropagationOptions,
} from './middleware/trace-context/trace-context.js'
export type { TraceInfo } from './core/shared-state.js'
export {
  requestContext,
  requestContextDefaults,
  type RequestContextOptions,
} from './middleware/request-context/request-context.js'
export { currentRequest, currentContext, type RequestContext } from './core/context.js'
export {
  metrics,
  metricsDefaults,
  Counter,
  Gauge,
  Histogram,
  MetricsRegistry,
  DEFAULT_BUCKETS,
  DEFAULT_MAX_SERIES,
  PROMETHEUS_CONTENT_TYPE,
  type MetricsOptions,
  type MetricsMiddleware,
  type Labels,
  type MetricsCollector,
} from './middleware/metrics/metrics.js'

// Edge
export {
  proxyHeaders,
  proxyHeadersDefaults,
  type ProxyHeadersOptions,
  type ProxyTrust,
  type ForwardedField,
} from './middleware/proxy-headers/proxy-headers.js'
export { clientIp, clientIdentity, type ClientIdentity } from './core/client.js'
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
export { MAX_ORIGIN_LENGTH, type OriginEntry } from './core/origin.js'
export {
  csrf,
  csrfDefaults,
  getCsrfToken,
  tryGetCsrfToken,
  type CsrfOptions,
} from './middleware/csrf/csrf.js'
export { ipFilter, ipFilterDefaults, type IpFilterOptions } from './middleware/ip-filter/ip-filter.js'
export {
  securityHeaders,
  securityHeadersDefaults,
  getCspNonce,
  tryGetCspNonce,
  type SecurityHeadersOptions,
  type CspOptions,
  type HstsOptions,
  type ReferrerPolicyValue,
} from './middleware/security-headers/security-headers.js'
export { cspApiDefaults, cspSiteDefaults, type CspDirectives } from './middleware/security-headers/csp.js'
export type { PermissionsPolicy, ReportingEndpoints } from './middleware/security-headers/structured-headers.js'

// Traffic
export {
  compression,
  compressionDefaults,
  compressibleTypes,
  flushResponse,
  parallelGzipDefaults,
  zstdSupported,
  type CompressionOptions,
  type Encoding,
  type MediaTypePattern,
  type ParallelGzipOptions,
} from './middleware/compression/compression.js'
export {
  conditional,
  conditionalDefaults,
  checkPreconditions,
  type ConditionalOptions,
  type Validators,
} from './middleware/conditional/conditional.js'
export {
  rateLimit,
  rateLimitDefaults,
  type PerRequest,
  type RateLimitOptions,
  type RateLimiter,
  type RateLimitStats,
  type RateLimitHeaderFormat,
  type RateLimitPenaltyOptions,
  type RateLimitSlowDownOptions,
  type SlowDownTimers,
} from './middleware/rate-limit/rate-limit.js'
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
  requestDecompression,
  requestDecompressionDefaults,
  zstdDecodingSupported,
  type RequestDecompressionOptions,
  type RequestEncoding,
} from './middleware/request-decompression/request-decompression.js'
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
  loadShedding,
  loadSheddingDefaults,
  type LoadShedding,
  type LoadSheddingOptions,
  type LoadStats,
  type ShedReason,
} from './middleware/load-shedding/load-shedding.js'

// Identity
export { getUserId, tryGetUserId } from './core/shared-state.js'
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
export {
  basicAuth,
  basicAuthDefaults,
  getBasicAuthUser,
  tryGetBasicAuthUser,
  type BasicAuthOptions,
  type BasicAuthUser,
} from './middleware/basic-auth/basic-auth.js'
export { hashPassword, type HashPasswordOptions } from './middleware/basic-auth/password.js'
export { anyOf, anyOfDefaults, type AnyOfOptions, type AnyOfScheme } from './middleware/any-of/any-of.js'
export type { AuthScheme, AuthOutcome } from './core/auth-scheme.js'
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
export type { CookieAttributes } from './core/cookies.js'

// Flow
export {
  errorBoundary,
  errorBoundaryDefaults,
  type ErrorBoundaryOptions,
  type ErrorReport,
  type ErrorAction,
} from './middleware/error-boundary/error-boundary.js'
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
export { getOriginalUrl, tryGetOriginalUrl } from './core/shared-state.js'

// Stores: rate limits
export type {
  RateLimitStore,
  RateLimitAlgorithm,
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitPenalty,
} from './stores/rate-limit/store.js'
export {
  memoryStore,
  memoryStoreDefaults,
  type MemoryStore,
  type MemoryStoreOptions,
  type MemoryStoreStats,
} from './stores/rate-limit/memory.js'
export { redisStore, redisStoreDefaults, type RedisStore, type RedisStoreOptions } from './stores/rate-limit/redis.js'

// Stores: sessions
export type { SessionStore, SessionRecord, SessionPatch } from './stores/session/store.js'
export {
  memorySessionStore,
  memorySessionStoreDefaults,
  type MemorySessionStore,
  type MemorySessionStoreOptions,
} from './stores/session/memory.js'
export { redisSessionStore, redisSessionStoreDefaults, type RedisSessionStoreOptions } from './stores/session/redis.js'

// Stores: the Redis client both Redis stores take (the shape to wrap a client other than ioredis in)
export type { RedisArgument, RedisClient } from './stores/redis-client.js'

// What every application needs besides
export type { Middleware, RawHandler } from './core/types.js'
export { compose, type ComposedMiddleware, type ComposeOptions } from './core/compose.js'
export type { Logger } from './core/report.js'
export { ConfigError, HttpError, OrderingError, type HttpErrorOptions } from './core/errors.js'
export {
  sendError,
  type ErrorBody,
  type ErrorFormat,
  type ErrorFormatter,
  type ErrorResponseInfo,
} from './core/send-error.js'
export type { AmbiguousPaths, PathPattern } from './core/path.js'
export {
  serverTimeouts,
  serverTimeoutsDefaults,
  type ServerTimeoutsOptions,
  type TimeoutServer,
} from './core/server-timeouts.js'
export {
  handleUpgrades,
  handleUpgradesDefaults,
  type HandleUpgradesOptions,
  type UpgradeHandler,
  type UpgradeListener,
} from './core/upgrade.js'
export {
  answerClientErrors,
  type AnswerClientErrorsOptions,
  type ClientErrorLog,
  type ClientErrorRecord,
} from './core/client-errors.js'
export {
  lifespan,
  lifespanDefaults,
  ShutdownAbortError,
  LifespanHookError,
  type Lifespan,
  type LifespanOptions,
  type LifespanState,
  type LifespanServer,
  type ShutdownResult,
  type LifespanHook,
  type LifespanHookFunction,
  type LifespanHookObject,
  type LifespanPhase,
  type LifespanTimers,
} from './core/lifespan.js'
