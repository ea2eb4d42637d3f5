/**
 * securityHeaders(): helmet's set of protective response headers, with defaults for
 * APIs. They are added at response start, so every response carries them, including a
 * 401 from auth, a 404 from the router, a 429 from a rate limit and a 500 from the
 * error boundary; a value the handler set itself is kept unless `override` says not to.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIdentity } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { addFixedHeaders, FixedHeaders, readHeader } from '../../core/headers.js'
import { ConfigError } from '../../core/errors.js'
import {
  type DefaultsOf,
  defineDefaults,
  expectBoolean,
  expectInteger,
  expectOneOf,
  withDefaults,
  withNestedDefaults,
} from '../../core/options.js'
import { onResponseStart } from '../../core/response-start.js'
import type { Middleware } from '../../core/types.js'
import { defineState } from '../../core/state.js'
import { cspAroundNonce, type CspDirectives, NONCE_DIRECTIVES, nonceGenerator, parseCsp, serialiseCsp } from './csp.js'
import {
  compilePermissionsPolicy,
  compileReportingEndpoints,
  type PermissionsPolicy,
  type ReportingEndpoints,
} from './structured-headers.js'

/** Content-Security-Policy settings. */
export interface CspOptions {
  /** Directives, merged over the API defaults (`default-src 'none'` and friends) unless `useDefaults` is false. @default {} */
  directives?: CspDirectives
  /** Start from the API defaults. Set false to write the whole policy yourself (e.g. from `cspSiteDefaults`). @default true */
  useDefaults?: boolean
  /** Send `Content-Security-Policy-Report-Only` instead, to try a policy without enforcing it. @default false */
  reportOnly?: boolean
  /**
   * Put a fresh nonce (128 random bits, base64) in `nonceDirectives` on every response, and give
   * it to the handler through {@link getCspNonce}, for pages with inline `<script nonce>`. Browsers
   * then ignore `'unsafe-inline'` in those directives, which is the point.
   * @default false
   */
  nonce?: boolean
  /** The directives that get the nonce: any of script-src, script-src-elem, style-src, style-src-elem. @default ['script-src', 'style-src'] */
  nonceDirectives?: readonly string[]
}

/** Strict-Transport-Security settings (RFC 6797). */
export interface HstsOptions {
  /** Seconds browsers remember to use https only. @default 31536000 (one year) */
  maxAge?: number
  /** Apply to every subdomain too. @default true */
  includeSubDomains?: boolean
  /** Ask to be in browsers' preload lists (needs a year and includeSubDomains; hard to undo). @default false */
  preload?: boolean
}

export type ReferrerPolicyValue =
  | 'no-referrer'
  | 'no-referrer-when-downgrade'
  | 'origin'
  | 'origin-when-cross-origin'
  | 'same-origin'
  | 'strict-origin'
  | 'strict-origin-when-cross-origin'
  | 'unsafe-url'

/** Options for {@link securityHeaders}. Every header can be changed, or turned off with `false`. */
export interface SecurityHeadersOptions {
  /** Content-Security-Policy. @default {} (the API defaults) */
  contentSecurityPolicy?: CspOptions | false
  /** Strict-Transport-Security, sent only on responses to https requests (the client identity's scheme). @default {} */
  strictTransportSecurity?: HstsOptions | false
  /** `X-Content-Type-Options: nosniff`. @default true */
  xContentTypeOptions?: boolean
  /** X-Frame-Options, for browsers that predate CSP frame-ancestors. @default 'DENY' */
  xFrameOptions?: 'DENY' | 'SAMEORIGIN' | false
  /** Referrer-Policy; a list gives fallbacks for old browsers, last preferred. @default 'no-referrer' */
  referrerPolicy?: ReferrerPolicyValue | readonly ReferrerPolicyValue[] | false
  /** Cross-Origin-Opener-Policy. @default 'same-origin' */
  crossOriginOpenerPolicy?: 'same-origin' | 'same-origin-allow-popups' | 'noopener-allow-popups' | 'unsafe-none' | false
  /** Cross-Origin-Resource-Policy: who may embed responses with no-cors requests (CORS fetches are unaffected). @default 'same-origin' */
  crossOriginResourcePolicy?: 'same-origin' | 'same-site' | 'cross-origin' | false
  /** Cross-Origin-Embedder-Policy; off by default, as in helmet, since it breaks embedding third-party resources. @default false */
  crossOriginEmbedderPolicy?: 'require-corp' | 'credentialless' | 'unsafe-none' | false
  /** `Origin-Agent-Cluster: ?1`. @default true */
  originAgentCluster?: boolean
  /** X-DNS-Prefetch-Control. @default 'off' */
  xDnsPrefetchControl?: 'off' | 'on' | false
  /** X-Permitted-Cross-Domain-Policies (Adobe clients). @default 'none' */
  xPermittedCrossDomainPolicies?: 'none' | 'master-only' | 'by-content-type' | 'all' | false
  /** `X-XSS-Protection: 0`: turns off the XSS auditor of old browsers, itself a source of leaks. @default true */
  xXssProtection?: boolean
  /**
   * Permissions-Policy: which origins may use each browser feature, e.g.
   * `{ camera: [], geolocation: ['self', 'https://maps.example'] }`. Off by default, as in helmet:
   * which features a site uses is the site's to say.
   * @default false
   */
  permissionsPolicy?: PermissionsPolicy | false
  /**
   * Reporting-Endpoints: endpoint names → URLs (https, or a path on this origin) that browsers
   * post reports to; CSP's `report-to` directive must name one of them.
   * @default false
   */
  reportingEndpoints?: ReportingEndpoints | false
  /** Remove `X-Powered-By` (set by Express, for one). @default true */
  removePoweredBy?: boolean
  /** Replace values the handler set itself. @default false */
  override?: boolean
}

