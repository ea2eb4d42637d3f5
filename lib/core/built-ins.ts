/**
 * The library's own middleware as the core knows them: their names, and every ordering
 * constraint between them, each pair once and in one direction (outer, then inner). One
 * table reads as the whole policy, cannot say a thing twice in two wordings, and is what
 * docs/ordering.md explains; layers of your own declare theirs with `defineMiddleware`.
 * @module
 */

/** The name of every layer the library's factories build, as the factory is called. */
export const BUILT_IN_NAMES: readonly string[] = Object.freeze([
  'accessLog',
  'anyOf',
  'apiKey',
  'basicAuth',
  'bodyCapture',
  'bodyLimit',
  'compression',
  'conditional',
  'cors',
  'csrf',
  'errorBoundary',
  'hooks',
  'httpsRedirect',
  'ipFilter',
  'jwtAuth',
  'loadShedding',
  'metrics',
  'mount',
  'proxyHeaders',
  'rateLimit',
  'requestContext',
  'requestDecompression',
  'requestId',
  'securityHeaders',
  'session',
  'timeout',
  'timing',
  'traceContext',
  'trustedHost',
  'unless',
  'when',
])

/** One constraint between two built-in layers: `outer` must be listed before `inner` in `compose`. */
export interface BuiltInRule {
  readonly outer: string
  readonly inner: string
  /** Why, as a phrase completing "because …"; shown in warnings and `explain()`. */
  readonly reason: string
  /**
   * Set when the rule holds for some variants of a layer only (`MiddlewareInfo.variant`):
   * `{ rateLimit: ['key user'] }` applies to a rateLimit keyed by user, and to no other.
   */
  readonly only?: Readonly<Record<string, readonly string[]>>
}

const IDENTITY = ['jwtAuth', 'apiKey', 'basicAuth', 'anyOf', 'session']

/**
 * Layers that can answer without calling inward (a refusal, a redirect, a preflight): a
 * layer that must see every request (accessLog, metrics) wraps each of them.
 */
const ANSWERS_ON_ITS_OWN = [
  'trustedHost',
  'httpsRedirect',
  'cors',
  'ipFilter',
  'rateLimit',
  'loadShedding',
  'bodyLimit',
  'requestDecompression',
  'timeout',
  ...IDENTITY,
  'csrf',
]
/** Those of them whose answers are refusals with an error body (all but the redirect). */
const REFUSES_ON_ITS_OWN = ANSWERS_ON_ITS_OWN.filter((name) => name !== 'httpsRedirect')

/** `outer` wraps each of `inners`, for one shared reason. */
const wrapsEach = (outer: string, inners: readonly string[], reason: string, only?: BuiltInRule['only']) =>
  inners.map((inner): BuiltInRule => (only ? { outer, inner, reason, only } : { outer, inner, reason }))

/** `outer` wraps each inner, each for its own reason (and for some variants only, if given). */
const wrapsWhy = (
  outer: string,
  rules: ReadonlyArray<readonly [inner: string, reason: string, only?: BuiltInRule['only']]>,
) =>
  rules.map(([inner, reason, only]): BuiltInRule => (only ? { outer, inner, reason, only } : { outer, inner, reason }))

/**
 * Every constraint between built-in layers, grouped by the outer one, outermost first.
 * `explain()` lists the applicable ones in this order, layer by layer.
 */
