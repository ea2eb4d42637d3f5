/**
 * The edge layers' cost: each of proxyHeaders, trustedHost, httpsRedirect, cors and
 * securityHeaders alone against bare node:http on the 1 KB JSON route, all five together,
 * a CORS preflight, securityHeaders with a CSP nonce per response, and csrf on a same-origin
 * form post (against Hono's csrf). Requests look like a browser's behind a proxy on loopback
 * (an allowed Origin, X-Forwarded-For/-Proto https), so every layer does its full work and
 * passes the request on.
 */
import type { RequestListener } from 'node:http'
import {
  compose,
  cors,
  csrf,
  httpsRedirect,
  ipFilter,
  proxyHeaders,
  securityHeaders,
  trustedHost,
  type Middleware,
} from '../../lib/index.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'

const ORIGIN = 'https://app.example.com'
const proxy = () => proxyHeaders({ trustedProxies: ['loopback'], fields: ['proto', 'host'] })
const hosts = () => trustedHost({ allowedHosts: ['api.example.com', '*.example.com'] })
const corsLayer = () =>
  cors({
    origins: [ORIGIN, 'https://*.preview.example.com'],
    credentials: true,
    allowedHeaders: ['content-type', 'authorization'],
    maxAge: 600,
  })

const scenario = (description: string, ...layers: Middleware[]): Scenario => ({
  description,
  start: () => listen(compose(...layers)(routes) as RequestListener),
})

export const scenarios: Record<string, Scenario> = {
  'edge-proxyHeaders': scenario(
    'proxyHeaders alone: trusted loopback peer, one forwarded hop, proto and host',
    proxy(),
  ),
  'edge-trustedHost': scenario('trustedHost alone: an exact host and a wildcard', hosts()),
  // Alone, httpsRedirect would answer every plain-http request with a 308; behind
  // proxyHeaders the request is https and passes, which is the production path.
  'edge-httpsRedirect': scenario(
    'proxyHeaders + httpsRedirect: forwarded https request passes',
    proxy(),
    httpsRedirect(),
  ),
  'edge-cors': scenario('cors alone: listed origins with a wildcard, credentials', corsLayer()),
  'edge-securityHeaders': scenario(
    'securityHeaders alone: defaults (11 headers; HSTS needs https, not seen without proxyHeaders)',
    securityHeaders(),
  ),
  // A realistic allow list (offices, VPN pools, a partner's IPv6 block) with one carve-out; the
  // client (203.0.113.7) is in the last allowed range, so every range is tried.
  'edge-ipFilter': scenario(
    'proxyHeaders + ipFilter: 8 allowed ranges (IPv4 and IPv6) and a denied one; the client passes',
    proxy(),
    ipFilter({
      allow: [
        '10.8.0.0/16',
        '192.168.0.0/16',
        '2001:db8:ab::/48',
        'fd00::/8',
        '198.51.100.0/24',
        '172.16.0.0/12',
        '100.64.0.0/10',
        '203.0.113.0/24',
      ],
      deny: ['10.8.99.0/24'],
    }),
  ),
  'edge-securityHeaders-nonce': scenario(
    'securityHeaders alone, CSP with a fresh nonce per response in script-src and style-src',
    securityHeaders({ contentSecurityPolicy: { nonce: true } }),
  ),
  'edge-all': scenario(
    'all five in order: proxyHeaders, securityHeaders, trustedHost, httpsRedirect, cors',
    proxy(),
    securityHeaders(),
    hosts(),
    httpsRedirect(),
    corsLayer(),
  ),
  'edge-csrf': scenario(
    'csrf alone: a trusted origin and a bypass path configured, decided by the headers',
    csrf({ trustedOrigins: ['https://admin.example.com'], bypassPaths: ['/webhooks/*'] }),
  ),
}

const browserBehindProxy = {
  host: 'api.example.com',
  origin: ORIGIN,
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
}

export const comparisons: Comparison[] = [
  {
    name: 'edge: each layer alone on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: [
      'bare',
      'edge-proxyHeaders',
      'edge-trustedHost',
      'edge-httpsRedirect',
      'edge-cors',
      'edge-securityHeaders',
      'edge-all',
    ],
    headers: browserBehindProxy,
    expect: { status: 200 },
  },
  {
    name: 'edge: ipFilter allow and deny lists behind proxyHeaders',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'edge-proxyHeaders', 'edge-ipFilter'],
    headers: browserBehindProxy,
    expect: { status: 200 },
  },
  {
    // The cost of nonces: the same defaults, with and without a per-response nonce.
    name: 'edge: securityHeaders with and without CSP nonces',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'edge-securityHeaders', 'edge-securityHeaders-nonce'],
    headers: browserBehindProxy,
    expect: { status: 200, headers: ['content-security-policy'] },
    unchecked: ['bare'],
  },
  {
    name: 'edge: cors preflight',
    route: '/json',
    method: 'OPTIONS',
    baseline: 'bare',
    scenarios: ['bare', 'edge-cors'],
    headers: {
      host: 'api.example.com',
      origin: ORIGIN,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'content-type, authorization',
    },
  },
  // A form post from the page's own origin: csrf() decides on Sec-Fetch-Site, or, from a
  // browser that does not send it, compares Origin with the host. Hono's csrf checks form
  // content types only, so the body is declared a form for it to do its work.
  {
    name: 'edge: csrf, a same-origin form post (Sec-Fetch-Site)',
    route: '/json',
    method: 'POST',
    baseline: 'bare',
    scenarios: ['bare', 'edge-csrf', 'hono-post', 'hono-csrf'],
    headers: {
      host: 'api.example.com',
      origin: 'http://api.example.com',
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/x-www-form-urlencoded',
    },
    expect: { status: 200 },
  },
  {
    name: 'edge: csrf, a same-origin form post (Origin only)',
    route: '/json',
    method: 'POST',
    baseline: 'bare',
    scenarios: ['bare', 'edge-csrf', 'hono-post', 'hono-csrf'],
    headers: {
      host: 'api.example.com',
      origin: 'http://api.example.com',
      'content-type': 'application/x-www-form-urlencoded',
    },
    expect: { status: 200 },
  },
]