export const securityHeadersDefaults = defineDefaults<SecurityHeadersOptions>({
  contentSecurityPolicy: Object.freeze({}),
  strictTransportSecurity: Object.freeze({}),
  xContentTypeOptions: true,
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  crossOriginOpenerPolicy: 'same-origin',
  crossOriginResourcePolicy: 'same-origin',
  crossOriginEmbedderPolicy: false,
  originAgentCluster: true,
  xDnsPrefetchControl: 'off',
  xPermittedCrossDomainPolicies: 'none',
  xXssProtection: true,
  permissionsPolicy: false,
  reportingEndpoints: false,
  removePoweredBy: true,
  override: false,
})

const REFERRER_POLICIES = [
  'no-referrer',
  'no-referrer-when-downgrade',
  'origin',
  'origin-when-cross-origin',
  'same-origin',
  'strict-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
] as const
const HSTS_DEFAULTS = defineDefaults<HstsOptions>({
  maxAge: 31_536_000,
  includeSubDomains: true,
  preload: false,
})
const CSP_DEFAULTS = defineDefaults<CspOptions>({
  directives: Object.freeze({}),
  useDefaults: true,
  reportOnly: false,
  nonce: false,
  nonceDirectives: Object.freeze(['script-src', 'style-src']),
})

const nonceState = defineState<string>('cspNonce', 'securityHeaders({ contentSecurityPolicy: { nonce: true } })')

/** The CSP nonce of this response, for `<script nonce="…">`. Throws unless securityHeaders() with `nonce: true` is mounted. */
export const getCspNonce = (req: IncomingMessage): string => nonceState.get(req)

/** The CSP nonce of this response, or undefined when no securityHeaders() with `nonce: true` is mounted. */
export const tryGetCspNonce = (req: IncomingMessage): string | undefined => nonceState.tryGet(req)