export const BUILT_IN_RULES: readonly BuiltInRule[] = Object.freeze([
  // The layers whose failures the boundary must answer.
  ...wrapsWhy('errorBoundary', [
    ['cors', 'a 500 must still carry the CORS headers, or a browser hides it from the calling page'],
    ['jwtAuth', 'errors of token verification (a key set that cannot be fetched) must be answered'],
    ['apiKey', 'errors of key lookup must be answered'],
    ['basicAuth', 'errors of a verify function must be answered'],
    ['anyOf', 'errors of the schemes it asks must be answered'],
    ['session', 'a failing session store must be answered, not crash the request'],
    ['rateLimit', 'a failing counter store must be answered, not crash the request'],
    ['compression', 'a stream error mid-body must cut the connection instead of leaving a truncated body'],
    ['timeout', 'a handler failing after the deadline must be reported once, not answered twice'],
    ['bodyLimit', 'a handler failing on the 413 error of its request stream must not be answered twice'],
    ['bodyCapture', 'the captured body belongs in the error report'],
    [
      'requestDecompression',
      'a handler failing on the 400 or 413 error of its request stream must not be answered twice',
    ],
    ['loadShedding', 'errors of requests that were let through must be answered'],
    ['hooks', 'errors of before and after hooks must be answered'],
    [
      'accessLog',
      "the handler's error passes through the log on its way to the boundary, so the line names it, and the boundary's answer is over before the line is written",
    ],
  ]),
  // The layers that read the client's address, scheme or host. requestId and traceContext
  // with trustIncoming true or false read none of it. A rateLimit key function may read
  // anything, the address included, and inside proxyHeaders costs a limiter nothing.
  ...wrapsWhy('proxyHeaders', [
    ['trustedHost', 'trustedHost checks the host a trusted proxy reports'],
    ['httpsRedirect', "httpsRedirect must see the scheme the client used, not the proxy's"],
    ['securityHeaders', 'Strict-Transport-Security is only sent when the client used https'],
    ['rateLimit', "rate limits key by the client address, not the proxy's"],
    ['requestId', 'requestId trusts incoming ids by the client identity', { requestId: ['trust proxy'] }],
    [
      'traceContext',
      'traceContext trusts an incoming traceparent by the client identity',
      { traceContext: ['trust proxy'] },
    ],
    ['accessLog', 'the access log records the client address'],
    ['session', "session cookies are marked Secure by the client's scheme"],
    ['jwtAuth', 'jwtAuth may check the client address and scheme'],
    ['apiKey', 'refusals and logs should see the real client'],
    ['basicAuth', 'refusals and logs should see the real client'],
    ['anyOf', 'refusals and logs should see the real client'],
    ['ipFilter', "ipFilter judges the client's address, not the proxy's"],
    ['csrf', 'csrf compares the Origin with the scheme and host the client used'],
  ]),
  // Layers that may answer without calling inward: their answers carry the id only when
  // requestId ran first, and the access log must find an id on every line.
  ...wrapsWhy('requestId', [
    [
      'accessLog',
      'every access-log line must carry the id, including lines of requests refused by layers between them',
    ],
  ]),
  ...wrapsEach(
    'requestId',
    REFUSES_ON_ITS_OWN,
    'its refusals (400, 401, 403, 413, 429, 503) must carry the request id in the header and the error body',
  ),
  ...wrapsWhy('traceContext', [
    [
      'accessLog',
      'every access-log line must carry the trace id, including lines of requests refused by layers between them',
    ],
  ]),
  // Layers that spend time (round trips, waiting, reading bodies) before the handler runs.
  ...wrapsEach(
    'timing',
    ['rateLimit', 'loadShedding', 'timeout', 'bodyLimit', 'bodyCapture', ...IDENTITY],
    'the total must include the time spent in it',
  ),
  // Layers that can answer without calling inward: their answers must be logged as well.
  ...wrapsEach('accessLog', ANSWERS_ON_ITS_OWN, 'requests it answers or refuses on its own must be logged too'),
  // ipFilter's and csrf's 403s too: they were missing here, so a stack with metrics inside
  // them counted no denied request and got no warning.
  ...wrapsEach(
    'metrics',
    ANSWERS_ON_ITS_OWN,
    'requests it answers or refuses on its own must be counted too, and its refusals by their code',
  ),
  ...wrapsWhy('trustedHost', [['httpsRedirect', 'a redirect must never point at a host this server does not serve']]),
  ...wrapsWhy('cors', [
    ['jwtAuth', 'preflights carry no token and must be answered before auth'],
    ['apiKey', 'preflights carry no API key and must be answered before auth'],
    ['basicAuth', 'preflights carry no credentials and must be answered before auth'],
    ['anyOf', 'preflights carry no credentials and must be answered before auth'],
    ['session', 'preflights carry no cookie and must be answered before the session check'],
    ['rateLimit', 'a 429 must carry CORS headers for the browser to show it, and preflights should not spend quota'],
    ['ipFilter', 'a 403 must carry CORS headers for the browser to show it'],
    [
      'csrf',
      'a 403 to an origin cors() allows but csrf() does not trust must carry CORS headers for the page to read why',
    ],
  ]),
  ...wrapsWhy('session', [
    ['csrf', 'the token fallback compares the header with the token stored in the session', { csrf: ['token'] }],
  ]),
  ...wrapsEach(
    'loadShedding',
    ['rateLimit', ...IDENTITY, 'bodyLimit', 'timeout', 'compression'],
    'a refused request must cost nothing: no store round trip, no token check, no timer, no stream',
  ),
  // A limit by address counts before authentication; a limit by user after it. A key
  // function may read anything, so the library cannot place it either way.
  ...wrapsEach(
    'rateLimit',
    IDENTITY,
    'a limit by address must count failed authentication too, or it cannot slow password or token guessing',
    { rateLimit: ['key ip'] },
  ),
  ...IDENTITY.flatMap((name) =>
    wrapsEach(name, ['rateLimit'], `it counts per user, which ${name} identifies`, { rateLimit: ['key user'] }),
  ),
  ...wrapsEach(
    'ipFilter',
    IDENTITY,
    'a denied address must be refused before any credential is checked, so it cannot learn which ones are valid',
  ),
  ...wrapsWhy('bodyLimit', [
    ['bodyCapture', 'the chunk that crosses the limit must be refused before anything copies it'],
    [
      'requestDecompression',
      'it limits every body as sent and refuses a declared length before a byte is decoded; the decoded size is limited by maxDecodedSize',
    ],
  ]),
  ...wrapsWhy('requestDecompression', [
    ['bodyCapture', 'the copy must be of the decoded bytes; outside it, bodyCapture skips encoded bodies'],
  ]),
  ...wrapsWhy('compression', [
    [
      'conditional',
      "conditional must compare the handler's ETag and hash the uncompressed bytes; compression then marks the ETag weak on the way out",
    ],
    [
      'hooks',
      'after-hooks set headers at response start and inner listeners run first, so only from inside does compression see the Content-Type, Cache-Control: no-transform or Content-Encoding they set',
    ],
  ]),
  ...wrapsWhy('conditional', [
    [
      'hooks',
      'the validators (ETag, Last-Modified) an after-hook sets at response start must be there when it compares',
    ],
  ]),
])