/**
 * Add helmet's security headers to every response, and drop `X-Powered-By`.
 * Strict-Transport-Security goes only on https responses, judged by the client
 * identity: mount proxyHeaders() outside it behind a TLS-terminating proxy.
 * @example
 * compose(proxyHeaders({ trustedProxies: ['loopback'] }), securityHeaders({ xFrameOptions: 'SAMEORIGIN' }))
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): Middleware {
  const opts = withDefaults('securityHeaders', securityHeadersDefaults, options)
  const headers: Array<[string, string]> = []
  const add = (name: string, value: string | false) => {
    if (value !== false) headers.push([name, value])
  }
  const pick = <C extends string>(option: keyof SecurityHeadersOptions, choices: readonly C[]) =>
    expectOneOf('securityHeaders', option, opts[option], [...choices, false as const])

  const endpoints =
    opts.reportingEndpoints === false
      ? undefined
      : compileReportingEndpoints('reportingEndpoints', opts.reportingEndpoints)
  // The policy split around its nonce, when it has one: the header is `cspParts.join(nonce)`.
  let cspParts: readonly string[] | undefined
  let cspName = ''
  if (opts.contentSecurityPolicy !== false) {
    const csp = nested('contentSecurityPolicy', CSP_DEFAULTS, opts.contentSecurityPolicy)
    const useDefaults = expectBoolean('securityHeaders', 'contentSecurityPolicy.useDefaults', csp.useDefaults)
    const reportOnly = expectBoolean('securityHeaders', 'contentSecurityPolicy.reportOnly', csp.reportOnly)
    const parsed = parseCsp('contentSecurityPolicy', csp.directives, useDefaults)
    checkReportTo(parsed.get('report-to'), endpoints?.names)
    cspName = reportOnly ? 'content-security-policy-report-only' : 'content-security-policy'
    const nonce = expectBoolean('securityHeaders', 'contentSecurityPolicy.nonce', csp.nonce)
    const where = nonceDirectives(csp.nonceDirectives)
    if (!nonce && csp.nonceDirectives !== CSP_DEFAULTS.nonceDirectives) {
      throw new ConfigError(
        'securityHeaders',
        'contentSecurityPolicy.nonceDirectives',
        'set with nonce: true',
        where.join(', '),
        'Without nonce: true no nonce is made; add it, or drop nonceDirectives.',
      )
    }
    if (nonce) cspParts = cspAroundNonce(parsed, where)
    else add(cspName, serialiseCsp(parsed))
  }
  add(
    'x-content-type-options',
    expectBoolean('securityHeaders', 'xContentTypeOptions', opts.xContentTypeOptions) && 'nosniff',
  )
  add('x-frame-options', pick('xFrameOptions', ['DENY', 'SAMEORIGIN'] as const))
  add('referrer-policy', referrerPolicy(opts.referrerPolicy))
  add(
    'cross-origin-opener-policy',
    pick('crossOriginOpenerPolicy', [
      'same-origin',
      'same-origin-allow-popups',
      'noopener-allow-popups',
      'unsafe-none',
    ] as const),
  )
  add(
    'cross-origin-resource-policy',
    pick('crossOriginResourcePolicy', ['same-origin', 'same-site', 'cross-origin'] as const),
  )
  add(
    'cross-origin-embedder-policy',
    pick('crossOriginEmbedderPolicy', ['require-corp', 'credentialless', 'unsafe-none'] as const),
  )
  add('origin-agent-cluster', expectBoolean('securityHeaders', 'originAgentCluster', opts.originAgentCluster) && '?1')
  add('x-dns-prefetch-control', pick('xDnsPrefetchControl', ['off', 'on'] as const))
  add(
    'x-permitted-cross-domain-policies',
    pick('xPermittedCrossDomainPolicies', ['none', 'master-only', 'by-content-type', 'all'] as const),
  )
  add('x-xss-protection', expectBoolean('securityHeaders', 'xXssProtection', opts.xXssProtection) && '0')
  if (opts.permissionsPolicy !== false)
    add('permissions-policy', compilePermissionsPolicy('permissionsPolicy', opts.permissionsPolicy))
  if (endpoints) add('reporting-endpoints', endpoints.value)
  const hsts = opts.strictTransportSecurity === false ? undefined : hstsValue(opts.strictTransportSecurity)
  const removePoweredBy = expectBoolean('securityHeaders', 'removePoweredBy', opts.removePoweredBy)
  const override = expectBoolean('securityHeaders', 'override', opts.override)

  // Validated once here; each response then gets them in one pass over its header map.
  const fixed = new FixedHeaders(headers)
  const hstsHeader = hsts === undefined ? undefined : new FixedHeaders([['strict-transport-security', hsts]])

  /** Response-start listener; context: whether the client used https. */
  function applySecurityHeaders(res: ServerResponse, https: boolean): void {
    addFixedHeaders(res, fixed, override)
    // RFC 6797 §7.2: an HSTS header received over plain http must be ignored, and a
    // proxy-terminated https request only looks like http to us: hence the identity.
    if (https) addFixedHeaders(res, hstsHeader!, override)
    // Asked first: removeHeader lower-cases and checks its argument even when there is nothing to remove.
    if (removePoweredBy && readHeader(res, 'x-powered-by') !== undefined) res.removeHeader('x-powered-by')
  }

  /** Response-start listener of a policy with a nonce; context: this response's nonce. */
  function applyCspWithNonce(res: ServerResponse, nonce: string): void {
    if (override || readHeader(res, cspName) === undefined) res.setHeader(cspName, cspParts!.join(nonce))
  }
  const nextNonce = cspParts ? nonceGenerator() : undefined

  return defineMiddleware(
    {
      name: 'securityHeaders',
      detail: `${headers.length + (hsts ? 1 : 0) + (cspParts ? 1 : 0)} headers${cspParts ? ', CSP nonce' : ''}${override ? ', override' : ''}`,
      security: true,
    },
    (next) =>
      function securityHeadersHandler(req, res) {
        onResponseStart(res, applySecurityHeaders, hsts !== undefined && clientIdentity(req).scheme === 'https')
        if (nextNonce) {
          // Made on the request path, so the handler can read it before it writes anything.
          const nonce = nextNonce()
          nonceState.set(req, nonce)
          onResponseStart(res, applyCspWithNonce, nonce)
        }
        return next(req, res)
      },
  )
}

const nested = <T extends object, D extends DefaultsOf<T>>(path: string, defaults: D, value: T) =>
  withNestedDefaults('securityHeaders', path, defaults, value, 'an object of settings or false')

function hstsValue(value: HstsOptions): string {
  const hsts = nested('strictTransportSecurity', HSTS_DEFAULTS, value)
  const maxAge = expectInteger(
    'securityHeaders',
    'strictTransportSecurity.maxAge',
    hsts.maxAge,
    0,
    2 ** 31 - 1,
    'maxAge is in seconds: 31536000 is one year.',
  )
  const includeSubDomains = expectBoolean(
    'securityHeaders',
    'strictTransportSecurity.includeSubDomains',
    hsts.includeSubDomains,
  )
  const preload = expectBoolean('securityHeaders', 'strictTransportSecurity.preload', hsts.preload)
  // hstspreload.org refuses sites without a year's max-age and includeSubDomains.
  if (preload && (maxAge < 31_536_000 || !includeSubDomains)) {
    throw new ConfigError(
      'securityHeaders',
      'strictTransportSecurity.preload',
      'used with maxAge ≥ 31536000 and includeSubDomains',
      preload,
      'Preload lists require both; set them, or drop preload.',
    )
  }
  return `max-age=${maxAge}${includeSubDomains ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`
}

function referrerPolicy(value: unknown): string | false {
  if (value === false) return false
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0)
    throw new ConfigError(
      'securityHeaders',
      'referrerPolicy',
      'a referrer policy, a non-empty list of them, or false',
      value,
    )
  for (const item of list) expectOneOf('securityHeaders', 'referrerPolicy', item, REFERRER_POLICIES)
  const twice = list.find((item, i) => list.indexOf(item) !== i)
  if (twice !== undefined) {
    // As helmet: a repeated token is a mistake (the list is fallbacks, last preferred), and
    // sending it would hide which one was meant.
    throw new ConfigError(
      'securityHeaders',
      'referrerPolicy',
      'a list of different policies',
      list.join(', '),
      `"${twice}" is listed twice; keep the one in the place you want (the last known to a browser wins).`,
    )
  }
  return list.join(', ')
}

function nonceDirectives(value: unknown): readonly string[] {
  const option = 'contentSecurityPolicy.nonceDirectives'
  const fix = `Nonces apply to ${NONCE_DIRECTIVES.join(', ')}.`
  if (!Array.isArray(value) || value.length === 0)
    throw new ConfigError('securityHeaders', option, 'a non-empty list of directives', value, fix)
  const names = value.map((item: unknown) => {
    const name = typeof item === 'string' ? item.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) : item
    return expectOneOf('securityHeaders', option, name, NONCE_DIRECTIVES, fix)
  })
  if (new Set(names).size !== names.length)
    throw new ConfigError('securityHeaders', option, 'a list without repeats', value.join(', '), 'Name each once.')
  return names
}

/** CSP's `report-to` names a Reporting-Endpoints entry; a name the header lacks is never reported to. */
function checkReportTo(reportTo: readonly string[] | true | undefined, endpoints: readonly string[] | undefined): void {
  if (reportTo === undefined || reportTo === true) return
  const name = reportTo[0]!
  if (endpoints?.includes(name)) return
  throw new ConfigError(
    'securityHeaders',
    'contentSecurityPolicy.directives.report-to',
    endpoints ? `one of the reportingEndpoints (${endpoints.join(', ')})` : 'an endpoint of reportingEndpoints',
    name,
    `Declare it: reportingEndpoints: { '${name}': 'https://…' }; browsers look report-to names up in Reporting-Endpoints.`,
  )
}
